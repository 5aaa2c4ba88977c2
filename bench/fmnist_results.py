"""Fashion-MNIST results bench: hardware-aware search vs uniform and BitOps-searched allocations.

Runs ``edmips pareto`` with model ``fmnist_cnn`` on ``fmnist`` for two accelerators with different
bit sensitivities -- ``accel_configs/stripes.yaml`` (activation bit-serial: latency ~ activation
bits) and ``accel_configs/bitfusion_eyeriss.yaml`` (bit-flexible, 2/4/8 bits only) -- with latency
targets, BitOps searches (each given the BitOps of the hardware-aware allocation it is compared
to) and uniform baselines; then prints the README's results table: per accelerator, top-1 and
simulated latency/energy of the searched allocation, of the uniform allocations, of the BitOps-
searched allocation and of the allocation searched for the other accelerator.

Sized for about 25-35 minutes on a shared 2-core CPU (a training subset and a few epochs: the
settings are printed and written beside the results). Outputs: ``bench/results/fmnist/`` (tables
.md/.csv/.json and PNG plots; the sub-runs' checkpoints stay in ``runs/`` of that folder and are
not committed). Re-running resumes: finished sub-runs are skipped.

    python3 bench/fmnist_results.py            # full run (~25 min)
    python3 bench/fmnist_results.py --dry-run  # scaled down (~3 min), to /tmp/fmnist_results_dry
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCELS = ["accel_configs/stripes.yaml", "accel_configs/bitfusion_eyeriss.yaml"]
# Stripes' searchable range (w 1-4, a 2-4) is 0.25x-0.5x of the searched layers at 8/8 and Bit
# Fusion's (2/4 bits) 0.65x-0.9x: 0.35x binds on Stripes only (infeasible on Bit Fusion, skipped)
# and 0.75x binds on Bit Fusion.
FULL = {
    "targets": "0.35x,0.75x",
    "uniform": "2/2,4/4,8/8",
    "search_epochs": 5,
    "train_epochs": 7,
    "train_subset": 30000,
}
# --bits248: candidates {2,4,8} for weights and activations, where BitOps and the hardware disagree
# most (Stripes' latency follows activation bits only; BitOps counts w x a). Stripes spans
# 0.25x-1x, Bit Fusion ~0.6x-1x: 0.3x binds on Stripes only, 0.7x on both.
W248 = {
    "targets": "0.3x,0.7x",
    "uniform": "2/2,4/4,8/8",
    "search_epochs": 5,
    "train_epochs": 7,
    "train_subset": 30000,
    "w_bits": "2,4,8",
    "a_bits": "2,4,8",
}
DRY = {
    "targets": "0.75x",
    "uniform": "4/4",
    "search_epochs": 1,
    "train_epochs": 1,
    "train_subset": 1000,
}


def command(settings: dict, out: Path) -> list[str]:
    """The ``edmips pareto`` command line of the bench."""
    cmd = [sys.executable, "-m", "edmips", "pareto", "--model", "fmnist_cnn", "--data", "fmnist"]
    for a in ACCELS:
        cmd += ["--accel", a]
    cmd += [
        "--metric",
        "latency",
        "--targets",
        settings["targets"],
        "--uniform",
        settings["uniform"],
        "--bitops",
        "--search-epochs",
        str(settings["search_epochs"]),
        "--train-epochs",
        str(settings["train_epochs"]),
        "--train-subset",
        str(settings["train_subset"]),
        "--out",
        str(out),
    ]
    for key in ("w_bits", "a_bits"):
        if key in settings:
            cmd += [f"--{key.replace('_', '-')}", settings[key]]
    return cmd


def results_table(result: dict) -> str:
    """Markdown: per accelerator and target, the searched allocation next to the uniform ones,
    the BitOps-searched one and the one searched for the other accelerator, all simulated there."""
    rows = result["rows"]
    accels = [Path(a).stem for a in result["config"]["accels"]]
    lines = [
        "| accelerator | allocation | kind | top-1 (%) | latency (us) | energy (nJ)"
        " | latency vs searched | allocation (w/a per layer, f = float) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in accels:
        own = [r for r in rows if r["kind"] == f"searched-for-{k}"]
        for o in own:
            t = o["target"]
            group = [o]
            group += [
                r
                for r in rows
                if r["kind"].startswith("searched-for-") and r is not o and r["target"] == t
            ]
            group += [r for r in rows if r["name"] == f"bitops-for-{k}{t}"]
            group += [r for r in rows if r["kind"] == "uniform"]
            for r in group:
                lines.append(
                    f"| {k} | {r['name']} | {r['kind']} | {r['top1'] * 100:.2f} |"
                    f" {r[f'{k}_latency_s'] * 1e6:.4g} | {r[f'{k}_energy_pj'] * 1e-3:.4g} |"
                    f" {r[f'{k}_latency_s'] / o[f'{k}_latency_s']:.3f} | {r['allocation_text']} |"
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="scaled-down settings, to /tmp")
    ap.add_argument(
        "--bits248",
        action="store_true",
        help="candidate bits {2,4,8} for weights and activations (output bench/results/fmnist_w248)",
    )
    ap.add_argument("--out", default=None, help="output folder (default bench/results/fmnist)")
    args = ap.parse_args()
    settings = DRY if args.dry_run else W248 if args.bits248 else FULL
    default = (
        "/tmp/fmnist_results_dry"
        if args.dry_run
        else str(ROOT / ("bench/results/fmnist_w248" if args.bits248 else "bench/results/fmnist"))
    )
    out = Path(args.out or default)
    cmd = command(settings, out)
    print("settings:", json.dumps(settings))
    print("running:", " ".join(cmd[1:]))
    t0 = time.time()
    # one intra-op thread: on a shared 2-core machine torch's default (one per core) oversubscribes
    # the CPU and a search step ran ~9x slower than with one thread
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    print("OMP_NUM_THREADS:", env["OMP_NUM_THREADS"])
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    if rc != 0:
        return rc
    minutes = (time.time() - t0) / 60
    result = json.loads((out / "pareto.json").read_text())
    table = results_table(result)
    head = (
        f"fmnist_cnn on Fashion-MNIST: {settings['train_subset']} training images, search"
        f" {settings['search_epochs']} epochs, final training {settings['train_epochs']} epochs"
        f" (from scratch), candidate bits w {settings.get('w_bits', '1,2,3,4')}"
        f" a {settings.get('a_bits', '2,3,4')}, test on all 10000 test images; latency of one"
        " batch-1 inference,"
        f" energy per inference; 'latency vs searched' divides by the allocation searched for that"
        f" accelerator at that target. Wall time of this run: {minutes:.1f} min (resumed sub-runs"
        " count zero).\n\n"
    )
    from hwsim.fileio import atomic_write_text

    atomic_write_text(out / "results.md", "# Fashion-MNIST results\n\n" + head + table)
    print(head + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
