import json
import subprocess
import sys
from pathlib import Path

import pytest

from edmips.cli import main

CFG = str(Path(__file__).resolve().parents[1] / "accel_configs" / "systolic_int8_32x32_ws.yaml")
FAST = ["--epochs", "1", "--batch-size", "128", "--no-progress"]


def test_search_train_evaluate_smoke(tmp_path, capsys):
    s, t = tmp_path / "s", tmp_path / "t"
    rc = main(
        [
            "search",
            "--model",
            "digits_cnn",
            "--accel",
            CFG,
            "--target",
            "energy=0.8x",
            "--out",
            str(s),
            *FAST,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((s / "summary.json").read_text())
    assert summary["metric"] == "energy" and summary["achieved"] <= summary["target_value"]
    rc = main(
        [
            "train",
            "--model",
            "digits_cnn",
            "--allocation",
            str(s / "allocation.yaml"),
            "--out",
            str(t),
            *FAST,
        ]
    )
    assert rc == 0
    rc = main(
        [
            "evaluate",
            "--model-file",
            str(t / "model.pt"),
            "--accel",
            CFG,
            "--json",
            str(tmp_path / "e.json"),
        ]
    )
    assert rc == 0
    res = json.loads((tmp_path / "e.json").read_text())
    assert 0 <= res["top1"] <= 1 and res["hardware"]["latency_s"] > 0
    assert "top-1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["search", "--model", "nonet", "--target", "bitops=0.5x"], "unknown model 'nonet'"),
        (["search", "--model", "digits_mlp", "--target", "bitops=0.001x"], "infeasible"),
        (
            [
                "search",
                "--model",
                "digits_mlp",
                "--accel",
                CFG,
                "--target",
                "latency=0.5x",
                "--w-bits",
                "16,32",
            ],
            "supports none",
        ),
        (
            [
                "search",
                "--model",
                "digits_mlp",
                "--data",
                "fmnist",
                "--data-dir",
                "/nonexistent/fm",
                "--target",
                "bitops=0.5x",
            ],
            "apt-get install dataset-fashion-mnist",
        ),
        (
            ["search", "--model", "digits_mlp", "--target", "latency=2parsecs", "--accel", CFG],
            "unit 'parsecs'",
        ),
        (
            ["train", "--model", "digits_mlp", "--allocation", "/nonexistent/a.yaml"],
            "file not found",
        ),
        (["evaluate", "--model-file", "/nonexistent/m.pt"], "checkpoint not found"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, capsys, args, needle):
    rc = main([*args, "--out", str(tmp_path / "o"), *FAST] if args[0] != "evaluate" else args)
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_help_explains_knobs():
    out = subprocess.run(
        [sys.executable, "-m", "edmips", "search", "--help"], capture_output=True, text=True
    ).stdout
    for knob in (
        "--target",
        "--lambda",
        "--w-bits",
        "--family",
        "--resume",
        "--step-epoch",
        "--lra",
        "--workers",
    ):
        assert knob in out
