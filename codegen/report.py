"""The emit report: per-layer types and parallelism with hwsim's predictions, verification, and
how to synthesize the project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .emit import EmitResult

TYPE_ORDER = ("weight", "bias", "scale", "accum", "result")


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if float(v).is_integer() or abs(v) >= 100 else f"{v:.3g}"


def layer_table(r: EmitResult) -> str:
    """Markdown table: one row per hls4ml layer (II/latency in cycles per image, resources in counts)."""
    head = (
        "| layer | module | op | types | RF | strategy | II (cycles) | latency (cycles) | DSP | LUT"
        " | BRAM18K |"
    )
    lines = [head, "|" + "---|" * 11]
    for p in r.plan.nodes:
        types = ", ".join(f"{k} {p.types[k]}" for k in TYPE_ORDER if k in p.types)
        if p.quant_point:
            types += f" (input quantizer of {p.quant_point})"
        cells = ["-"] * 7
        if p.op in ("conv", "linear"):
            c = r.costs.get(p.params["layer"])
            if c is not None:
                cells = [
                    str(p.params.get("reuse_factor", c.reuse_factor)),
                    str(p.params.get("strategy", c.strategy)),
                    _fmt(c.ii_cycles),
                    _fmt(c.latency_cycles),
                    _fmt(c.dsp),
                    _fmt(c.lut),
                    _fmt(c.bram_18k),
                ]
            if p.params.get("float_layer"):
                types += " [float layer: 8-bit weights]"
        lines.append(
            f"| {p.name} | {p.module or '-'} | {p.op} | {types} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


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
        r.verify.line() if r.verify else "verify: not run (use --verify N)",
        "",
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
