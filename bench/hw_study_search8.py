"""Follow-up to ``bench/hw_study.py``: does a longer search close the gap to uniform 4/4?

In the study, the MobileNet searched for the FPGA's LUT count at 0.6x of 8/8 is the one
hardware-aware allocation behind a uniform one by more than the seed spread: 4/4 is cheaper and
more accurate on every seed. This script reruns that arm with twice the search epochs (8 instead
of 4; the shared warm start, whose length follows the search's warm-up, is then 2 epochs instead of
1), everything else as in the study, with uniform 4/4 retrained from the same warm start, and sets
it beside the study's 4-epoch arm and 4/4 per seed and as mean ± std over the three seeds.

    python3 bench/hw_study_search8.py            # run (or resume) the three seeds, then the table
    python3 bench/hw_study_search8.py --report   # only the table of the finished seeds

Each seed is one part in the study's terms (``hw_study.Part``, run by ``hw_study.run_part``), named
``mobilenetv2_fm-s<N>-fpga-search8``. Outputs in ``bench/results/hw_study_search8/``:
``raw/<part>.json`` (each run's pareto.json), ``parts.json`` (settings and wall time of the parts
this script ran), ``compare.md`` and ``compare.json``; sub-runs (checkpoints) under ``runs/``
(git-ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hw_study  # noqa: E402
from hw_study import ROOT, Part, _cost, _pm, atomic_write_text, load_parts, run_part  # noqa: E402

NETWORK = "mobilenetv2_fm"
ARM = "fpga_xc7z020_lut0.6x"
UNIFORM = "uniform4-4"
COST = "fpga_xc7z020_lut"
STUDY = ROOT / "bench/results/hw_study"


def study_parts() -> list[Part]:
    """The study's MobileNet ``fpga`` parts, one per seed."""
    return [p for p in hw_study.parts() if p.network == NETWORK and p.group == "fpga"]


def plan() -> list[Part]:
    """Those parts at 0.6x only, against uniform 4/4 only, with 8 search epochs."""
    return [
        replace(
            p,
            group="fpga-search8",
            targets=["0.6x"],
            uniform=["4/4"],
            search_epochs=8,
            bitops=False,
        )
        for p in study_parts()
    ]


def _row(pareto: dict[str, Any], name: str) -> dict[str, Any]:
    for r in pareto["rows"]:
        if r["name"] == name:
            return r
    raise KeyError(name)


def compare(study: dict[int, dict[str, Any]], longer: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per seed found in both (pareto.json by seed): top-1 (%) and LUTs of the study's 4-epoch
    search, of the 8-epoch search and of uniform 4/4 (the study's and the one trained beside the
    8-epoch search); then mean and std over those seeds."""
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
        cells = [f"{t:.2f}, {_cost(lut)}" for t, lut in zip(a["top1"], a["lut"])]
        mean = _pm(a["top1_mean"], a["top1_std"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} | {_cost(a['lut_mean'])} |")
    lines += ["", "Allocations (w/a per layer, f = float):", ""]
    for name in ("search4", "search8"):
        for s, alloc in zip(seeds, c["arms"][name]["allocation"]):
            lines.append(f"- {name}, seed {s}: `{alloc}`")
    return "\n".join(lines) + "\n"


def by_seed(out: Path, parts: list[Part]) -> dict[int, dict[str, Any]]:
    """pareto.json of every finished part under ``out``, by seed."""
    found = load_parts(out, parts)
    return {p.seed: found[p.name] for p in parts if p.name in found}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench/results/hw_study_search8"))
    ap.add_argument("--report", action="store_true", help="only the table of the finished seeds")
    args = ap.parse_args()
    out = Path(args.out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    parts = plan()
    if not args.report:
        records_file = out / "parts.json"
        for p in parts:
            if (out / "raw" / f"{p.name}.json").exists():
                print(f"[{p.name}] finished before")
                continue
            record = run_part(p, out)
            records = json.loads(records_file.read_text()) if records_file.exists() else {}
            records[p.name] = record
            atomic_write_text(records_file, json.dumps(records, indent=2) + "\n")
    c = compare(by_seed(STUDY, study_parts()), by_seed(out, parts))
    atomic_write_text(out / "compare.json", json.dumps(c, indent=2) + "\n")
    atomic_write_text(out / "compare.md", compare_md(c))
    print((out / "compare.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
