"""Does the search decide? Convergence, budget and wall time of the default search.

For each case a search runs with the default (``converge``) preset and the knobs in the table;
the table reports, at the end of the search, the lowest max-probability over the searched layers
(weights and activations separately; 1.0 = one-hot), the argmax allocation's cost relative to the
target (the must-show band is [0.9, 1.0]), whether the knapsack repair changed anything, whether
any uniform allocation lies within 10% under the target, the supernet's test accuracy and the wall
time of the search on this machine (load noted in the output; the 2-core dev CPU was shared).

A second table ("follows the hardware", ``--hardware``) runs fmnist_cnn on Fashion-MNIST against
Stripes (bit-serial: latency set by activation bits, weight width almost free), UNPU and Bit Fusion
(``--hw-search`` picks which) with a latency target, then with a BitOps target equal to the BitOps
of the latency-searched allocation (the same budget in the paper's hardware-agnostic cost), and
lists per searched layer
the chosen bits beside the layer's cost sensitivity read from the monotone cost tables:
dW = T[w_max, a_min] / T[w_min, a_min] - 1 (what widening the weights from the narrowest to the
widest candidate costs) and dA = T[w_min, a_max] / T[w_min, a_min] - 1 (the same for activations).

    python bench/search_convergence.py [--cases NAME,...] [--hardware] [--out bench/results/search_convergence]

Writes ``cases/*.json`` (one per case), ``results.md`` and ``results.json`` under ``--out``
(atomically) and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hwsim.fileio import atomic_write_text  # noqa: E402
from search.api import SearchConfig  # noqa: E402
from search.loop import SearchSetup, run_search  # noqa: E402

ACC = ROOT / "accel_configs"
# name -> SearchConfig fields (targets chosen so no uniform allocation is within 10% under them)
CASES: dict[str, dict[str, Any]] = {
    "digits_cnn_wide/bitfusion": dict(
        model="digits_cnn_wide",
        data="digits",
        accel=str(ACC / "bitfusion_eyeriss.yaml"),
        target="latency=0.45x",
        epochs=8,
        step_epoch=6,
        batch_size=64,
    ),
    "fmnist_cnn/stripes": dict(
        model="fmnist_cnn",
        data="fmnist",
        accel=str(ACC / "stripes.yaml"),
        target="latency=0.335x",
        epochs=4,
        step_epoch=3,
        batch_size=128,
        train_subset=10000,
    ),
    "resnet20_fm_w8/stripes": dict(
        model="resnet20_fm_w8",
        data="fmnist",
        accel=str(ACC / "stripes.yaml"),
        target="latency=0.34x",
        epochs=6,
        step_epoch=5,
        batch_size=128,
        train_subset=5000,
    ),
    # the same with another seed (weights init, data order): is the decision robust?
    "resnet20_fm_w8/stripes/seed1": dict(
        model="resnet20_fm_w8",
        data="fmnist",
        accel=str(ACC / "stripes.yaml"),
        target="latency=0.34x",
        epochs=6,
        step_epoch=5,
        batch_size=128,
        train_subset=5000,
        seed=1,
    ),
}
HW_ACCELS = {"stripes": "stripes.yaml", "unpu": "unpu.yaml", "bitfusion": "bitfusion_eyeriss.yaml"}
# latency target per accelerator (x of uniform 8/8): no uniform allocation within 10% under it on
# Stripes (uniforms 0.247-0.500x) and UNPU (0.137-0.500x); on Bit Fusion every candidate costs
# 0.642-0.712x (fmnist_cnn at batch 1 barely depends on bits there), so any feasible target is
# met within 10% by a uniform allocation (the table says so)
HW_TARGETS = {"stripes": 0.34, "unpu": 0.34, "bitfusion": 0.66}
HW_BASE = dict(
    model="fmnist_cnn", data="fmnist", epochs=4, step_epoch=3, batch_size=128, train_subset=10000
)


def run_case(name: str, fields: dict[str, Any], tmp: Path) -> dict[str, Any]:
    metric = fields["target"].split("=")[0]
    cfg = SearchConfig(
        **{"seed": 0, **fields},
        metric=metric,
        out=str(tmp / name.replace("/", "_")),
        progress=False,
    )
    t0 = time.perf_counter()
    s = run_search(cfg)
    wall = time.perf_counter() - t0
    log = [json.loads(x) for x in (Path(cfg.out) / "search_log.jsonl").read_text().splitlines()]
    last = log[-1]
    pw = min(max(v) for v in last["pw"].values())
    pa = min(max(v) for v in last["pa"].values())
    return {
        "case": name,
        "searched_layers": len(last["pw"]),
        "knobs": {k: v for k, v in fields.items() if k not in ("model", "accel")},
        "steps": sum(r["steps"] for r in log),
        "min_max_prob_w": pw,
        "min_max_prob_a": pa,
        "argmax_over_target": s["argmax_to_target"],
        "achieved_rel": s["achieved_rel"],
        "repaired": s["repaired"],
        "repair_changed": sorted(s["repair_changed"]),
        "uniform_within_10pct": s["uniform_meets_target"],
        "uniform_equal": s["uniform_equal"],
        "supernet_acc": s["final_test_acc_supernet"],
        "wall_s": wall,
        "allocation": {n: s["allocation"][n] for n in last["pw"]},
        "load_avg": os.getloadavg()[0],
        "commit": _commit(),
    }


def _commit() -> str:
    """The checked-out commit (short hash; ``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        h = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # the results this script writes do not count as changes
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "."]
            + [":!bench/results"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return h + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def sensitivity(setup: SearchSetup) -> tuple[np.ndarray, np.ndarray]:
    """(dW, dA) per searched layer from the search's cost tables (see the module docstring)."""
    (k,) = setup.cost.keys
    t = setup.cost.np_tables[k]
    base = np.maximum(t[:, 0, 0], 1e-300)
    return t[:, -1, 0] / base - 1.0, t[:, 0, -1] / base - 1.0


def bitops_rel(setup: SearchSetup, bits: dict[str, list[int]]) -> float:
    """BitOps of the searched layers at ``bits`` relative to the same layers at 8/8."""
    macs = {lyr.name: lyr.macs for lyr in setup.workload.layers}
    num = sum(macs[n] * bits[n][0] * bits[n][1] for n in setup.searched)
    return num / sum(macs[n] * 64 for n in setup.searched)


def run_hardware(frac: float | None, searched_on: list[str], tmp: Path) -> list[dict[str, Any]]:
    """Sensitivities of every accelerator in HW_ACCELS; searches (latency target ``frac`` or
    HW_TARGETS', then BitOps at the latency allocation's BitOps) on those in ``searched_on``."""
    rows = []
    for key, file in HW_ACCELS.items():
        base = dict(HW_BASE, accel=str(ACC / file))
        setup = SearchSetup(SearchConfig(**base, metric="latency", lam=0.0), verbose=False)
        dw, da = sensitivity(setup)
        lat = bop = None
        if key in searched_on:
            f = HW_TARGETS[key] if frac is None else frac
            lat = run_case(f"hw_{key}_latency", dict(base, target=f"latency={f}x"), tmp)
            b = bitops_rel(setup, lat["allocation"]) * (1 + 1e-9)
            bop = run_case(f"hw_{key}_bitops", dict(base, target=f"bitops={b:.9g}x"), tmp)
        for i, n in enumerate(setup.searched):
            rows.append(
                {
                    "accel": key,
                    "layer": n,
                    "dW": float(dw[i]),
                    "dA": float(da[i]),
                    "latency_bits": lat["allocation"][n] if lat else None,
                    "bitops_bits": bop["allocation"][n] if bop else None,
                    "w_candidates": setup.w_bits,
                    "a_candidates": setup.a_bits,
                    "latency_run": {
                        k: lat[k]
                        for k in (
                            "knobs",
                            "achieved_rel",
                            "argmax_over_target",
                            "repaired",
                            "repair_changed",
                            "min_max_prob_w",
                            "min_max_prob_a",
                            "uniform_within_10pct",
                            "supernet_acc",
                            "wall_s",
                        )
                    }
                    if lat
                    else None,
                    "bitops_run": {
                        k: bop[k]
                        for k in (
                            "knobs",
                            "achieved_rel",
                            "argmax_over_target",
                            "repaired",
                            "repair_changed",
                            "min_max_prob_w",
                            "min_max_prob_a",
                            "uniform_within_10pct",
                            "supernet_acc",
                            "wall_s",
                        )
                    }
                    if bop
                    else None,
                }
            )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| case | searched layers | knobs | steps | min max-prob w | min max-prob a |"
        " argmax / target | repair changed | uniform within 10% | supernet top-1 | wall s | commit |"
    )
    out = [head, "|" + "---|" * 12]
    for r in rows:
        kn = ", ".join(f"{k}={v}" for k, v in r["knobs"].items() if k != "data")
        out.append(
            f"| {r['case']} | {r['searched_layers']} | {kn} | {r['steps']} |"
            f" {r['min_max_prob_w']:.3f} | {r['min_max_prob_a']:.3f} |"
            f" {r['argmax_over_target']:.3f} | {', '.join(r['repair_changed']) or 'none'} |"
            f" {', '.join(r['uniform_within_10pct']) or 'none'} | {100 * r['supernet_acc']:.2f}% |"
            f" {r['wall_s']:.0f} (load {r['load_avg']:.1f}) | {r.get('commit', 'not recorded')} |"
        )
    return "\n".join(out)


