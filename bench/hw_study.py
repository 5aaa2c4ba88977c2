"""Does hardware-aware search pay off? Deeper networks, three seeds, accelerators of different bit
sensitivity (issue: "bench: does hardware-aware search pay off?").

The study is a set of *parts*, one ``edmips pareto`` run each (network x seed x group), so it can be
run in pieces and resumed: a finished part is skipped, an interrupted one resumes inside pareto
(finished sub-runs are skipped, an interrupted search resumes from its checkpoint). Per part:

- group ``asic``: Stripes (latency set by activation bits), UNPU (mostly by weight bits) and Bit
  Fusion (both, 2/4/8 only), latency targets; hardware-aware searches at two relative targets per
  accelerator, BitOps-targeted searches given the BitOps of each hardware-aware allocation (so
  their cost on that accelerator is compared at equal BitOps), and uniform baselines including the
  per-operand ones an engineer would try by hand (w8/a2 for Stripes, w2/a8 for UNPU);
- group ``fpga``: the xc7z020 FPGA model with a LUT budget (the ``fixed`` quantizer family, which
  maps onto hls4ml's ``ap_fixed``).

The BitOps-searched and uniform arms do not depend on the accelerator: pareto trains them once per
part and simulates every trained allocation on every accelerator of the part. All arms of a part
share the training budget and the seed.

Outputs in ``bench/results/hw_study/`` (``--out``): ``study.md`` (tables, the per-accelerator
dominance verdicts, and the comparison at equal cost: each hardware-aware allocation against the
most accurate BitOps-searched and uniform arms that cost no more on its accelerator -- the BitOps
arms of every target and accelerator bracket the cost there, so no extra runs are needed),
``study.json`` (aggregates), ``parts.json`` (settings and wall time per part),
``raw/<part>.json`` (each part's pareto.json: per-run accuracy, allocation and simulated costs),
``<accel>_acc_vs_cost.png`` (mean +- std accuracy vs mean cost, all arms) and
``allocations.png`` (per-layer bits of the allocations searched for each accelerator). Sub-runs
(checkpoints) live under ``<out>/runs/`` (git-ignored).

    python3 bench/hw_study.py --list            # the parts and their settings
    python3 bench/hw_study.py                   # every part not yet finished, then the report
    python3 bench/hw_study.py --part resnet20_fm_w8-s0-asic   # one part, then the report
    python3 bench/hw_study.py --report          # only aggregate the finished parts
    python3 bench/hw_study.py --quick           # smoke run (one small part) to /tmp/hw_study_quick
    python3 bench/hw_study.py --device cuda --amp bf16   # on a GPU

Knobs (stated in study.md, not hidden): network width (``resnet20_fm_w8`` is ResNet-20 at half
width), the training subset of Fashion-MNIST, and the epochs of search and final training. The
test split is always the full 10,000 images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwsim.fileio import atomic_write_text  # noqa: E402

NETWORKS = ["resnet20_fm_w8", "mobilenetv2_fm"]
SEEDS = [0, 1, 2]
ASIC = [
    "accel_configs/stripes.yaml",
    "accel_configs/unpu.yaml",
    "accel_configs/bitfusion_eyeriss.yaml",
]
FPGA = ["accel_configs/fpga_xc7z020.yaml"]
# Bit Fusion's batch-1 latency moves little with bits on these 28x28 networks (resnet20_fm_w8
# from 8/8 to 2/2: compute cycles -4 %, DRAM bytes -8 %, `edmips simulate`; see the README): the
# cheapest {2,4,8} allocation of the searched layers is 0.888x of 8/8 on
# resnet20_fm_w8 and 0.985x on mobilenetv2_fm (``edmips pareto`` records it in pareto.json). The shared targets
# are infeasible there, so resnet20_fm_w8 gets two inside that band; mobilenetv2_fm's band is too
# narrow for a search to matter and gets none (its arms are still simulated on Bit Fusion).
BITFUSION_TARGETS = {"resnet20_fm_w8": {"bitfusion_eyeriss": ["0.92x", "0.96x"]}}


@dataclass
class Part:
    """One ``edmips pareto`` run of the study."""

    network: str
    seed: int
    group: str  # asic | fpga
    accels: list[str]
    metric: str
    family: str
    targets: list[str]
    uniform: list[str]
    w_bits: list[int]
    a_bits: list[int]
    search_epochs: int
    train_epochs: int
    train_subset: int
    batch_size: int = 128
    extra: list[str] = field(default_factory=list)
    # per-accelerator targets replacing ``targets`` there (edmips pareto --accel-targets)
    accel_targets: dict[str, list[str]] = field(default_factory=dict)
    bitops: bool = True  # also the BitOps-targeted searches (edmips pareto --bitops)

    @property
    def name(self) -> str:
        return f"{self.network}-s{self.seed}-{self.group}"

    def command(self, out: Path) -> list[str]:
        cmd = [sys.executable, "-m", "edmips", "pareto", "--model", self.network]
        cmd += ["--data", "fmnist", "--metric", self.metric, "--family", self.family]
        for a in self.accels:
            cmd += ["--accel", a]
        cmd += ["--targets", ",".join(self.targets), "--uniform", ",".join(self.uniform)]
        for k, ts in self.accel_targets.items():
            cmd += ["--accel-targets", f"{k}={','.join(ts)}"]
        cmd += ["--bitops"] if self.bitops else []
        cmd += ["--w-bits", ",".join(map(str, self.w_bits))]
        cmd += ["--a-bits", ",".join(map(str, self.a_bits))]
        cmd += ["--search-epochs", str(self.search_epochs)]
        cmd += ["--train-epochs", str(self.train_epochs)]
        cmd += ["--train-subset", str(self.train_subset), "--batch-size", str(self.batch_size)]
        cmd += ["--seed", str(self.seed), "--out", str(out), "--no-progress", *self.extra]
        return cmd


def parts(quick: bool = False) -> list[Part]:
    """Every part of the study (or the one small part of ``--quick``)."""
    if quick:
        return [
            Part(
                "resnet20_fm_w8",
                0,
                "asic",
                ASIC[:2],
                "latency",
                "paper",
                ["0.5x"],
                ["2/2", "8/2"],
                [2, 4, 8],
                [2, 4, 8],
                1,
                1,
                1000,
            )
        ]
    out = []
    for net in NETWORKS:
        for seed in SEEDS:
            # bits {2,4,8} for both operands: where BitOps (w x a) and the accelerators disagree
            out.append(
                Part(
                    net,
                    seed,
                    "asic",
                    ASIC,
                    "latency",
                    "paper",
                    ["0.35x", "0.6x"],
                    ["2/2", "4/4", "8/8", "8/2", "2/8"],
                    [2, 4, 8],
                    [2, 4, 8],
                    4,
                    4,
                    8000,
                    accel_targets=BITFUSION_TARGETS.get(net, {}),
                )
            )
            out.append(
                Part(
                    net,
                    seed,
                    "fpga",
                    FPGA,
                    "lut",
                    "fixed",
                    ["0.4x", "0.6x"],
                    ["2/2", "4/4", "8/8"],
                    [2, 4, 8],
                    [2, 4, 8],
                    4,
                    4,
                    8000,
                )
            )
    return out


# ----------------------------------------------------------------------------- running


def run_part(part: Part, out: Path, run_extra: list[str] | None = None) -> dict[str, Any]:
    """Run (or resume) one part; ``run_extra``: pareto options that do not change the results'
    meaning (device, AMP). Returns its record for parts.json (wall time in s)."""
    folder = out / "runs" / part.name
    raw = out / "raw" / f"{part.name}.json"
    cmd = part.command(folder) + list(run_extra or [])
    print(f"[{part.name}] {' '.join(cmd[2:])}", flush=True)
    # one intra-op thread: on a shared 2-core machine torch's default oversubscribes the CPU
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    t0 = time.time()
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    wall = time.time() - t0
    if rc != 0:
        raise SystemExit(f"part {part.name}: edmips pareto exited {rc}")
    atomic_write_text(raw, (folder / "pareto.json").read_text())
    return {
        "settings": asdict(part),
        "wall_s": round(wall, 1),
        "finished": time.time(),
        "run_options": list(run_extra or []),
    }


# ----------------------------------------------------------------------------- aggregation


def _cost_key(metric: str, accel: str) -> tuple[str, float, str]:
    """(row key, scale, unit) of an accelerator's cost in pareto.json rows."""
    if metric == "lut":
        return f"{accel}_lut", 1.0, "LUT"
    return f"{accel}_latency_s", 1e6, "us"


