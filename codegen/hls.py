"""hls4ml configuration and project writing for an :class:`ExportPlan`."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from typing import Any

from .errors import CodegenError
from .ops import OPS, hls_handlers
from .plan import ExportPlan

PROJECT = "myproject"
BACKEND = "Vitis"


@dataclass(frozen=True)
class Parallelism:
    """ReuseFactor and Strategy of one conv/dense layer (hls4ml names)."""

    reuse_factor: int = 1
    strategy: str = "Latency"


DA = "distributed_arithmetic"


def plan_strategy(hls_strategy: str) -> str:
    """The FPGA plan's name of a strategy hls4ml wrote (``latency`` -> ``Latency``,
    ``resource`` -> ``Resource``, ``distributed_arithmetic`` as is)."""
    s = hls_strategy.lower()
    if s in (DA, "da"):
        return DA
    return s[:1].upper() + s[1:]


def da4ml_missing() -> bool:
    """True when da4ml (hls4ml's distributed-arithmetic backend) cannot be imported."""
    import importlib.util

    return importlib.util.find_spec("da4ml") is None


def legal_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """Reuse factors hls4ml accepts under the Resource strategy (its own validation rule)."""
    from hls4ml.backends import get_backend

    return list(get_backend(BACKEND).get_valid_reuse_factors(n_in, n_out))


def snap_reuse(rf: int, n_in: int, n_out: int) -> int:
    """The legal reuse factor closest to ``rf`` (ties: the smaller), by hls4ml's own rule.

    hwsim's chooser already returns legal values (``hwsim.reuse`` re-implements the rule without
    hls4ml); asking hls4ml itself here guards the written project against the two drifting apart.
    """
    legal = legal_reuse_factors(n_in, n_out)
    return min(legal, key=lambda r: (abs(r - rf), r))


def hls_config(
    plan: ExportPlan, parallel: dict[str, Parallelism], io_type: str, backend: str = BACKEND
) -> dict[str, Any]:
    """An hls4ml config (granularity 'name') with an explicit precision for every layer."""
    import hls4ml

    from .hls_ext import register

    register(hls_handlers())
    with contextlib.redirect_stdout(io.StringIO()):
        cfg = hls4ml.utils.config_from_pytorch_model(
            plan.model,
            tuple(plan.input_shape),
            granularity="name",
            backend=backend,
            default_precision="ap_fixed<16,6>",
            default_reuse_factor=1,
            channels_last_conversion="internal",
        )
    names = {k.lower(): k for k in cfg["LayerName"]}
    cfg["Model"]["Strategy"] = "Latency"
    for p in plan.nodes:
        key = names.get(p.name.lower())
        if key is None:
            continue
        entry = cfg["LayerName"][key]
        prec = entry.setdefault("Precision", {})
        if not isinstance(prec, dict):
            prec = entry["Precision"] = {}
        for k in OPS[p.op].precision:
            if k in p.types:
                prec[k] = p.types[k].hls()
        entry["Trace"] = True
        if OPS[p.op].mac:
            par = parallel.get(p.params["layer"], Parallelism())
            entry["ReuseFactor"] = int(par.reuse_factor)
            entry["Strategy"] = par.strategy
    # any layer still carrying 'auto' or the default type would silently change numerics
    for lname, entry in cfg["LayerName"].items():
        prec = entry.get("Precision", {})
        if isinstance(prec, dict):
            for k, v in prec.items():
                if k == "result" and v == "auto" and lname not in {p.name for p in plan.nodes}:
                    raise CodegenError(f"hls4ml layer '{lname}': no planned type for '{k}'")
    return cfg


def write_project(
    plan: ExportPlan,
    out_dir: str | os.PathLike,
    parallel: dict[str, Parallelism],
    io_type: str,
    part: str,
    clock_period_ns: float,
    backend: str = BACKEND,
) -> Any:
    """Convert with hls4ml and write the project into ``out_dir``; return the hls4ml model.

    Checks that every planned layer survived conversion (no BatchNorm fusion or dropped layer).
    """
    import hls4ml

    cfg = hls_config(plan, parallel, io_type, backend)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            hm = hls4ml.converters.convert_from_pytorch_model(
                plan.model,
                hls_config=cfg,
                output_dir=os.fspath(out_dir),
                project_name=PROJECT,
                backend=backend,
                io_type=io_type,
                part=part,
                clock_period=clock_period_ns,
            )
            hm.config.trace_output = True  # trace hooks are guarded by #ifndef __SYNTHESIS__
            hm.write()
    except CodegenError:
        raise
    except Exception as exc:  # noqa: BLE001 - converter failures become one line
        if os.environ.get("EDMIPS_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CodegenError(f"hls4ml could not convert the model: {first}") from None
    got = {layer.name.lower() for layer in hm.get_layers()}
    for p in plan.nodes:
        if not OPS[p.op].hls_may_drop and p.name.lower() not in got:
            raise CodegenError(
                f"layer '{p.name}' ({p.op}) disappeared during hls4ml conversion (fused or"
                " dropped): its numerics would differ"
            )
    for layer in hm.get_layers():
        if layer.class_name in (
            "Conv2D",
            "DepthwiseConv2D",
            "PointwiseConv2D",
            "Dense",
            "Conv1D",
            "Conv2DBatchnorm",
        ) and layer.name.lower() in {p.name.lower() for p in plan.nodes}:
            p = plan.node(next(n.name for n in plan.nodes if n.name.lower() == layer.name.lower()))
            par = parallel.get(p.params["layer"], Parallelism())
            p.params["reuse_factor"] = int(layer.get_attr("reuse_factor", par.reuse_factor))
            strategy = str(layer.get_attr("strategy", par.strategy))
            p.params["strategy"] = plan_strategy(strategy)
            if "da_kernel_cost" in layer.attributes:
                # da4ml's adder-graph cost (LUTs) for this layer's trained weights
                p.params["da4ml_lut"] = float(layer.attributes["da_kernel_cost"])
    return hm
