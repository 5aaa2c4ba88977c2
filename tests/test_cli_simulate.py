"""`hwsim` / `edmips simulate` command lines: outputs, comparison, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.cli import main as hwsim_main

ROOT = Path(__file__).resolve().parents[1]
SYSTOLIC = str(ROOT / "accel_configs" / "systolic_int8_32x32_ws.yaml")

WORKLOAD = """\
name: tiny
layers:
  - {name: c1, kind: conv, in_channels: 3, out_channels: 16, kernel: 3, padding: 1, in_hw: 32}
  - {name: c2, kind: conv, in_channels: 16, out_channels: 32, kernel: 3, stride: 2, padding: 1, in_hw: 32}
  - {name: fc, kind: linear, in_channels: 8192, out_channels: 10}
"""


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    p = tmp_path / "wl.yaml"
    p.write_text(WORKLOAD)
    return p


def test_json_report_has_per_layer_cycles_and_totals(
    workload: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "r.json"
    png = tmp_path / "r.png"
    rc = hwsim_main(
        [
            "--workload",
            str(workload),
            "--accel",
            SYSTOLIC,
            "--bits",
            "4/4",
            "--json",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert rc == 0
    rep = json.loads(out.read_text())
    assert [r["name"] for r in rep["layers"]] == ["c1", "c2", "fc"]
    for r in rep["layers"]:
        assert r["cycles"] == r["compute_cycles"] + r["stall_cycles"]
        assert r["energy_pj"] > 0
    assert rep["totals"]["cycles"] == sum(r["cycles"] for r in rep["layers"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "c2" in capsys.readouterr().out


def test_refuses_to_overwrite_without_force(workload: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.json"
    out.write_text("keep me")
    rc = hwsim_main(
        ["--workload", str(workload), "--accel", SYSTOLIC, "--bits", "4/4", "--json", str(out)]
    )
    assert rc == 2
    assert out.read_text() == "keep me"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0]
    assert (
        hwsim_main(
            [
                "--workload",
                str(workload),
                "--accel",
                SYSTOLIC,
                "--bits",
                "4/4",
                "--json",
                str(out),
                "--force",
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["type"] == "systolic"


def test_side_by_side_comparison(workload: Path, capsys) -> None:
    rc = hwsim_main(
        [
            "--workload",
            str(workload),
            "--accel",
            SYSTOLIC,
            "--accel",
            SYSTOLIC,
            "--bits",
            "8/8",
            "--quiet",
        ]
    )
    assert rc == 0
    assert "side-by-side" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--bits", "4x4"], "bits '4x4'"),
        (["--bits", "0/4"], "bits '0/4'"),
        (["--bits", "4/4", "--accel", "/nonexistent.yaml"], "/nonexistent.yaml: file not found"),
    ],
)
def test_bad_input_is_one_line(workload: Path, args, needle, capsys) -> None:
    base = ["--workload", str(workload)]
    if "--accel" not in args:
        base += ["--accel", SYSTOLIC]
    assert hwsim_main(base + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_alloc_with_unknown_layer_names_it(workload: Path, tmp_path: Path, capsys) -> None:
    alloc = tmp_path / "a.yaml"
    alloc.write_text(
        "version: 1\nlayers:\n  c1: {w: 4, a: 4}\n  c2: {w: 4, a: 4}\n  fc: {w: 8, a: 8}\n  c9: {w: 2, a: 2}\n"
    )
    assert (
        hwsim_main(["--workload", str(workload), "--accel", SYSTOLIC, "--alloc", str(alloc)]) == 2
    )
    assert "'c9'" in capsys.readouterr().err


def test_edmips_simulate_subprocess_exit_code(workload: Path) -> None:
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "edmips",
            "simulate",
            "--workload",
            str(workload),
            "--accel",
            SYSTOLIC,
            "--bits",
            "9",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_input_shape_is_honoured_for_small_zoo_models(tmp_path: Path, capsys) -> None:
    """digits_cnn is built for the shape asked for (the zoo says it also takes 1x28x28)."""
    from edmips.cli import main as edmips_main

    stripes = str(Path(__file__).resolve().parents[1] / "accel_configs" / "stripes.yaml")
    macs = {}
    for shape in ("1x8x8", "1x28x28"):
        out = tmp_path / f"{shape}.json"
        argv = ["simulate", "--model", "digits_cnn", "--input-shape", shape, "--bits", "4/4"]
        assert edmips_main([*argv, "--accel", stripes, "--json", str(out), "--quiet"]) == 0
        rep = json.loads(out.read_text())
        macs[shape] = rep["layers"][0]["macs"]
    capsys.readouterr()
    # the first conv (same padding) does work in proportion to the input's pixels
    assert macs["1x28x28"] * 64 == macs["1x8x8"] * 28 * 28
    assert edmips_main(["simulate", "--model", "digits_cnn", "--input-shape", "1x30x30",
                        "--bits", "4/4", "--accel", stripes]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[1, 30, 30]" in err
