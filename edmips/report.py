"""``report.md`` and ``plots/`` of a run folder, built only from the files of that run.

Sections: the search's target vs achieved cost, per-layer bits (plot), accuracy of the searched
network and the uniform baselines, accuracy vs cost against the baselines (plots, one per
accelerator), the simulation totals table and per-layer latency/energy plots, the firmware
verification line and the synthesis commands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hwsim import Allocation, Report, plot_reports
from hwsim.fileio import atomic_write_text
from hwsim.metrics import REGISTRY, by_total

from .experiment import Experiment, accel_key, bits_dir
from .plots import Point, plot_accuracy_vs_cost, plot_allocation, plot_bit_probabilities


def totals_shown() -> list[tuple[str, str]]:
    """``(Report.totals key, column label)`` of the simulation table: every registered metric
    with a report label (see :mod:`hwsim.metrics`)."""
    return [(m.total, m.label) for m in REGISTRY.values() if m.label is not None]


def _total_unit(total: str) -> str:
    m = by_total(total)
    return m.total_unit if m is not None else "-"


def _g(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _synthesis_section(report_md: Path) -> list[str]:
    """The bullet lines under '## Synthesis' of codegen's emit_report.md."""
    lines = report_md.read_text().splitlines()
    if "## Synthesis" not in lines:
        return []
    out = []
    for line in lines[lines.index("## Synthesis") + 1 :]:
        if line.startswith("## "):
            break
        if line.strip():
            out.append(line)
    return out


def _decision_lines(ss: dict[str, Any]) -> list[str]:
    """How decided the search ended, what the repair changed, and uniform equivalents."""
    out = []
    if "mean_max_prob" in ss:
        changed = ss.get("repair_changed") or {}
        rep = (
            "repair changed "
            + ", ".join(f"{n} {v['argmax']} -> {v['repaired']}" for n, v in changed.items())
            + f" ({ss.get('repair_reason')})"
            if changed
            else "the repair changed no layer (the argmax met the target by itself)"
        )
        out.append(
            f"- how decided: mean max-probability {ss['mean_max_prob']:.3f}"
            f" (lowest {ss['min_max_prob']:.3f}) over the searched layers' weight and"
            f" activation distributions; {rep}"
        )
    if ss.get("uniform_equal"):
        out.append(
            f"- the searched allocation equals a uniform allocation: {ss['uniform_equal']}"
            " in every searched layer"
        )
    if ss.get("uniform_meets_target"):
        out.append(
            "- the target is met within 10% by a uniform allocation"
            f" ({', '.join(ss['uniform_meets_target'])}): it does not need a mixed one"
        )
    return out


