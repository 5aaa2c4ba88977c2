"""Follow-up to ``bench/hw_study.py``: does a longer search close the gap to uniform 4/4?

In the study, the MobileNet searched for the FPGA's LUT count at 0.6x of 8/8 is the one
hardware-aware allocation behind a uniform one by more than the seed spread: 4/4 is cheaper and
more accurate on every seed. This script reruns that arm with twice the search epochs (8 instead
of 4; the shared warm start, whose length follows the search's warm-up, is then 2 epochs instead of
1), everything else as in the study, with uniform 4/4 retrained from the same warm start, and sets
it beside the study's 4-epoch arm and 4/4 per seed and as mean ± std over the three seeds.

    python3 bench/hw_study_search8.py            # run (or resume) the three seeds, then the table
    python3 bench/hw_study_search8.py --report   # only the table of the finished seeds

Outputs in ``bench/results/hw_study_search8/``: ``raw/seed<N>.json`` (each run's pareto.json),
``compare.md`` and ``compare.json``; sub-runs (checkpoints) under ``runs/`` (git-ignored). About 20
minutes per seed on 2 CPU cores with one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwsim.fileio import atomic_write_text  # noqa: E402

NETWORK = "mobilenetv2_fm"
SEEDS = [0, 1, 2]
SEARCH_EPOCHS = 8
ARM = "fpga_xc7z020_lut0.6x"
UNIFORM = "uniform4-4"
COST = "fpga_xc7z020_lut"
STUDY_RAW = ROOT / "bench/results/hw_study/raw"


def command(seed: int, out: Path) -> list[str]:
    """The study's MobileNet ``fpga`` part for one seed, at 0.6x only, with 8 search epochs."""
    return [
        *[sys.executable, "-m", "edmips", "pareto", "--model", NETWORK, "--data", "fmnist"],
        *["--metric", "lut", "--family", "fixed", "--accel", "accel_configs/fpga_xc7z020.yaml"],
        *["--targets", "0.6x", "--uniform", "4/4", "--w-bits", "2,4,8", "--a-bits", "2,4,8"],
        *["--search-epochs", str(SEARCH_EPOCHS), "--train-epochs", "4"],
        *["--train-subset", "8000", "--batch-size", "128", "--seed", str(seed)],
        *["--out", str(out), "--no-progress"],
    ]


def _row(pareto: dict[str, Any], name: str) -> dict[str, Any]:
    for r in pareto["rows"]:
        if r["name"] == name:
            return r
    raise KeyError(name)


def compare(study: dict[int, dict[str, Any]], longer: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per seed found in both: top-1 (%) and LUTs of the study's 4-epoch search, of the 8-epoch
    search and of uniform 4/4 (the study's and the one trained beside the 8-epoch search); then
    mean and std over those seeds."""
    seeds = sorted(set(study) & set(longer))
    cols = {
        "search4": lambda s: _row(study[s], ARM),
        "search8": lambda s: _row(longer[s], ARM),
        "uniform4-4 (study)": lambda s: _row(study[s], UNIFORM),
        "uniform4-4 (beside search8)": lambda s: _row(longer[s], UNIFORM),
    }
    out: dict[str, Any] = {"seeds": seeds, "arms": {}}
    for name, get in cols.items():
        top1 = np.array([get(s)["top1"] * 100 for s in seeds])
        lut = np.array([get(s)[COST] for s in seeds])
        out["arms"][name] = {
            "top1": top1.tolist(),
            "lut": lut.tolist(),
            "allocation": [get(s)["allocation_text"] for s in seeds],
            "top1_mean": float(top1.mean()) if seeds else float("nan"),
            "top1_std": float(top1.std()) if seeds else float("nan"),
            "lut_mean": float(lut.mean()) if seeds else float("nan"),
        }
    return out


def compare_md(c: dict[str, Any]) -> str:
    seeds = c["seeds"]
    lines = [
        "# MobileNet on the FPGA at 0.6x: 4 vs 8 search epochs, against uniform 4/4",
        "",
        "Regenerate: `python3 bench/hw_study_search8.py`. Top-1 (%) on the Fashion-MNIST test split,"
        " LUTs from hwsim's FPGA model (xc7z020); mean ± std over the seeds.",
        "",
        "| arm | "
        + " | ".join(f"seed {s}: top-1, LUT" for s in seeds)
        + " | mean top-1 | mean LUT |",
        "|---|" + "---|" * len(seeds) + "---|---|",
    ]
    for name, a in c["arms"].items():
        cells = [f"{t:.2f}, {lut:,.0f}" for t, lut in zip(a["top1"], a["lut"])]
        mean = f"{a['top1_mean']:.2f} ± {a['top1_std']:.2f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} | {a['lut_mean']:,.0f} |")
    lines += ["", "Allocations (w/a per layer, f = float):", ""]
    for name in ("search4", "search8"):
        for s, alloc in zip(seeds, c["arms"][name]["allocation"]):
            lines.append(f"- {name}, seed {s}: `{alloc}`")
    return "\n".join(lines) + "\n"


def _load(folder: Path, pattern: str) -> dict[int, dict[str, Any]]:
    found = {}
    for s in SEEDS:
        f = folder / pattern.format(seed=s)
        if f.exists():
            found[s] = json.loads(f.read_text())
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench/results/hw_study_search8"))
    ap.add_argument("--report", action="store_true", help="only the table of the finished seeds")
    args = ap.parse_args()
    out = Path(args.out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    if not args.report:
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        for s in SEEDS:
            raw = out / "raw" / f"seed{s}.json"
            if raw.exists():
                print(f"[seed {s}] finished before")
                continue
            folder = out / "runs" / f"seed{s}"
            t0 = time.time()
            if subprocess.call(command(s, folder), cwd=ROOT, env=env) != 0:
                print(f"seed {s}: edmips pareto failed (see above)", file=sys.stderr)
                return 1
            atomic_write_text(raw, (folder / "pareto.json").read_text())
            print(f"[seed {s}] {(time.time() - t0) / 60:.1f} min")
    c = compare(
        _load(STUDY_RAW, f"{NETWORK}-s{{seed}}-fpga.json"), _load(out / "raw", "seed{seed}.json")
    )
    atomic_write_text(out / "compare.json", json.dumps(c, indent=2) + "\n")
    atomic_write_text(out / "compare.md", compare_md(c))
    print((out / "compare.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
