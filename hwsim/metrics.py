"""The metric registry: one record per network figure the tools budget, report or compare.

Every consumer reads this table: the search's cost and budgets (``search.cost``,
``search.budget``: which metrics a ``--target METRIC=VALUE`` may name, their units, how their
layers combine), :func:`hwsim.simulate`'s report totals, the ``hwsim`` side-by-side table, the
run report and the pareto study of ``edmips``, and the ``--metric`` choices and help of both CLIs.
Adding a metric is one :class:`Metric` entry in :data:`REGISTRY` (see the README, "Adding an
accelerator kind, a metric").

A metric's per-layer values are the cost-table key(s) :attr:`Metric.keys` of
:func:`hwsim.cost_tables` (one array ``[layers, w bits, a bits]`` each). Its network figure:

* ``aggregate="sum"``: the layers' sum (a layer-by-layer engine, or resources of a pipeline);
  ``pipeline_max=True`` makes it the slowest stage's value on a pipelined dataflow design (the
  search's smooth maximum of latency: the slowest stage sets the throughput);
* ``parts``: a composite, the product of its parts' *network* figures (EDP = energy x latency,
  the two totals multiplied, not the per-layer products summed).

BitOps (Cai & Vasconcelos, "Rethinking differentiable search for mixed-precision neural
networks", CVPR 2020: MACs x weight bits x activation bits) is computed only by :func:`bitops`;
it needs no accelerator (:attr:`Metric.accel_free`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import HwsimError

if TYPE_CHECKING:
    from .workload import LayerArrays, Workload

SI_COUNT: dict[str, float] = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
"""Suffixes of a count (LUTs, bit-ops, ...) in a target: ``lut=60k``."""


def bitops(macs: np.ndarray, w_bits: np.ndarray, a_bits: np.ndarray) -> np.ndarray:
    """BitOps of a layer (elementwise, broadcasting): MACs x weight bits x activation bits."""
    return np.asarray(macs, dtype=np.float64) * w_bits * a_bits


def bitops_table(workload: Workload, w_bits: Sequence[int], a_bits: Sequence[int]) -> np.ndarray:
    """``[L, nW, nA]`` BitOps of every layer of ``workload`` at every candidate pair."""
    L = workload.arrays().reshape((len(workload), 1, 1))
    w = np.asarray(list(w_bits), dtype=np.float64).reshape(1, -1, 1)
    a = np.asarray(list(a_bits), dtype=np.float64).reshape(1, 1, -1)
    return bitops(L.macs, w, a)


def _bitops_of(L: LayerArrays, w: np.ndarray, a: np.ndarray) -> np.ndarray:
    return bitops(L.macs, w, a)


@dataclass(frozen=True)
class Metric:
    """One network figure. Units are the per-layer table's (:attr:`unit`) and the report
    total's (:attr:`total_unit`); :attr:`total_scale` converts the former to the latter.

    ``name``: what users type (``--metric``, ``--target name=...``). ``keys``: the cost-table
    key(s) of its per-layer values (for a composite, the union of its parts' keys).
    ``aggregate``: ``sum`` (the layers' sum) or ``product`` (a composite: the product of the
    network figures of ``parts``, other metrics' names); ``pipeline_max``: on a pipelined
    design the search takes the slowest stage instead of the sum. ``description``: one line
    for people.
    ``total``: its key in :attr:`hwsim.Report.totals`; ``per_inference``: that total is divided
    by the batch. ``label``: the column header of the run report (``None``: not shown there);
    ``compare``: ``(header, scale)`` of the ``hwsim`` side-by-side table (``None``: not shown).
    ``target_units``: accepted target units -> factor to :attr:`unit` (empty: a count with
    :data:`SI_COUNT` suffixes); ``default_unit``: the unit of a bare number (``None``: a unit is
    required, unless the metric is a count). ``print_units``: ``(unit, factor)`` from the
    largest, to print a value in the first unit it reaches (empty: ``{value:.6g} {unit}``).
    ``budget``: a cost a search may budget (False for a figure of merit such as throughput).
    ``universal``: every accelerator kind reports it (False: e.g. FPGA resources).
    ``accel_free``: per-layer values without an accelerator, ``f(LayerArrays, w, a)``.
    """

    name: str
    keys: tuple[str, ...]
    unit: str
    total: str
    total_unit: str
    description: str
    aggregate: Literal["sum", "product"] = "sum"
    parts: tuple[str, ...] = ()
    pipeline_max: bool = False
    per_inference: bool = False
    total_scale: float = 1.0
    label: str | None = None
    compare: tuple[str, float] | None = None
    target_units: Mapping[str, float] = field(default_factory=dict)
    default_unit: str | None = None
    print_units: tuple[tuple[str, float], ...] = ()
    budget: bool = True
    universal: bool = True
    accel_free: Callable[[LayerArrays, np.ndarray, np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if (self.aggregate == "product") != bool(self.parts):
            raise HwsimError(
                f"metric '{self.name}': aggregate 'product' goes with parts (the metrics"
                f" multiplied), 'sum' with none; got {self.aggregate!r} and parts {self.parts}"
            )
        if not self.parts and self.budget and len(self.keys) != 1:
            raise HwsimError(f"metric '{self.name}': a summed metric has one table key")

    @property
    def composite(self) -> bool:
        """Whether the figure is the product of other metrics' network figures (EDP)."""
        return self.aggregate == "product"

    def format(self, value: float) -> str:
        """``value`` (in :attr:`unit`) for people: ``1.23 ms``, ``4.5 uJ``, ``60000 LUTs``."""
        if self.print_units:
            for unit, f in self.print_units:
                if abs(value) >= f:
                    return f"{value / f:.4g} {unit}"
            return f"{value:.4g} {self.unit}"
        return f"{value:.6g} {self.unit}"


_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_ENERGY = {"J": 1e12, "mJ": 1e9, "uJ": 1e6, "nJ": 1e3, "pJ": 1.0}

REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "latency",
            ("latency_s",),
            "s",
            "latency_s",
            "s",
            "time of one batch; pipelined designs: the slowest stage in a search, the critical"
            " path in a report",
            pipeline_max=True,
            label="latency (s)",
            compare=("latency (ms)", 1e3),
            target_units=_TIME,
            print_units=tuple(_TIME.items()),
        ),
        Metric(
            "throughput",
            (),
            "inferences/s",
            "inferences_per_s",
            "inferences/s",
            "inferences per second (a figure of merit, not a budget)",
            label="inferences/s",
            compare=("inf/s", 1.0),
            budget=False,
        ),
        Metric(
            "energy",
            ("energy_pj",),
            "pJ",
            "energy_per_inference_pj",
            "pJ",
            "energy (MAC, SRAM, DRAM, static)",
            per_inference=True,
            label="energy/inference (pJ)",
            compare=("energy/inf (uJ)", 1e-6),
            target_units=_ENERGY,
            print_units=tuple((u, f) for u, f in _ENERGY.items() if u != "pJ"),
        ),
        Metric(
            "edp",
            ("energy_pj", "latency_s"),
            "pJ*s",
            "edp_js",
            "J*s",
            "energy-delay product: network energy x network latency",
            aggregate="product",
            parts=("energy", "latency"),
            total_scale=1e-12,
            label="EDP (J*s)",
            compare=("EDP (uJ*ms)", 1e9),
            target_units={"Js": 1e12, "mJs": 1e9, "uJs": 1e6, "nJs": 1e3, "pJs": 1.0},
        ),
        Metric(
            "dram",
            ("dram_bytes",),
            "bytes",
            "dram_bytes",
            "bytes",
            "DRAM traffic",
            label="DRAM (bytes)",
            compare=("DRAM (KB)", 1e-3),
            target_units={
                "B": 1.0,
                "bytes": 1.0,
                "KB": 1e3,
                "MB": 1e6,
                "GB": 1e9,
                "KiB": 1024.0,
                "MiB": 2.0**20,
                "GiB": 2.0**30,
            },
            default_unit="B",
        ),
        Metric("lut", ("lut",), "LUTs", "lut", "LUTs", "FPGA LUTs", label="LUT", universal=False),
        Metric(
            "dsp", ("dsp",), "DSPs", "dsp", "DSPs", "FPGA DSP slices", label="DSP", universal=False
        ),
        Metric(
            "bram",
            ("bram_18k",),
            "BRAM18K",
            "bram_18k",
            "BRAM18K",
            "FPGA 18 Kib block RAMs",
            label="BRAM18K",
            universal=False,
        ),
        Metric(
            "bitops",
            ("bitops",),
            "bit-ops",
            "bitops",
            "bit-ops",
            "MACs x w x a, no accelerator needed",
            accel_free=_bitops_of,
        ),
    )
}
"""Every metric by name, in the order tables and help texts list them."""


