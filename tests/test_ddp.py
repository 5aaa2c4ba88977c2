"""DistributedDataParallel on CPU (gloo): 2 processes launched with torch.distributed.run."""

import json
import os
import socket
import subprocess
import sys

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        "-m",
        "edmips",
        "search",
        "--model",
        "digits_mlp",
        "--target",
        "bitops=0.3x",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--no-progress",
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["achieved"] <= summary["target_value"]
    log = [json.loads(x) for x in (out / "search_log.jsonl").read_text().splitlines()]
    assert len(log) == 1
    # each rank saw half of the training set: 1438 / 2 / 64 -> 12 steps
    assert log[0]["steps"] == 12
    alloc = yaml.safe_load((out / "allocation.yaml").read_text())
    assert alloc["meta"]["metric"] == "bitops"
