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
    assert "io_parallel" in text  # an MLP: io_parallel by default
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