def _uniforms(run: dict[str, Any]) -> str:
    if "uniform_within_10pct" not in run:
        return "not recorded"
    return ", ".join(run["uniform_within_10pct"]) or "none"


def hw_table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| accelerator | layer | dW (w widest vs narrowest) | dA (a widest vs narrowest) |"
        " latency-targeted w/a | BitOps-targeted w/a |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lat = "/".join(map(str, r["latency_bits"])) if r["latency_bits"] else "not run"
        bop = "/".join(map(str, r["bitops_bits"])) if r["bitops_bits"] else "not run"
        out.append(
            f"| {r['accel']} | {r['layer']} | {r['dW']:+.2f} | {r['dA']:+.2f} | {lat} | {bop} |"
        )
    runs = [
        "",
        "| accelerator | search | target | argmax / target | repair changed | min max-prob w / a |"
        " uniform within 10% | supernet top-1 | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    seen = set()
    for r in rows:
        for kind in ("latency", "bitops"):
            run = r.get(f"{kind}_run")
            if not run or "knobs" not in run or (r["accel"], kind) in seen:
                continue
            seen.add((r["accel"], kind))
            runs.append(
                f"| {r['accel']} | {kind} | {run['knobs']['target']} |"
                f" {run['argmax_over_target']:.3f} | {', '.join(run['repair_changed']) or 'none'} |"
                f" {run['min_max_prob_w']:.3f} / {run['min_max_prob_a']:.3f} |"
                f" {_uniforms(run)} |"
                f" {100 * run['supernet_acc']:.2f}% | {run['wall_s']:.0f} |"
            )
    return "\n".join(out + (runs if len(runs) > 3 else []))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    ap.add_argument("--hardware", action="store_true", help="also the follows-the-hardware table")
    ap.add_argument(
        "--hw-target",
        type=float,
        default=None,
        help="one latency fraction for every accelerator of --hardware (default: HW_TARGETS)",
    )
    ap.add_argument(
        "--hw-search",
        default=",".join(HW_ACCELS),
        help="accelerators on which --hardware runs the two searches (the others: tables only)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "search_convergence"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # one JSON per case (cases may run in separate processes); the tables list every case file
    cases = out / "cases"
    cases.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in [c for c in args.cases.split(",") if c]:
            row = run_case(name, CASES[name], Path(tmp))
            atomic_write_text(cases / f"{name.replace('/', '_')}.json", json.dumps(row, indent=1))
            print(table([row]).splitlines()[-1], flush=True)
        if args.hardware:
            hw_rows = run_hardware(args.hw_target, args.hw_search.split(","), Path(tmp))
            atomic_write_text(cases / "hardware.json", json.dumps(hw_rows, indent=1))
    rows = {}
    for f in cases.glob("*.json"):
        if f.name != "hardware.json":
            r = json.loads(f.read_text())
            rows[r["case"]] = r
    hw_file = cases / "hardware.json"
    hw = json.loads(hw_file.read_text()) if hw_file.exists() else []
    conv = [rows[k] for k in CASES if k in rows]
    md = [
        "# Search convergence (bench/search_convergence.py)",
        "",
        "Default `converge` preset, seed 0 unless the knobs give one, `torch.set_num_threads(1)`; wall time on the shared"
        " 2-core dev CPU with the load average shown (other jobs ran beside it).",
        "",
        table(conv),
    ]
    if hw:
        md += ["", "## Follows the hardware (fmnist_cnn, Fashion-MNIST)", "", hw_table(hw)]
    atomic_write_text(out / "results.md", "\n".join(md) + "\n")
    atomic_write_text(
        out / "results.json", json.dumps({"convergence": conv, "hardware": hw}, indent=1) + "\n"
    )
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