class _CostView(Mapping[str, Metric]):
    """Live view of the metrics a search may budget (follows later :data:`REGISTRY` entries)."""

    def __getitem__(self, name: str) -> Metric:
        m = REGISTRY[name]
        if not m.budget:
            raise KeyError(name)
        return m

    def __iter__(self) -> Iterator[str]:
        return (n for n, m in REGISTRY.items() if m.budget)

    def __len__(self) -> int:
        return sum(1 for m in REGISTRY.values() if m.budget)


COSTS: Mapping[str, Metric] = _CostView()
"""The budgetable metrics (``--metric`` choices), a live view of :data:`REGISTRY`."""


def by_total(total: str) -> Metric | None:
    """The metric whose report total is ``total`` (e.g. ``latency_s``), or None."""
    return next((m for m in REGISTRY.values() if m.total == total), None)


def cost_names(*, hardware: bool | None = None, universal: bool | None = None) -> list[str]:
    """Names of the budgetable metrics, optionally only those that need an accelerator
    (``hardware=True``) and/or that every accelerator kind reports (``universal=True``)."""
    return [
        n
        for n, m in COSTS.items()
        if (hardware is None or (m.accel_free is None) == hardware)
        and (universal is None or m.universal == universal)
    ]


def help_text(names: Sequence[str] | None = None) -> str:
    """``latency (s), energy (pJ), ...`` for a CLI help line."""
    ms = [COSTS[n] for n in (names if names is not None else list(COSTS))]
    return ", ".join(
        f"{m.name} ({m.unit}{'' if m.accel_free is None else ', no accelerator'})" for m in ms
    )


def totals_help() -> str:
    """``latency (s), inferences/s, ...``: the network totals a report shows, for help texts."""
    return ", ".join(m.label for m in REGISTRY.values() if m.label is not None)


def network_totals(
    rows: Sequence[Mapping[str, float]], batch: int, totals: dict[str, float]
) -> None:
    """Add to ``totals`` (in place, already holding the schedule's ``latency_s`` and
    ``inferences_per_s``) every registered metric's network figure from per-layer ``rows``: a
    sum of its table key (divided by ``batch`` when per inference), or the product of its
    parts' totals for a composite. Metrics whose key the rows lack are left out."""
    for _ in range(2):  # a composite listed before one of its parts gets it on the second pass
        for m in REGISTRY.values():
            if m.total in totals:
                continue
            if m.composite:
                if all(REGISTRY[p].total in totals for p in m.parts):
                    v = totals[REGISTRY[m.parts[0]].total] * m.total_scale
                    for p in m.parts[1:]:
                        v *= totals[REGISTRY[p].total]
                    totals[m.total] = float(v)
            elif len(m.keys) == 1 and rows and m.keys[0] in rows[0]:
                s = float(sum(r[m.keys[0]] for r in rows))
                totals[m.total] = s / batch if m.per_inference else s
