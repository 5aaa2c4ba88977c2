"""Interrupting a stage (SIGINT, SIGKILL) leaves nothing that a re-run of the same command trips
over: training writes its model only when finished, and ``edmips run`` resumes a killed search
from its last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from edmips.cli import main


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "edmips", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(cond, proc: subprocess.Popen[str], what: str, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"finished before {what}: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"no {what} after {timeout} s")
        time.sleep(0.02)


def test_sigint_during_training_leaves_nothing_behind(tmp_path: Path, capsys) -> None:
    out = tmp_path / "t"
    args = ["train", "--model", "digits_mlp", "--bits", "4/4", "--out", str(out)]
    proc = _start([*args, "--epochs", "500", "--step-epoch", "500"], tmp_path)
    assert proc.stdout is not None
    for line in proc.stdout:  # per-epoch lines: training has started
        if line.startswith("epoch 1:"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "edmips train: interrupted"
    assert not out.exists() or not any(out.rglob("*")), list(out.rglob("*"))
    # the same command again (shorter) runs to the end, without --force
    assert main([*args, "--epochs", "1", "--no-progress"]) == 0
    assert (out / "model.pt").is_file()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    "sig",
    [signal.SIGKILL, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
    ids=["SIGKILL", "SIGINT"],
)
def test_interrupted_search_stage_resumes(tmp_path: Path, capsys, sig: signal.Signals) -> None:
    exp = {
        "version": 1,
        "name": "tiny",
        "model": "digits_mlp",
        "data": "digits",
        "family": "fixed",
        "search": {
            "accel": "accel_configs/stripes.yaml",  # found in the shipped accel_configs/
            "metric": "bitops",
            "target": "bitops=0.5x",
            "epochs": 8,
            "train_subset": 128,
            "batch_size": 64,
        },
        "train": {"epochs": 1},
        "simulate": {"accels": ["accel_configs/stripes.yaml"]},
        "emit": None,
    }
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(exp))
    run = tmp_path / "run"
    args = ["run", str(cfg), "--out", str(run), "--stages", "search", "--no-progress"]
    # from a folder outside the checkout: paths resolve against exp.yaml's. Not the checkout's
    # parent, whose entry named like the package (a clone into ./edmips) would shadow it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _start(args, elsewhere)
    ckpt = run / "search" / "checkpoint.pt"
    _wait_for(ckpt.exists, proc, "search checkpoint")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and err.strip().splitlines()[-1] == "edmips run: interrupted"
    assert not (run / "search" / "summary.json").exists()  # it was cut short
    # the same command again resumes the search and finishes it
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "resuming" in printed
    log = [
        yaml.safe_load(x) for x in (run / "search" / "search_log.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in log] == list(range(1, 9))
    assert (run / "search" / "allocation.yaml").is_file()
    assert not list(run.rglob(".*.tmp")), "temporary files left behind"
    if sig != signal.SIGKILL:
        return
    # a kill between a training's model.pt and its done-marker: the re-run redoes the stage
    # instead of refusing the model.pt it finds
    train = [*args[:-2], "search", "train", "--no-progress"]
    assert main(train) == 0
    (run / ".stages" / "train.json").unlink()
    assert main(train) == 0
    assert "== train" in capsys.readouterr().out
