"""End to end: quantized model -> typed plan -> hls4ml project (atomic) -> g++ C-sim verification."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from hwsim.allocation import Allocation
from hwsim.config import AccelConfig
from hwsim.errors import HwsimError
from hwsim.fileio import atomic_write_text
from hwsim.fpga_plan import FpgaPlan, diff_totals, make_plan, plan_with_choices
from hwsim.workload import Workload

from .emulate import channels_last, emulate
from .errors import CodegenError
from .export import QuantModel
from .hls import BACKEND, DA, Parallelism, da4ml_missing, snap_reuse, write_project
from .plan import ExportPlan, build_plan
from .preflight import check_modules
from .report import float_layer_lines, render_report
from .verify import VerifyResult, verify

DEFAULT_PART = "xc7z020clg400-1"
DEFAULT_CLOCK_NS = 10.0
TB_SAMPLES = 200  # samples written to tb_data/ for the HLS testbench
STREAM_CONV_THRESHOLD = 16 * 16 * 8 * 9  # out_pixels x reduction of the biggest conv (recipe §10)


@dataclass
class EmitResult:
    """What :func:`emit` produced."""

    out_dir: Path
    plan: ExportPlan
    io_type: str
    backend: str
    part: str
    clock_period_ns: float
    budgeted: FpgaPlan | None
    emitted: FpgaPlan | None
    verify: VerifyResult | None
    accel_name: str | None = None
    notes: list[str] = field(default_factory=list)
    report: str = ""
    differs: list[str] = field(default_factory=list)  # how the firmware differs from the budget
    float_layers: list[str] = field(
        default_factory=list
    )  # "float layer X: emitted and costed at w/a"


def choose_io_type(plan: ExportPlan) -> str:
    """io_stream when the plan has a conv whose unrolled im2col (out pixels x C*kh*kw) is beyond
    the size g++ compiles quickly in io_parallel; io_parallel otherwise (MLPs, tiny CNNs)."""
    sizes = []
    for p in plan.mac_nodes():
        if p.op == "conv":
            w = p.params["weight"]
            per_pixel = w.shape[1] * p.params["groups"] * w.shape[2] * w.shape[3]
            sizes.append(p.shape[1] * p.shape[2] * per_pixel)
    return "io_stream" if sizes and max(sizes) > STREAM_CONV_THRESHOLD else "io_parallel"


def budgeted_plan(
    workload: Workload, allocation: Allocation, accel: AccelConfig
) -> tuple[FpgaPlan, str]:
    """The design the allocation was budgeted and simulated with on ``accel``: the plan stored
    with the allocation for that config, else the one hwsim's FPGA model computes from it (the
    same function). Returns the plan and where it came from."""
    if accel.type != "fpga_dataflow":
        raise CodegenError(
            f"{accel.source}: emit needs an fpga_dataflow accelerator config, got type '{accel.type}'"
        )
    stored = allocation.fpga_plans.get(accel.name)
    if stored is not None:
        if stored.names != workload.names:
            raise CodegenError(
                f"stored FPGA plan for '{accel.name}' names layers {stored.names}, the network has"
                f" {workload.names}"
            )
        return stored, f"stored with the allocation for '{accel.name}'"
    try:
        return make_plan(workload, allocation, accel), f"computed by hwsim from '{accel.name}'"
    except HwsimError as exc:
        raise CodegenError(str(exc)) from None


def _parallelism(
    plan: ExportPlan, design: FpgaPlan | None, notes: list[str]
) -> dict[str, Parallelism]:
    out: dict[str, Parallelism] = {}
    for p in plan.mac_nodes():
        layer = p.params["layer"]
        if design is None or layer not in design.names:
            out[layer] = Parallelism(1, "Latency")
            continue
        lp = design.layer(layer)
        rf = int(lp.rf)
        if lp.strategy == "Resource":
            w = p.params["weight"]
            snapped = snap_reuse(rf, int(np.prod(w.shape[1:])), int(w.shape[0]))
            if snapped != rf:
                notes.append(f"layer '{layer}': reuse factor {rf} snapped to legal {snapped}")
            rf = snapped
        out[layer] = Parallelism(rf, lp.strategy)
    if design is None:
        notes.append("no accelerator config: ReuseFactor 1, Strategy Latency for every layer")
    return out


def _part_and_clock(accel: AccelConfig | None) -> tuple[str, float]:
    if accel is None:
        return DEFAULT_PART, DEFAULT_CLOCK_NS
    part = getattr(getattr(accel.model.params, "part", None), "name", None) or DEFAULT_PART
    return str(part), 1e9 / float(accel.model.freq_hz)


def emit(
    qm: QuantModel,
    out_dir: str | os.PathLike,
    accel: AccelConfig | None = None,
    samples: np.ndarray | None = None,
    calib: np.ndarray | None = None,
    io_type: str | None = None,
    force: bool = False,
    backend: str = BACKEND,
    target_ii_cycles: float | None = None,
    progress: bool = True,
) -> EmitResult:
    """Write the hls4ml project for ``qm`` into ``out_dir`` and (with ``samples``) verify it.

    ``samples`` (N, *input_shape): held-out inputs C-simulated in float64 and compared with the
    emulation; any difference raises :class:`CodegenError` naming the first diverging layer and
    nothing is written. The project is built in a temporary sibling folder and renamed into place;
    an existing ``out_dir`` is replaced only with ``force``.
    """
    out = Path(out_dir)
    if out.exists() and not force:
        raise CodegenError(f"{out}: already exists (use --force to overwrite)")
    if io_type is not None and io_type not in ("io_stream", "io_parallel"):
        raise CodegenError(f"io type '{io_type}': expected io_stream or io_parallel")
    if target_ii_cycles is not None and accel is None:
        raise CodegenError("--target-ii needs an fpga_dataflow accelerator config (--accel)")
    allocation = qm.allocation
    if allocation is None:
        raise CodegenError("the export model carries no allocation")
    steps = ["plan", "design", "write"] + (["compile + C-sim"] if samples is not None else [])
    bar = tqdm(total=len(steps), desc="emit", disable=not progress, leave=False)
    notes: list[str] = []
    bar.set_postfix_str("plan")
    planned_io = io_type or "io_parallel"
    plan = build_plan(qm, calib if calib is not None else samples, planned_io)  # the one trace
    bar.update()
    bar.set_postfix_str("design")
    budget: FpgaPlan | None = None
    design: FpgaPlan | None = None
    workload = None
    if accel is not None:
        workload = plan.workload()
        budget, origin = budgeted_plan(workload, allocation, accel)
        notes.append(f"budgeted design: {origin}")
        design = budget
        want_io = io_type or budget.io_type
        want_ii = target_ii_cycles if target_ii_cycles is not None else budget.target_ii_cycles
        if want_io != budget.io_type or want_ii != budget.target_ii_cycles:
            try:
                design = make_plan(workload, allocation, accel, want_ii, want_io)
            except HwsimError as exc:
                raise CodegenError(str(exc)) from None
        io_type = design.io_type
    elif io_type is None:
        io_type = choose_io_type(plan)
    if io_type != planned_io:
        check_modules(plan.model, io_type)  # io-type-specific pre-flight checks, no retrace
    notes.extend(plan.notes)
    floats = float_layer_lines(plan, budget)
    notes.extend(floats)
    par = _parallelism(plan, design, notes)
    da_layers = [name for name, pr in par.items() if pr.strategy == DA]
    if da_layers and da4ml_missing():
        raise CodegenError(
            f"layer '{da_layers[0]}' uses the {DA} strategy, which needs da4ml"
            " (pip install 'edmips[da]', or pip install da4ml==0.6.0)"
        )
    bar.update()
    part, clock = _part_and_clock(accel)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        bar.set_postfix_str("write")
        hm = write_project(plan, tmp, par, io_type, part, clock, backend)
        emitted: FpgaPlan | None = None
        differs: list[str] = []
        if accel is not None and budget is not None and workload is not None:
            written = {
                p.params["layer"]: (int(p.params["reuse_factor"]), str(p.params["strategy"]))
                for p in plan.mac_nodes()
                if "reuse_factor" in p.params
            }
            emitted = plan_with_choices(
                workload, allocation, accel, io_type, written, design.target_ii_cycles
            )
            differs = diff_totals(budget, emitted)
            if differs:
                notes.insert(
                    0,
                    "the firmware differs from the budgeted (searched and simulated) design: "
                    + "; ".join(differs),
                )
        bar.update()
        result_verify = None
        if samples is not None:
            bar.set_postfix_str("compile + C-sim")
            result_verify = verify(plan, hm, tmp, samples)
            bar.update()
            if not result_verify.ok:
                raise CodegenError(result_verify.line())
        if samples is not None:
            _write_testbench_data(plan, tmp, samples)
        _clean_build_products(tmp)
        _fix_paths(tmp, out)
        result = EmitResult(
            out,
            plan,
            io_type,
            backend,
            part,
            clock,
            budget,
            emitted,
            result_verify,
            accel.name if accel else None,
            notes,
            differs=differs,
            float_layers=floats,
        )
        result.report = render_report(result, tmp)
        atomic_write_text(tmp / "emit_report.md", result.report)
        atomic_write_text(tmp / "emit.json", json.dumps(_summary(result), indent=2) + "\n")
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    return result


def clean_stale_temps(out: Path) -> list[Path]:
    """Remove ``.<name>.tmp-<pid>`` / ``.<name>.old-<pid>`` siblings of ``out`` left by an emit
    that was killed (its process no longer runs); return what was removed."""
    removed = []
    for p in out.parent.glob(f".{out.name}.*-*"):
        kind, _, pid = p.name[len(out.name) + 2 :].partition("-")
        if kind not in ("tmp", "old") or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running (another emit into the same folder)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # a live process of another user
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _write_testbench_data(plan: ExportPlan, project: Path, samples: np.ndarray) -> None:
    """tb_data/ for the HLS C simulation / co-simulation testbench: inputs (cast to the input
    type, hls4ml layout) and the bit-exact emulated outputs, one sample per line."""
    xq = plan.input_type.cast(np.asarray(samples[:TB_SAMPLES], dtype=np.float64))
    y, _ = emulate(plan, xq)
    tb = project / "tb_data"
    tb.mkdir(exist_ok=True)
    for name, arr in (("tb_input_features.dat", xq), ("tb_output_predictions.dat", y)):
        flat = channels_last(arr).reshape(arr.shape[0], -1)
        text = "\n".join(" ".join(f"{v:.17g}" for v in row) for row in flat) + "\n"
        atomic_write_text(tb / name, text)


def _clean_build_products(project: Path) -> None:
    """Remove the C-sim shared library and objects (they embed the temporary path)."""
    for p in list(project.glob("firmware/*.so")) + list(project.glob("*.o")):
        p.unlink()


def _fix_paths(tmp: Path, out: Path) -> None:
    """Point text files that recorded the temporary folder at the final one."""
    old, new = str(tmp.resolve()), str(out.resolve())
    for p in [*tmp.glob("*.yml"), *tmp.glob("*.tcl"), *tmp.glob("*.sh")]:
        text = p.read_text()
        if old in text:
            p.write_text(text.replace(old, new))


def _summary(r: EmitResult) -> dict[str, Any]:
    layers = []
    for p in r.plan.nodes:
        row: dict[str, Any] = {
            "name": p.name,
            "op": p.op,
            "module": p.module,
            "types": {k: v.hls() for k, v in p.types.items()},
        }
        if p.params.get("layer") is not None:
            layer = p.params["layer"]
            row["reuse_factor"] = p.params.get("reuse_factor")
            row["strategy"] = p.params.get("strategy")
            if "da4ml_lut" in p.params:
                row["da4ml_lut"] = p.params["da4ml_lut"]
            for label, design in (("budgeted", r.budgeted), ("emitted", r.emitted)):
                if design is not None and layer in design.names:
                    row[label] = asdict(design.layer(layer))
        layers.append(row)
    return {
        "budgeted": r.budgeted.to_dict() if r.budgeted else None,
        "emitted": r.emitted.to_dict() if r.emitted else None,
        "emitted_totals": r.emitted.totals() if r.emitted else None,
        "budgeted_totals": r.budgeted.totals() if r.budgeted else None,
        "differs": r.differs,
        "float_layers": r.float_layers,
        "io_type": r.io_type,
        "backend": r.backend,
        "part": r.part,
        "clock_period_ns": r.clock_period_ns,
        "accelerator": r.accel_name,
        "verify": r.verify.to_dict() if r.verify else None,
        "layers": layers,
        "notes": r.notes,
    }
