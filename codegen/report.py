"""The emit report: per-layer types and parallelism with hwsim's predictions, verification, and
how to synthesize the project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .plan import ExportPlan

if TYPE_CHECKING:
    from hwsim.fpga_plan import FpgaPlan

    from .emit import EmitResult

TYPE_ORDER = ("weight", "bias", "scale", "accum", "result")


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if float(v).is_integer() or abs(v) >= 100 else f"{v:.3g}"


def float_layer_lines(plan: ExportPlan, budget: FpgaPlan | None) -> list[str]:
    """One line per float layer: the widths its weights and input are emitted at (from the
    planned types) and the widths hwsim costed it at (the budgeted design), which the one
    float-layer rule makes equal."""
    lines = []
    for p in plan.mac_nodes():
        if not p.params.get("float_layer"):
            continue
        layer = p.params["layer"]
        emitted = (p.types["weight"].width, plan.mac_input(p).result.width)
        if budget is None or layer not in budget.names:
            fmt = plan.qm.allocation.formats[layer]
            lines.append(
                f"float layer {layer}: emitted at {emitted[0]}/{emitted[1]} bits (its format"
                f" record: {fmt.w_bits}/{fmt.a_bits}; no accelerator config costed it)"
            )
            continue
        lp = budget.layer(layer)
        costed = (lp.w_bits, lp.a_bits)
        if emitted == costed:
            lines.append(f"float layer {layer}: emitted and costed at {costed[0]}/{costed[1]} bits")
        else:
            lines.append(
                f"float layer {layer}: emitted at {emitted[0]}/{emitted[1]} bits but costed at"
                f" {costed[0]}/{costed[1]} bits"
            )
    return lines


def layer_table(r: EmitResult) -> str:
    """Markdown table: one row per hls4ml layer with its exact types (and, for conv/linear
    layers, the reuse factor and strategy hls4ml wrote)."""
    lines = ["| layer | module | op | types | RF | strategy |", "|" + "---|" * 6]
    for p in r.plan.nodes:
        types = ", ".join(f"{k} {p.types[k]}" for k in TYPE_ORDER if k in p.types)
        if p.quant_point:
            types += f" (input quantizer of {p.quant_point})"
        rf = strategy = "-"
        if p.params.get("layer") is not None:
            rf = str(p.params.get("reuse_factor", "-"))
            strategy = str(p.params.get("strategy", "-"))
            if p.params.get("float_layer"):
                fmt = r.plan.qm.allocation.formats[p.params["layer"]]
                types += f" [float layer, run at {fmt.w_bits}/{fmt.a_bits} bits]"
        lines.append(f"| {p.name} | {p.module or '-'} | {p.op} | {types} | {rf} | {strategy} |")
    return "\n".join(lines)


DESIGN_COLS = ("rf", "strategy", "ii_cycles", "latency_cycles", "lut", "dsp", "bram_18k")


def design_table(budgeted: FpgaPlan, emitted: FpgaPlan) -> str:
    """Markdown table of the budgeted (searched and simulated) and the emitted design, two rows
    per conv/linear stage and a totals row for each (II and latency in cycles per image, the
    totals' II the design's (:func:`hwsim.models.fpga_dataflow.design_ii`), their latency along
    the critical path; LUT, DSP, BRAM_18K in counts)."""
    head = (
        "| layer | design | RF | strategy | II (cycles) | latency (cycles) | LUT | DSP | BRAM18K |"
    )
    lines = [head, "|" + "---|" * 9]
    for lb in budgeted.layers:
        le = emitted.layer(lb.name) if lb.name in emitted.names else None
        for label, lp in (("budgeted", lb), ("emitted", le)):
            if lp is None:
                continue
            cells = [str(lp.rf), lp.strategy] + [_fmt(getattr(lp, k)) for k in DESIGN_COLS[2:]]
            lines.append(f"| {lb.name} | {label} | " + " | ".join(cells) + " |")
    for label, d in (("budgeted", budgeted), ("emitted", emitted)):
        t = d.totals()
        cells = [
            "",
            d.io_type,
            _fmt(t["ii_cycles"]) + (" (slowest + 1)" if d.io_type == "io_stream" else " (slowest)"),
            _fmt(t["latency_cycles"]),
            _fmt(t["lut"]),
            _fmt(t["dsp"]),
            _fmt(t["bram_18k"]),
        ]
        lines.append(f"| **total** | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def design_section(
    budgeted: FpgaPlan | None, emitted: FpgaPlan | None, differs: list[str]
) -> list[str]:
    """Lines of the "budgeted vs emitted" section (shared by emit_report.md and report.md)."""
    if budgeted is None or emitted is None:
        return [
            "No accelerator config: no budgeted design to compare with (hwsim costs need an"
            " fpga_dataflow config)."
        ]
    head = (
        f"Budgeted on '{budgeted.accel}' ({budgeted.part}, {budgeted.io_type}"
        + (f", target II {budgeted.target_ii_cycles:g} cycles" if budgeted.target_ii_cycles else "")
        + "); both rows are hwsim's predictions for the reuse factors each design uses."
    )
    verdict = (
        "**The firmware differs from the budgeted design** (explicit emit options): "
        + "; ".join(differs)
        + "."
        if differs
        else "The firmware is the budgeted design: every reuse factor, strategy and total is equal."
    )
    return [head, "", design_table(budgeted, emitted), "", verdict]


def da_table(r: EmitResult) -> list[str]:
    """Lines of the distributed-arithmetic section: per DA layer, hwsim's LUT estimate for the
    stage (da4ml's cost fitted on random weights) beside da4ml's exact adder-graph cost for the
    trained weights (what hls4ml builds); empty when no layer uses the strategy."""
    rows = []
    for p in r.plan.mac_nodes():
        if "da4ml_lut" not in p.params:
            continue
        layer = p.params["layer"]
        design = r.emitted if r.emitted is not None and layer in r.emitted.names else None
        est = design.layer(layer).lut if design is not None else None
        exact = float(p.params["da4ml_lut"])
        ratio = f"{est / exact:.2f}" if est is not None and exact > 0 else "-"
        rows.append(
            f"| {layer} | {_fmt(est) if est is not None else '-'} | {_fmt(exact)} | {ratio} |"
        )
    if not rows:
        return []
    return [
        "## Distributed arithmetic (da4ml)",
        "",
        "Layers emitted with `Strategy: distributed_arithmetic`: hwsim's LUT estimate for the stage"
        " (a fit of da4ml's cost on random weights, `bench/da4ml_cost_fit.py`) beside da4ml's"
        " exact adder-graph cost for the trained weights (`da_kernel_cost`, LUTs).",
        "",
        "| layer | hwsim estimate (LUT) | da4ml, trained weights (LUT) | estimate / da4ml |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def project_files(project: Path) -> list[str]:
    """What ``build_prj.tcl`` needs, relative to the project (big folders summarised)."""
    out: list[str] = []
    for p in sorted(project.iterdir()):
        if p.name in ("emit_report.md", "emit.json"):
            continue
        if p.is_dir():
            for q in sorted(p.iterdir()):
                rel = q.relative_to(project)
                if q.is_dir():
                    n = sum(1 for f in q.rglob("*") if f.is_file())
                    out.append(f"{rel}/ ({n} files)")
                else:
                    out.append(str(rel))
        else:
            out.append(p.name)
    return out


def synthesis_commands(r: EmitResult) -> list[str]:
    d = str(r.out_dir)
    if r.backend.lower() == "vitis":
        return [
            f"cd {d} && vitis-run --mode hls --tcl build_prj.tcl   # Vitis >= 2023.1"
            " (step switches in build_opt.tcl: csim/synth/cosim/export)",
            f"cd {d} && vitis_hls -f build_prj.tcl   # older Vitis HLS",
            "Vivado HLS (<= 2020.1) needs a Vivado-backend project: re-run emit with --backend"
            f' vivado, then: cd {d} && vivado_hls -f build_prj.tcl "reset=0 csim=0 synth=1'
            ' cosim=0 validation=0 export=0 vsynth=0 fifo_opt=0"',
        ]
    return [
        f'cd {d} && vivado_hls -f build_prj.tcl "reset=0 csim=0 synth=1 cosim=0 validation=0'
        ' export=0 vsynth=0 fifo_opt=0"   # Vivado HLS <= 2020.1',
        "Vitis HLS needs a Vitis-backend project: re-run emit with --backend vitis, then:"
        f" cd {d} && vitis-run --mode hls --tcl build_prj.tcl",
    ]


def render_report(r: EmitResult, project: Path) -> str:
    """The full Markdown report written as ``emit_report.md``."""
    lines = [
        f"# hls4ml project: {r.out_dir}",
        "",
        f"backend {r.backend}, {r.io_type}, part {r.part}, clock {r.clock_period_ns:g} ns"
        + (f", costs from hwsim config '{r.accel_name}'" if r.accel_name else ""),
        "",
        layer_table(r),
        "",
        "## Budgeted vs emitted design",
        "",
        *design_section(r.budgeted, r.emitted, r.differs),
        "",
        r.verify.line() if r.verify else "verify: not run (use --verify N)",
        "",
        *da_table(r),
        "## Files for `vitis-run --mode hls --tcl build_prj.tcl`"
        if r.backend.lower() == "vitis"
        else "## Files for `vivado_hls -f build_prj.tcl`",
        "",
    ]
    lines += [f"- {f}" for f in project_files(project)]
    lines += ["", "## Synthesis", ""]
    lines += [f"- `{c}`" if c.startswith("cd ") else f"- {c}" for c in synthesis_commands(r)]
    if r.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r.notes]
    return "\n".join(lines) + "\n"
