"""``edmips emit``: from an ``edmips train`` model file to a verified project; refusals are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edmips.cli import main

ROOT = Path(__file__).resolve().parents[1]
FPGA = str(ROOT / "accel_configs" / "fpga_xc7z020.yaml")
SYSTOLIC = str(ROOT / "accel_configs" / "systolic_int8_32x32_ws.yaml")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    from search.api import TrainConfig, train

    out = tmp_path_factory.mktemp("train")
    cfg = TrainConfig(
        model="digits_mlp",
        data="digits",
        bits="4/4",
        family="fixed",
        epochs=1,
        out=str(out),
        force=True,
        progress=False,
    )
    train(cfg)
    return out / "model.pt"


def test_emit_from_trained_model_file(model_file, tmp_path, capsys):
    out = tmp_path / "prj"
    rc = main(
        [
            "emit",
            "--model-file",
            str(model_file),
            "--accel",
            FPGA,
            "--out",
            str(out),
            "--verify",
            "50",
            "--no-progress",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "verify: 50/50 samples bit-exact (max |diff| = 0)" in text
    assert "io_stream" in text  # the budgeted design's io type (the config's)
    assert "The firmware is the budgeted design" in text
    assert "| net_4 | 4 | linear | weight ap_fixed<4," in text
    assert (out / "firmware" / "myproject.cpp").is_file()
    assert (out / "emit_report.md").read_text().count("verify: 50/50") == 1


def test_emit_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "prj"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["emit", "--zoo", "digits_mlp", "--bits", "4/4", "--out", str(out), "--verify", "0"]
    assert main(args + ["--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists (use --force to overwrite)" in err
    assert (out / "keep.txt").read_text() == "mine"
    assert main(args + ["--force", "--no-progress", "--accel", FPGA]) == 0
    assert not (out / "keep.txt").exists() and (out / "build_prj.tcl").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_emit_rejects_non_fpga_accelerator(tmp_path, capsys):
    args = ["emit", "--zoo", "digits_mlp", "--bits", "4/4", "--out", str(tmp_path / "p")]
    assert main(args + ["--accel", SYSTOLIC, "--verify", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "needs an fpga_dataflow accelerator config" in err
    assert not (tmp_path / "p").exists()
    assert not list(tmp_path.iterdir())


def test_emit_help_documents_every_option_with_its_default():
    import argparse

    from edmips.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    emit = sub.choices["emit"]
    opts = [a for a in emit._actions if a.option_strings and a.dest != "help"]
    assert {"--io-type", "--backend", "--target-ii", "--no-progress"} <= {
        o for a in opts for o in a.option_strings
    }
    for a in opts:
        assert a.help and ("default" in a.help or a.required), a.option_strings
        if a.default not in (None, False) and not isinstance(a.default, bool):
            assert str(a.default) in a.help, a.option_strings


def test_override_says_the_firmware_differs_and_by_how_much(tmp_path, capsys):
    out = tmp_path / "prj"
    args = ["emit", "--zoo", "digits_cnn", "--bits", "4/4", "--accel", FPGA, "--out", str(out)]
    assert main(args + ["--io-type", "parallel", "--verify", "0", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "The firmware differs from the budgeted design" in text
    assert "io type io_stream -> io_parallel" in text
    assert "| **total** | budgeted |" in text and "| **total** | emitted |" in text
    import json

    e = json.loads((out / "emit.json").read_text())
    assert e["io_type"] == "io_parallel" and e["budgeted"]["io_type"] == "io_stream"
    assert any(d.startswith("LUT ") for d in e["differs"])
    assert e["emitted_totals"]["lut"] != e["budgeted_totals"]["lut"]


def test_stale_temp_folders_of_killed_emits_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "prj"
    stale = tmp_path / f".prj.tmp-{dead.pid}"
    (stale / "firmware").mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = tmp_path / f".prj.tmp-{live.pid}"
        busy.mkdir()
        args = ["emit", "--zoo", "digits_mlp", "--bits", "4/4", "--out", str(out)]
        assert main(args + ["--verify", "0", "--no-progress"]) == 0
        assert not stale.exists(), "a dead emit's temporary folder was left behind"
        assert busy.exists(), "a running emit's temporary folder was removed"
    finally:
        live.kill()
        live.wait()