def write_report(run_dir: str | os.PathLike, exp: Experiment) -> Path:
    """Write ``run_dir/report.md`` and its PNGs under ``run_dir/plots``; returns the report path."""
    run = Path(run_dir)
    plots = run / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    ss = _read(run / "search" / "summary.json")
    ts = _read(run / "train" / "train_summary.json")
    alloc = Allocation.load(run / "search" / "allocation.yaml")
    names = list(ss["allocation"])
    md: list[str] = [
        f"# {exp.name}: {ss['model']} on {ss['data']}",
        "",
        f"Family `{exp.family}`, seed {exp.seed}. Every number below is read from the files of"
        f" this run folder (`{run}`).",
        "",
        "## Search",
        "",
    ]
    unit = ss["unit"]
    target = (
        f"{ss['target']} = {_g(ss['target_value'])} {unit}"
        if ss.get("target")
        else f"none (fixed lambda {_g(ss['config'].get('lam'))})"
    )
    md += [
        f"- accelerator searched against: {ss['accelerator'] or 'none (bitops)'}"
        f" (`{ss['config'].get('accel')}`), metric {ss['metric']}",
        f"- target: {target}",
        f"- achieved: {ss['achieved_text']} = {ss['achieved_rel']:.3f}x of uniform 8/8"
        f" ({'repaired from the argmax' if ss['repaired'] else 'argmax allocation'};"
        f" argmax cost {_g(ss['argmax_cost'])} {unit})",
        *_decision_lines(ss),
        f"- supernet test accuracy after {ss['epochs']} epochs:"
        f" {_g(100 * ss['final_test_acc_supernet'])}%",
        "",
        "| layer | w bits | a bits | float |",
        "|---|---|---|---|",
    ]
    for n in names:
        w, a = ss["allocation"][n]
        md.append(f"| {n} | {w} | {a} | {'yes' if n in ss['float_layers'] else ''} |")
    plot_allocation(alloc, names, plots / "allocation.png")
    md += ["", "![per-layer bits](plots/allocation.png)", ""]
    log_path = run / "search" / "search_log.jsonl"
    log = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
    if any("pw" in r for r in log):
        plot_bit_probabilities(log, plots / "bit_probabilities.png")
        md += [
            "Bit probabilities of every searched layer over the search epochs (weights solid,"
            " activations dashed):",
            "",
            "![bit probabilities over epochs](plots/bit_probabilities.png)",
            "",
        ]

    # accuracy
    md += [
        "## Accuracy",
        "",
        f"Final training: {len(ts['history'])} epochs; top-1 on the {ts['data']} test split.",
        "",
        "| network | top-1 (%) |",
        "|---|---|",
        f"| searched | {100 * ts['accuracy']:.2f} |",
    ]
    for b in exp.baselines:
        bs = _read(run / "baselines" / bits_dir(b) / "train_summary.json")
        md.append(f"| uniform {b} | {100 * bs['accuracy']:.2f} |")
    md.append("")

    # simulation
    sim = _read(run / "simulate" / "summary.json")
    costs = _read(run / "simulate" / "costs.json")
    md += ["## Simulation (searched network)", ""]
    present = [
        (k, label)
        for k, label in totals_shown()
        if any(k in v["totals"] for v in sim["accels"].values())
    ]
    md.append("| accelerator | " + " | ".join(label for _, label in present) + " |")
    md.append("|---|" + "---|" * len(present))
    for acc, v in sim["accels"].items():
        md.append(f"| {acc} | " + " | ".join(_g(v["totals"].get(k)) for k, _ in present) + " |")
    reports = [Report(**_report_args(_read(run / "simulate" / f"{a}.json"))) for a in sim["accels"]]
    plot_reports(reports, plots / "simulate.png")
    md += [
        "",
        "Per-layer cycles (compute/stall) and energy split (MAC/SRAM/DRAM/static) per accelerator:",
        "",
        "![per-layer latency and energy](plots/simulate.png)",
        "",
    ]

    # accuracy vs cost
    md += ["## Accuracy vs cost (searched vs uniform baselines)", ""]
    search_key = accel_key(ss["config"]["accel"]) if ss["config"].get("accel") else None
    panels: list[tuple[str, str]] = []
    if search_key and ss["metric"] in REGISTRY:
        panels.append((search_key, REGISTRY[ss["metric"]].total))
    panels += [(a, "latency_s") for a in sim["accels"] if (a, "latency_s") not in panels]
    for acc, total in panels:
        pts = [
            Point(
                "searched" if label == "searched" else label,
                "searched" if label == "searched" else "uniform",
                c["accuracy"],
                c["totals"][acc][total],
            )
            for label, c in costs.items()
            if total in c["totals"].get(acc, {})
        ]
        if not pts:
            continue
        png = f"accuracy_vs_{total}_{acc}.png"
        plot_accuracy_vs_cost(
            pts, plots / png, f"{total} ({_total_unit(total)}) on {acc}", f"{exp.name}: {acc}"
        )
        md += [
            f"### {total} on {acc}",
            "",
            "| network | top-1 (%) | " + f"{total} ({_total_unit(total)}) |",
            "|---|---|---|",
        ]
        md += [f"| {p.label} | {100 * p.accuracy:.2f} | {_g(p.cost)} |" for p in pts]
        md += ["", f"![accuracy vs {total} on {acc}](plots/{png})", ""]

    # firmware
    md += ["## Firmware", ""]
    ej = run / "firmware" / "emit.json"
    if exp.emit is None or not ej.exists():
        md += ["No firmware stage in this experiment (emit: null).", ""]
    else:
        e = _read(ej)
        md += [
            f"hls4ml project `firmware/` ({e['backend']} backend, {e['io_type']}, part {e['part']},"
            f" clock {_g(e['clock_period_ns'])} ns); details in `firmware/emit_report.md`.",
            "",
            e["verify"]["line"] if e.get("verify") else "verify: not run (emit.verify: 0)",
            "",
            *[f"- {line}" for line in e.get("float_layers", [])],
            *([""] if e.get("float_layers") else []),
            "Synthesis:",
            "",
        ]
        md += _synthesis_section(run / "firmware" / "emit_report.md")
        md.append("")
        md += _firmware_design_section(e)
    path = run / "report.md"
    atomic_write_text(path, "\n".join(md).rstrip() + "\n")
    return path


def _firmware_design_section(e: dict[str, Any]) -> list[str]:
    """ "Budgeted vs emitted design" from ``firmware/emit.json``: per conv/linear stage the reuse
    factor, strategy, II, latency, LUT, DSP and BRAM of the design the search costed and
    ``simulate`` reported, next to the firmware's, with totals."""
    from codegen.report import design_section
    from hwsim.fpga_plan import FpgaPlan

    if not e.get("budgeted") or not e.get("emitted"):
        return []
    b = FpgaPlan.from_dict(e["budgeted"], "firmware/emit.json: key 'budgeted'")
    m = FpgaPlan.from_dict(e["emitted"], "firmware/emit.json: key 'emitted'")
    return ["### Budgeted vs emitted design", "", *design_section(b, m, e.get("differs", [])), ""]


def _report_args(d: dict[str, Any]) -> dict[str, Any]:
    """hwsim Report constructor arguments from its ``to_dict`` JSON."""
    return {
        "accelerator": d["accelerator"],
        "accel_type": d["type"],
        "workload": d["workload"],
        "batch": d["batch"],
        "rows": d["layers"],
        "totals": d["totals"],
        "notes": d.get("notes", []),
    }
