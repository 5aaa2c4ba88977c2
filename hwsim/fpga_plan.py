"""The FPGA plan: the one hls4ml-style design that is budgeted, simulated and emitted.

A plan fixes, for one network (workload), allocation and ``fpga_dataflow`` accelerator config:

* the io type (``io_stream`` or ``io_parallel``),
* per layer the reuse factor and strategy (chosen by the config's ``reuse`` policy, see
  :meth:`hwsim.models.fpga_dataflow.FpgaDataflow.reuse_factors`),
* per layer the weight and activation widths the hardware runs it at, float layers included
  (read from the allocation's format records, :class:`hwsim.formats.LayerFormat`; a float layer
  runs at ``hwsim.formats.FLOAT_LAYER_BITS`` and codegen emits its weights and its input at
  exactly these widths),
* per layer the FIFO depth of its output stream under io_stream (hls4ml 1.3.0's default: one
  entry per output pixel, ``prod(shape) // channels``, ``backends/fpga/fpga_types.py``),
* and hwsim's prediction for each stage: II and latency (cycles per image), LUT, DSP and
  BRAM_18K counts.

It is computed once (:func:`make_plan`) by the same functions ``simulate`` and the search's cost
tables call, stored with the allocation (:attr:`hwsim.Allocation.fpga_plans`), and applied
unchanged by :meth:`FpgaPlan.as_config` (a config whose reuse policy is ``fixed`` with every
layer's RF/strategy as an override), which is what ``simulate`` and ``emit`` run.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from .config import AccelConfig, parse_config
from .errors import HwsimError
from .models.fpga_dataflow import DA, design_ii, stage_costs, top_extra_cycles
from .reuse import check_overrides

if TYPE_CHECKING:
    from .allocation import Allocation
    from .workload import Workload

PLAN_VERSION = 1
IO_TYPES = ("io_stream", "io_parallel")
STRATEGIES = ("Latency", "Resource", DA)
COST_KEYS = ("ii_cycles", "latency_cycles", "lut", "dsp", "bram_18k")


class PlanError(HwsimError):
    """A plan that cannot be built, read or applied (names the key or layer at fault)."""


@dataclass(frozen=True)
class LayerPlan:
    """One conv/linear stage of the design (cycles per image, resource counts, widths in bits)."""

    name: str
    rf: int
    strategy: str
    w_bits: int
    a_bits: int
    float_layer: bool
    stream_depth: int
    ii_cycles: float
    latency_cycles: float
    lut: float
    dsp: float
    bram_18k: float


@dataclass
class FpgaPlan:
    """The design of one network on one FPGA config (see the module docstring).

    ``target_ii_cycles``: the throughput target the reuse factors were chosen for (cycles per
    image), or None under the ``fixed`` policy. ``latency_cycles``: the latency of one image
    along the workload graph's critical path; ``ii_cycles``: the design's II (the slowest
    stage's, +1 under io_stream: :func:`hwsim.models.fpga_dataflow.design_ii`).
    """

    accel: str
    part: str
    clock_period_ns: float
    io_type: str
    target_ii_cycles: float | None
    layers: list[LayerPlan]
    latency_cycles: float
    version: int = PLAN_VERSION
    notes: list[str] = field(default_factory=list)

    # ---- lookups ----
    def layer(self, name: str) -> LayerPlan:
        for lp in self.layers:
            if lp.name == name:
                return lp
        raise PlanError(f"plan for '{self.accel}' has no layer '{name}'")

    @property
    def names(self) -> list[str]:
        return [lp.name for lp in self.layers]

    @property
    def ii_cycles(self) -> float:
        """The design's II (cycles per image) from its stages' (:func:`design_ii`)."""
        return design_ii(np.array([lp.ii_cycles for lp in self.layers]), self.io_type)

    def totals(self) -> dict[str, float]:
        """``lut``, ``dsp``, ``bram_18k`` (sums), ``ii_cycles`` (the design's) and
        ``latency_cycles``."""
        t = {
            k: float(sum(getattr(lp, k) for lp in self.layers)) for k in ("lut", "dsp", "bram_18k")
        }
        t["ii_cycles"] = float(self.ii_cycles)
        t["latency_cycles"] = float(self.latency_cycles)
        return t

    def check_allocation(self, allocation: Allocation) -> None:
        """Raise :class:`PlanError` when ``allocation``'s widths are not the plan's."""
        for lp in self.layers:
            bits = allocation.bits.get(lp.name)
            if bits is None:
                raise PlanError(
                    f"plan for '{self.accel}': layer '{lp.name}' is not in the allocation"
                )
            if tuple(bits) != (lp.w_bits, lp.a_bits):
                raise PlanError(
                    f"plan for '{self.accel}': layer '{lp.name}' planned at {lp.w_bits}/{lp.a_bits}"
                    f" bits, the allocation has {bits[0]}/{bits[1]}"
                )
        extra = set(allocation.bits) - set(self.names)
        if extra:
            raise PlanError(
                f"plan for '{self.accel}': the allocation has layer '{sorted(extra)[0]}', the plan not"
            )

    # ---- applying ----
    def as_config(self, config: AccelConfig) -> AccelConfig:
        """``config`` with this plan's io type and every layer's RF/strategy fixed (policy
        ``fixed``, one override per layer): simulating it reproduces the plan exactly."""
        _check_fpga(config)
        raw = copy.deepcopy(config.raw)
        raw["io_type"] = self.io_type
        reuse = dict(raw.get("reuse") or {})
        reuse.update(
            policy="fixed",
            target_ii_cycles=self.target_ii_cycles,
            overrides={lp.name: {"rf": lp.rf, "strategy": lp.strategy} for lp in self.layers},
        )
        raw["reuse"] = reuse
        return parse_config(raw, source=f"{config.source} (plan)")

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = {
            lp["name"]: {k: v for k, v in lp.items() if k != "name"} for lp in d["layers"]
        }
        return d

    @classmethod
    def from_dict(cls, raw: Any, source: str = "fpga_plan", prefix: str = "") -> FpgaPlan:
        """Parse :meth:`to_dict` output; errors name ``source`` and the key path (``prefix`` is
        prepended to it, e.g. ``"fpga_plans.fpga_xc7z020."``)."""

        def err(key: str, what: str) -> PlanError:
            return PlanError(f"{source}: key '{prefix}{key}': {what}")

        if not isinstance(raw, dict):
            raise PlanError(f"{source}: {prefix.rstrip('.') or 'plan'}: expected a mapping")
        if raw.get("version") != PLAN_VERSION:
            raise err("version", f"expected {PLAN_VERSION}, got {raw.get('version')!r}")
        for key in ("accel", "part", "clock_period_ns", "io_type", "layers", "latency_cycles"):
            if key not in raw:
                raise err(key, "missing")
        if raw["io_type"] not in IO_TYPES:
            raise err("io_type", f"expected one of {', '.join(IO_TYPES)}, got {raw['io_type']!r}")
        layers_raw = raw["layers"]
        if not isinstance(layers_raw, dict) or not layers_raw:
            raise err("layers", "expected a mapping layer -> stage")
        fields = [f for f in LayerPlan.__dataclass_fields__ if f != "name"]
        layers = []
        for name, entry in layers_raw.items():
            where = f"layers.{name}"
            if not isinstance(entry, dict) or set(entry) != set(fields):
                raise err(where, f"expected keys {', '.join(fields)}")
            if entry["strategy"] not in STRATEGIES:
                raise err(
                    f"{where}.strategy",
                    f"expected one of {', '.join(STRATEGIES)}, got {entry['strategy']!r}",
                )
            for k in ("rf", "w_bits", "a_bits", "stream_depth"):
                v = entry[k]
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise err(f"{where}.{k}", f"expected a positive integer, got {v!r}")
            for k in COST_KEYS:
                v = entry[k]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                    raise err(f"{where}.{k}", f"expected a non-negative number, got {v!r}")
            if not isinstance(entry["float_layer"], bool):
                raise err(
                    f"{where}.float_layer", f"expected true or false, got {entry['float_layer']!r}"
                )
            layers.append(LayerPlan(name=str(name), **{k: entry[k] for k in fields}))
        tgt = raw.get("target_ii_cycles")
        return cls(
            accel=str(raw["accel"]),
            part=str(raw["part"]),
            clock_period_ns=float(raw["clock_period_ns"]),
            io_type=str(raw["io_type"]),
            target_ii_cycles=None if tgt is None else float(tgt),
            layers=layers,
            latency_cycles=float(raw["latency_cycles"]),
            notes=[str(n) for n in raw.get("notes", []) or []],
        )


def _check_fpga(config: AccelConfig) -> None:
    if config.type != "fpga_dataflow":
        raise PlanError(
            f"{config.source}: an FPGA plan needs an fpga_dataflow config, got type '{config.type}'"
        )


def with_target(
    config: AccelConfig, target_ii_cycles: float | None = None, io_type: str | None = None
) -> AccelConfig:
    """``config`` with an explicit throughput target (policy ``target_ii``) and/or io type."""
    _check_fpga(config)
    if io_type is not None and io_type not in IO_TYPES:
        raise PlanError(f"io_type: expected io_stream or io_parallel, got {io_type!r}")
    if target_ii_cycles is not None and not (
        isinstance(target_ii_cycles, (int, float))
        and math.isfinite(target_ii_cycles)
        and target_ii_cycles > 0
    ):
        raise PlanError(
            f"target_ii_cycles: expected a positive number of cycles, got {target_ii_cycles!r}"
        )
    if target_ii_cycles is None and io_type is None:
        return config
    raw = copy.deepcopy(config.raw)
    if io_type is not None:
        raw["io_type"] = io_type
    if target_ii_cycles is not None:
        reuse = dict(raw.get("reuse") or {})
        reuse.update(policy="target_ii", target_ii_cycles=float(target_ii_cycles))
        raw["reuse"] = reuse
    return parse_config(raw, source=config.source)


def stream_depths(workload: Workload) -> np.ndarray:
    """hls4ml 1.3.0's default FIFO depth of each layer's output stream: its output pixels."""
    return np.asarray(
        [1 if lyr.kind == "linear" else int(np.prod(lyr.out_hw)) for lyr in workload.layers]
    )


def make_plan(
    workload: Workload,
    allocation: Allocation,
    config: AccelConfig,
    target_ii_cycles: float | None = None,
    io_type: str | None = None,
) -> FpgaPlan:
    """The design of ``workload`` at ``allocation`` on the fpga_dataflow ``config``.

    ``target_ii_cycles`` (cycles per image) replaces the config's reuse policy by ``target_ii``
    with that target; ``io_type`` replaces the config's io type. Reuse factors come from the
    model's own policy (the function the search's cost tables and ``simulate`` call), costs from
    its stage formulas, so ``simulate(workload, allocation, config)`` reports the same numbers.
    """
    cfg = with_target(config, target_ii_cycles, io_type)
    model = cfg.model
    p = model.params
    check_overrides(workload, cfg)
    w, a = allocation.arrays(workload)
    L = workload.arrays()
    rf, res, da = model.reuse_factors(L, w, a)
    c = stage_costs(p, L, w, a, rf, res, p.io_type, da=da)
    depths = stream_depths(workload)
    layers = []
    for i, name in enumerate(workload.names):
        fmt = allocation.formats[name]
        layers.append(
            LayerPlan(
                name=name,
                rf=int(rf[i]),
                strategy=DA if bool(da[i]) else ("Resource" if bool(res[i]) else "Latency"),
                w_bits=fmt.w_bits,
                a_bits=fmt.a_bits,
                float_layer=fmt.float_layer,
                stream_depth=int(depths[i]),
                **{k: float(c[k][i]) for k in COST_KEYS},
            )
        )
    lat = {lp.name: lp.latency_cycles for lp in layers}
    longest: dict[str, float] = {}
    g = workload.graph
    for n in nx.topological_sort(g):
        longest[n] = lat[n] + max((longest[q] for q in g.predecessors(n)), default=0.0)
    notes = []
    if p.reuse.policy == "target_ii":
        extra = top_extra_cycles(p.io_type)
        slow = [lp.name for lp in layers if lp.ii_cycles + extra > p.reuse.target_ii_cycles]
        if slow:
            notes.append(
                f"layers {', '.join(slow)} miss the target II of {p.reuse.target_ii_cycles:g} cycles"
                " even at RF 1"
            )
    return FpgaPlan(
        accel=cfg.name,
        part=p.part.name,
        clock_period_ns=1e3 / p.tech.freq_mhz,
        io_type=p.io_type,
        target_ii_cycles=p.reuse.target_ii_cycles if p.reuse.policy == "target_ii" else None,
        layers=layers,
        latency_cycles=float(max(longest.values())),
        notes=notes,
    )


def diff_totals(budgeted: FpgaPlan, emitted: FpgaPlan) -> list[str]:
    """One phrase per total that differs (``"LUT 1598 -> 41945 (x26.2)"``); empty when equal."""
    out = []
    b, e = budgeted.totals(), emitted.totals()
    labels = {
        "lut": "LUT",
        "dsp": "DSP",
        "bram_18k": "BRAM18K",
        "ii_cycles": "II (cycles)",
        "latency_cycles": "latency (cycles)",
    }
    if budgeted.io_type != emitted.io_type:
        out.append(f"io type {budgeted.io_type} -> {emitted.io_type}")
    for k, label in labels.items():
        if b[k] != e[k]:
            ratio = f" (x{e[k] / b[k]:.3g})" if b[k] else ""
            out.append(f"{label} {b[k]:.0f} -> {e[k]:.0f}{ratio}")
    nrf = sum(
        1
        for lb, le in zip(budgeted.layers, emitted.layers)
        if (lb.rf, lb.strategy) != (le.rf, le.strategy)
    )
    if nrf:
        out.append(f"reuse factor/strategy of {nrf} of {len(budgeted.layers)} layers")
    return out


def plan_with_choices(
    workload: Workload,
    allocation: Allocation,
    config: AccelConfig,
    io_type: str,
    choices: dict[str, tuple[int, str]],
    target_ii_cycles: float | None = None,
) -> FpgaPlan:
    """The plan of a design whose per-layer ``(rf, strategy)`` are given (e.g. what a firmware
    generator actually wrote), costed by the same model; layers not in ``choices`` keep the
    config's policy. ``target_ii_cycles`` is only recorded."""
    _check_fpga(config)
    raw = copy.deepcopy(config.raw)
    raw["io_type"] = io_type
    reuse = dict(raw.get("reuse") or {})
    overrides = dict(reuse.get("overrides") or {})
    overrides.update({n: {"rf": int(rf), "strategy": str(s)} for n, (rf, s) in choices.items()})
    reuse["overrides"] = overrides
    raw["reuse"] = reuse
    plan = make_plan(workload, allocation, parse_config(raw, source=config.source))
    plan.target_ii_cycles = target_ii_cycles
    return plan