def load_parts(out: Path, plan: list[Part]) -> dict[str, dict[str, Any]]:
    """pareto.json of every finished part, by part name."""
    found = {}
    for p in plan:
        f = out / "raw" / f"{p.name}.json"
        if f.exists():
            found[p.name] = json.loads(f.read_text())
    return found


def arm_label(row: dict[str, Any]) -> str:
    """Seed-independent name of an arm."""
    return str(row["name"])


def aggregate(plan: list[Part], raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over seeds of accuracy and of every accelerator's cost, per network, group
    and arm; the cross-accelerator matrix; per-accelerator dominance verdicts."""
    result: dict[str, Any] = {}
    keys = sorted({(p.network, p.group) for p in plan})
    for net, group in keys:
        group_parts = [p for p in plan if p.network == net and p.group == group and p.name in raw]
        if not group_parts:
            continue
        p0 = group_parts[0]
        accels = [Path(a).stem for a in p0.accels]
        arms: dict[str, dict[str, Any]] = {}
        for p in group_parts:
            for row in raw[p.name]["rows"]:
                arm = arms.setdefault(
                    arm_label(row),
                    {
                        "kind": row["kind"],
                        "target": row["target"],
                        "bits": row["bits"],
                        "accel": row["accel"],
                        "top1": [],
                        "cost": {a: [] for a in accels},
                        "allocations": [],
                    },
                )
                arm["top1"].append(row["top1"])
                arm["allocations"].append(row["allocation_text"])
                for a in accels:
                    key, scale, _ = _cost_key(p.metric, a)
                    if key in row:
                        arm["cost"][a].append(row[key] * scale)
        for arm in arms.values():
            t = np.asarray(arm["top1"]) * 100
            arm["top1_mean"], arm["top1_std"] = float(t.mean()), float(t.std())
            arm["seeds"] = len(t)
            arm["cost_mean"] = {a: float(np.mean(v)) for a, v in arm["cost"].items() if v}
            arm["cost_std"] = {a: float(np.std(v)) for a, v in arm["cost"].items() if v}
        result[f"{net}/{group}"] = {
            "network": net,
            "group": group,
            "metric": p0.metric,
            "unit": _cost_key(p0.metric, accels[0])[2],
            "accels": accels,
            "seeds": sorted(p.seed for p in group_parts),
            "arms": arms,
            "verdicts": {a: verdict(arms, a) for a in accels},
            "equal_cost": {a: equal_cost(arms, a) for a in accels},
            "cross": cross_matrix(arms, accels),
            # "accel@target" -> cheapest relative cost of the searched layers (no search there)
            "infeasible": {
                k: v for p in group_parts for k, v in raw[p.name].get("infeasible", {}).items()
            },
        }
    return result


def verdict(arms: dict[str, dict[str, Any]], accel: str) -> dict[str, Any]:
    """For each allocation searched for ``accel``: which BitOps-searched and uniform arms it
    dominates on ``accel``'s cost at equal or better mean accuracy, and which dominate it."""
    own = {n: a for n, a in arms.items() if a["kind"] == f"searched-for-{accel}"}
    others = {n: a for n, a in arms.items() if a["kind"] in ("bitops", "uniform")}
    out = {}
    for n, h in own.items():
        hc, ha = h["cost_mean"].get(accel), h["top1_mean"]
        dominates, dominated_by, mixed = [], [], []
        for m, o in others.items():
            oc, oa = o["cost_mean"].get(accel), o["top1_mean"]
            if hc is None or oc is None:
                continue
            if hc <= oc and ha >= oa:
                dominates.append(m)
            elif oc <= hc and oa >= ha:
                dominated_by.append(m)
            else:
                mixed.append(m)
        out[n] = {"dominates": dominates, "dominated_by": dominated_by, "neither": mixed}
    return out


def equal_cost(arms: dict[str, dict[str, Any]], accel: str) -> list[dict[str, Any]]:
    """For each allocation searched for ``accel``, the comparison at equal cost on ``accel``
    against every BitOps-searched arm (whichever target or accelerator its BitOps budget came
    from: all are hardware-agnostic searches, simulated on every accelerator) and every uniform
    arm: the most accurate one that costs no more (``best_<kind>``; accuracy difference
    ``delta_<kind>`` = hardware-aware minus it, in points, with ``spread_<kind>``, the two arms'
    seed std combined) and the cheapest one at least as accurate (``cheaper_<kind>``, its cost
    over the hardware-aware one's). Means over seeds; costs in the group's unit."""
    rows = []
    for n, h in sorted(arms.items()):
        if h["kind"] != f"searched-for-{accel}" or accel not in h["cost_mean"]:
            continue
        hc, ha, hs = h["cost_mean"][accel], h["top1_mean"], h["top1_std"]
        row: dict[str, Any] = {"arm": n, "target": h["target"], "cost": hc, "top1": ha, "std": hs}
        for kind in ("bitops", "uniform"):
            pool = [
                (m, o) for m, o in arms.items() if o["kind"] == kind and accel in o["cost_mean"]
            ]
            under = [(m, o) for m, o in pool if o["cost_mean"][accel] <= hc]
            if under:
                m, o = max(under, key=lambda mo: mo[1]["top1_mean"])
                row[f"best_{kind}"] = {
                    "arm": m,
                    "cost": o["cost_mean"][accel],
                    "top1": o["top1_mean"],
                    "std": o["top1_std"],
                }
                row[f"delta_{kind}"] = ha - o["top1_mean"]
                row[f"spread_{kind}"] = float(np.hypot(hs, o["top1_std"]))
            above = [(m, o) for m, o in pool if o["top1_mean"] >= ha]
            if above:
                m, o = min(above, key=lambda mo: mo[1]["cost_mean"][accel])
                row[f"cheaper_{kind}"] = {"arm": m, "cost_ratio": o["cost_mean"][accel] / hc}
        rows.append(row)
    return rows


def cross_matrix(arms: dict[str, dict[str, Any]], accels: list[str]) -> dict[str, Any]:
    """Cost on accelerator B of the allocation searched for A divided by the cost on B of B's own
    searched allocation, pairing the allocations by target rank (the tighter target of A with the
    tighter of B: accelerators may have their own targets, see ``BITFUSION_TARGETS``). Ratio of
    the means over seeds (the per-seed tables are in raw/). ``{rank: {"targets": {accel: t},
    "ratio": {A: {B: r}}}}``."""
    ranked: dict[str, list[dict[str, Any]]] = {}
    for a in arms.values():
        if a["kind"].startswith("searched-for-"):
            ranked.setdefault(a["kind"].removeprefix("searched-for-"), []).append(a)
    for v in ranked.values():
        v.sort(key=lambda arm: float(arm["target"][:-1]))
    m: dict[str, Any] = {}
    for i in range(max((len(v) for v in ranked.values()), default=0)):
        at = {k: v[i] for k, v in ranked.items() if i < len(v)}
        ratio: dict[str, dict[str, float]] = {}
        for a_name, arm in at.items():
            for b in accels:
                own = at.get(b)
                if own is None or b not in arm["cost_mean"] or b not in own["cost_mean"]:
                    continue
                ratio.setdefault(a_name, {})[b] = arm["cost_mean"][b] / own["cost_mean"][b]
        if ratio:
            m[str(i + 1)] = {"targets": {k: v["target"] for k, v in at.items()}, "ratio": ratio}
    return m


# ----------------------------------------------------------------------------- report


def _cost(v: float) -> str:
    """A cost for the tables: 4 significant digits, whole numbers from 10,000 up (LUTs)."""
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"


def _pm(mean: float, std: float) -> str:
    return f"{mean:.2f} ± {std:.2f}"


def _targets_text(p: Part) -> str:
    extra = "".join(f"; {k}: {', '.join(ts)}" for k, ts in p.accel_targets.items())
    return ", ".join(p.targets) + extra


def equal_cost_md(g: dict[str, Any]) -> list[str]:
    """The equal-cost table of one group (see :func:`equal_cost`)."""
    rows = [(a, r) for a in g["accels"] for r in g["equal_cost"].get(a, [])]
    if not rows:
        return []
    lines = [
        "",
        "At equal cost on each accelerator: every allocation searched for it against the most"
        " accurate BitOps-searched arm (any target) and uniform arm that cost no more there"
        " (Δ = hardware-aware minus it, points; spread = the two arms' seed std combined), and"
        " the cheapest BitOps arm at least as accurate (its cost / the hardware-aware one's):",
        "",
        f"| on | arm | cost ({g['unit']}) | top-1 (%) | best BitOps at ≤ cost | Δ (spread)"
        " | best uniform at ≤ cost | Δ (spread) | cheapest BitOps at ≥ top-1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def best(r: dict[str, Any], kind: str) -> tuple[str, str]:
        b = r.get(f"best_{kind}")
        if b is None:
            return "none", ""
        return (
            f"{b['arm']}: {_cost(b['cost'])}, {_pm(b['top1'], b['std'])}",
            f"{r[f'delta_{kind}']:+.2f} ({r[f'spread_{kind}']:.2f})",
        )

    for a, r in rows:
        bb, bd = best(r, "bitops")
        ub, ud = best(r, "uniform")
        c = r.get("cheaper_bitops")
        ch = f"{c['arm']}: {c['cost_ratio']:.2f}×" if c else "none"
        lines.append(
            f"| {a} | {r['arm']} | {_cost(r['cost'])} | {_pm(r['top1'], r['std'])} | {bb} | {bd} |"
            f" {ub} | {ud} | {ch} |"
        )
    return lines


def report_md(agg: dict[str, Any], records: dict[str, Any], plan: list[Part]) -> str:
    lines = ["# Does hardware-aware search pay off?", ""]
    lines.append(
        "Regenerate: `python3 bench/hw_study.py` (resumable; one part: `--part NAME`). Accuracy:"
        " Fashion-MNIST test top-1 (%), mean ± std over seeds; cost: simulated by hwsim, one"
        " batch-1 inference, mean over seeds."
    )
    lines.append("")
    lines.append("## Parts and wall time")
    lines.append("")
    lines.append(
        "| part | accelerators | metric | targets | uniform | search/train epochs | train subset | wall (min) |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    total = 0.0
    for p in plan:
        rec = records.get(p.name)
        wall = f"{rec['wall_s'] / 60:.1f}" if rec else "not run"
        total += rec["wall_s"] if rec else 0.0
        ran = Part(**rec["settings"]) if rec else p  # the settings the part ran with
        lines.append(
            f"| {p.name} | {', '.join(Path(a).stem for a in p.accels)} | {p.metric} |"
            f" {_targets_text(ran)} | {', '.join(p.uniform)} |"
            f" {p.search_epochs}/{p.train_epochs} | {p.train_subset} | {wall} |"
        )
    lines.append("")
    lines.append(f"Total wall time of the finished parts: {total / 60:.1f} min.")
    for key, g in agg.items():
        lines += ["", f"## {key} (seeds {g['seeds']})", ""]
        accels = g["accels"]
        head = "| arm | kind | top-1 (%) | " + " | ".join(f"{a} ({g['unit']})" for a in accels)
        lines.append(head + " | allocation (first seed run) |")
        lines.append("|---|---|---|" + "---|" * len(accels) + "---|")
        for n, arm in sorted(g["arms"].items(), key=lambda kv: (kv[1]["kind"], kv[0])):
            costs = " | ".join(
                _cost(arm["cost_mean"][a]) if a in arm["cost_mean"] else "" for a in accels
            )
            fewer = f" ({arm['seeds']} seeds)" if arm["seeds"] < len(g["seeds"]) else ""
            lines.append(
                f"| {n} | {arm['kind']} | {_pm(arm['top1_mean'], arm['top1_std'])}{fewer} | {costs} |"
                f" {arm['allocations'][0]} |"
            )
        if g.get("infeasible"):
            lines += [
                "",
                "No hardware-aware search (target below the cheapest allocation, relative to the"
                " searched layers at 8/8): "
                + ", ".join(f"{k} (cheapest {v:.3f}x)" for k, v in sorted(g["infeasible"].items()))
                + ".",
            ]
        lines += ["", "Verdict per accelerator (on its own cost, mean accuracy):", ""]
        for a in accels:
            for n, v in g["verdicts"][a].items():
                lines.append(
                    f"- **{a}**, {n}: dominates {len(v['dominates'])}"
                    f" ({', '.join(v['dominates']) or 'none'}); dominated by"
                    f" {len(v['dominated_by'])} ({', '.join(v['dominated_by']) or 'none'});"
                    f" neither: {', '.join(v['neither']) or 'none'}"
                )
        lines += equal_cost_md(g)
        if g["cross"]:
            lines += [
                "",
                "Cross-accelerator matrix: cost on B of the allocation searched for A"
                " / cost on B of B's own, pairing A's and B's allocations by target rank:",
                "",
            ]
            for rank, c in g["cross"].items():
                names = ", ".join(f"{k} {t}" for k, t in c["targets"].items())
                lines.append(f"target rank {rank} (1 = tightest; {names}):")
                lines.append("")
                lines.append("| searched for \\ run on | " + " | ".join(accels) + " |")
                lines.append("|---|" + "---|" * len(accels))
                for a_name, row in c["ratio"].items():
                    cells = " | ".join(f"{row[b]:.3f}" if b in row else "" for b in accels)
                    lines.append(f"| {a_name} | {cells} |")
                lines.append("")
    return "\n".join(lines) + "\n"


def plots(agg: dict[str, Any], out: Path) -> list[Path]:
    """Accuracy vs cost per accelerator (all arms, error bars = std over seeds) and the per-layer
    allocations searched for each accelerator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    colors = {"uniform": "tab:gray", "bitops": "tab:orange"}
    for key, g in agg.items():
        for a in g["accels"]:
            fig, ax = plt.subplots(figsize=(6, 4))
            for n, arm in g["arms"].items():
                if a not in arm["cost_mean"]:
                    continue
                kind = arm["kind"]
                c = colors.get(kind, "tab:blue" if kind == f"searched-for-{a}" else "tab:green")
                ax.errorbar(
                    arm["cost_mean"][a],
                    arm["top1_mean"],
                    yerr=arm["top1_std"],
                    fmt="o",
                    color=c,
                    capsize=3,
                )
                ax.annotate(n, (arm["cost_mean"][a], arm["top1_mean"]), fontsize=6)
            ax.set_xlabel(f"{g['metric']} on {a} ({g['unit']})")
            ax.set_ylabel("top-1 (%)")
            ax.set_title(
                f"{key} on {a}: blue searched for {a}, green for others, orange BitOps", fontsize=8
            )
            fig.tight_layout()
            path = out / f"{key.replace('/', '_')}_{a}_acc_vs_cost.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            files.append(path)
        searched = sorted(
            (n, arm) for n, arm in g["arms"].items() if arm["kind"].startswith("searched-for-")
        )
        if searched:
            fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
            for n, arm in searched:
                layers = [x for x in arm["allocations"][0].split() if x != "f"]
                w = [int(x.split("/")[0]) for x in layers]
                av = [int(x.split("/")[1]) for x in layers]
                axes[0].plot(w, marker="o", label=n)
                axes[1].plot(av, marker="o", label=n)
            axes[0].set_ylabel("weight bits")
            axes[1].set_ylabel("activation bits")
            axes[1].set_xlabel("searched layer (network order), seed 0")
            axes[0].legend(fontsize=6)
            fig.suptitle(f"{key}: allocations searched for each accelerator", fontsize=9)
            fig.tight_layout()
            path = out / f"{key.replace('/', '_')}_allocations.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            files.append(path)
    return files


def write_report(out: Path, plan: list[Part]) -> None:
    records_file = out / "parts.json"
    records = json.loads(records_file.read_text()) if records_file.exists() else {}
    raw = load_parts(out, plan)
    agg = aggregate(plan, raw)
    atomic_write_text(out / "study.json", json.dumps(agg, indent=2) + "\n")
    atomic_write_text(out / "study.md", report_md(agg, records, plan))
    plots(agg, out)
    print((out / "study.md").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output folder (default bench/results/hw_study)")
    ap.add_argument("--part", action="append", default=[], help="run only this part (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the parts and exit")
    ap.add_argument("--report", action="store_true", help="only aggregate the finished parts")
    ap.add_argument("--quick", action="store_true", help="one small part, to /tmp/hw_study_quick")
    ap.add_argument(
        "--device",
        default=None,
        help="edmips pareto --device for every part (e.g. cuda; default: pareto's, auto)",
    )
    ap.add_argument("--amp", choices=["bf16"], default=None, help="edmips pareto --amp (CUDA)")
    args = ap.parse_args()
    plan = parts(quick=args.quick)
    run_extra = []
    if args.device:
        run_extra += ["--device", args.device]
    if args.amp:
        run_extra += ["--amp", args.amp]
    default = "/tmp/hw_study_quick" if args.quick else str(ROOT / "bench/results/hw_study")
    out = Path(args.out or default)
    if args.list:
        for p in plan:
            print(p.name, json.dumps(asdict(p)))
        return 0
    names = {p.name for p in plan}
    bad = [n for n in args.part if n not in names]
    if bad:
        print(f"--part {bad[0]}: unknown (see --list)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    records_file = out / "parts.json"
    if not args.report:
        for p in plan:
            if args.part and p.name not in args.part:
                continue
            records = json.loads(records_file.read_text()) if records_file.exists() else {}
            before = records.get(p.name)
            if before and (out / "raw" / f"{p.name}.json").exists():
                if Part(**before["settings"]) == p:  # a field added since: its default
                    print(f"[{p.name}] finished before ({before['wall_s'] / 60:.1f} min)")
                    continue
                # settings changed (e.g. targets added): pareto reruns only the new sub-runs
                print(f"[{p.name}] settings changed since its run: resuming with the new ones")
            record = run_part(p, out, run_extra)
            if before:
                record["wall_s"] = round(record["wall_s"] + before["wall_s"], 1)
            # re-read: another part may have finished meanwhile (parts can run side by side)
            records = json.loads(records_file.read_text()) if records_file.exists() else {}
            records[p.name] = record
            atomic_write_text(records_file, json.dumps(records, indent=2) + "\n")
    write_report(out, plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
