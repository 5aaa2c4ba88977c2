"""Allocations: per-layer (weight bits, activation bits) and format records, plus which layers
stay full precision (float layers, run by the hardware at ``hwsim.formats.FLOAT_LAYER_BITS``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import AllocationError
from .fileio import dump_structured, read_structured
from .formats import FORMAT_KEYS, LayerFormat, format_from_dict
from .fpga_plan import FpgaPlan, PlanError

# 2 adds 'fpga_plans'; 3 adds the format details of a layer entry (w_signed, a_signed, w_frac,
# a_frac). Version 1 and 2 files still load.
ALLOCATION_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
MAX_BITS = 32


def parse_bits(text: str) -> tuple[int, int]:
    """Parse ``"W/A"`` (e.g. ``"4/4"``) into (w_bits, a_bits)."""
    parts = str(text).split("/")
    try:
        if len(parts) != 2:
            raise ValueError
        w, a = int(parts[0]), int(parts[1])
    except ValueError:
        raise AllocationError(f"bits '{text}': expected W/A such as 4/4") from None
    for v in (w, a):
        if not 1 <= v <= MAX_BITS:
            raise AllocationError(f"bits '{text}': each width must be 1..{MAX_BITS}")
    return w, a


@dataclass
class Allocation:
    """Layer name -> (w_bits, a_bits).

    ``float_layers`` lists layers the network keeps in floating point (by default the first and
    last); the accelerator still runs them, at the bits given in ``bits`` (by the one rule,
    :data:`hwsim.formats.FLOAT_LAYER_BITS`, when the search or training made the allocation).
    ``formats``: layer name -> :class:`~hwsim.formats.LayerFormat`, the per-layer format record
    (always complete after construction: layers not given get a record with the widths of
    ``bits`` and unknown grids; given records must agree with ``bits`` and ``float_layers``).
    ``meta`` carries free-form provenance (search target, achieved cost, ...).
    ``fpga_plans``: accelerator config name -> the :class:`~hwsim.fpga_plan.FpgaPlan` of this
    allocation on that FPGA (the design budgeted, simulated and emitted).
    """

    bits: dict[str, tuple[int, int]]
    float_layers: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    fpga_plans: dict[str, FpgaPlan] = field(default_factory=dict)
    formats: dict[str, LayerFormat] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clean: dict[str, tuple[int, int]] = {}
        for name, pair in self.bits.items():
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise AllocationError(f"layer '{name}': expected (w_bits, a_bits), got {pair!r}")
            w, a = pair
            for label, v in (("w", w), ("a", a)):
                if (
                    isinstance(v, bool)
                    or not isinstance(v, (int, np.integer))
                    or not 1 <= v <= MAX_BITS
                ):
                    raise AllocationError(
                        f"layer '{name}': key '{label}': expected an integer 1..{MAX_BITS}, got {v!r}"
                    )
            clean[str(name)] = (int(w), int(a))
        self.bits = clean
        for name in self.float_layers:
            if name not in self.bits:
                raise AllocationError(f"float layer '{name}' has no bits entry")
        floats = set(self.float_layers)
        given = dict(self.formats)
        for name in given:
            if name not in self.bits:
                raise AllocationError(f"format record for layer '{name}', which has no bits entry")
        records: dict[str, LayerFormat] = {}
        for name, (w, a) in self.bits.items():
            rec = given.get(name)
            if rec is None:
                rec = LayerFormat(w, a, float_layer=name in floats)
            elif not isinstance(rec, LayerFormat):
                raise AllocationError(f"layer '{name}': expected a LayerFormat, got {rec!r}")
            elif rec.bits != (w, a) or rec.float_layer != (name in floats):
                raise AllocationError(
                    f"layer '{name}': format record {rec.w_bits}/{rec.a_bits}"
                    f"{' float' if rec.float_layer else ''} disagrees with the allocation's"
                    f" {w}/{a}{' float' if name in floats else ''}"
                )
            records[name] = rec
        self.formats = records

    # ---- constructors ----
    @classmethod
    def uniform(
        cls, workload: Any, w_bits: int, a_bits: int, float_layers: list[str] | None = None
    ) -> Allocation:
        """Every layer of ``workload`` at (w_bits, a_bits)."""
        return cls({name: (w_bits, a_bits) for name in workload.names}, list(float_layers or []))

    # ---- checks ----
    def validate(self, workload: Any) -> None:
        """Raise AllocationError naming the first missing or unknown layer."""
        names = workload.names
        known = set(names)
        for name in names:
            if name not in self.bits:
                raise AllocationError(
                    f"allocation has no entry for layer '{name}' of workload '{workload.name}'"
                )
        for name in self.bits:
            if name not in known:
                raise AllocationError(
                    f"allocation names layer '{name}', which workload '{workload.name}' does not have"
                )

    def arrays(self, workload: Any) -> tuple[np.ndarray, np.ndarray]:
        """(w_bits, a_bits) as float64 arrays in workload layer order."""
        self.validate(workload)
        w = np.asarray([self.formats[n].w_bits for n in workload.names], dtype=np.float64)
        a = np.asarray([self.formats[n].a_bits for n in workload.names], dtype=np.float64)
        return w, a

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": ALLOCATION_VERSION,
            "layers": {n: self.formats[n].to_dict() for n in self.bits},
            "float_layers": list(self.float_layers),
            "meta": self.meta,
            **(
                {"fpga_plans": {k: p.to_dict() for k, p in self.fpga_plans.items()}}
                if self.fpga_plans
                else {}
            ),
        }

    def with_plan(self, plan: FpgaPlan) -> Allocation:
        """A copy carrying ``plan`` (checked against these widths) under ``plan.accel``."""
        plan.check_allocation(self)
        plans = dict(self.fpga_plans)
        plans[plan.accel] = plan
        return Allocation(
            dict(self.bits), list(self.float_layers), dict(self.meta), plans, dict(self.formats)
        )

    def with_formats(self, formats: dict[str, LayerFormat]) -> Allocation:
        """A copy whose format records for the layers in ``formats`` are replaced (checked
        against the widths and float layers)."""
        records = {**self.formats, **formats}
        return Allocation(
            dict(self.bits),
            list(self.float_layers),
            dict(self.meta),
            dict(self.fpga_plans),
            records,
        )

    @classmethod
    def from_dict(cls, raw: Any, source: str = "allocation") -> Allocation:
        if not isinstance(raw, dict):
            raise AllocationError(f"{source}: expected a mapping with 'version' and 'layers'")
        version = raw.get("version")
        if version not in READABLE_VERSIONS:
            raise AllocationError(
                f"{source}: key 'version': expected one of {READABLE_VERSIONS}, got {version!r}"
            )
        layers = raw.get("layers")
        if not isinstance(layers, dict) or not layers:
            raise AllocationError(
                f"{source}: key 'layers': expected a mapping layer -> {{w: bits, a: bits}}"
            )
        floats = raw.get("float_layers", []) or []
        if not isinstance(floats, list):
            raise AllocationError(f"{source}: key 'float_layers': expected a list of layer names")
        allowed = {"w", "a"} | (set(FORMAT_KEYS) if version >= 3 else set())
        bits = {}
        records: dict[str, LayerFormat] = {}
        for name, entry in layers.items():
            if not isinstance(entry, dict) or not {"w", "a"} <= set(entry) <= allowed:
                raise AllocationError(
                    f"{source}: key 'layers.{name}': expected {{w: bits, a: bits"
                    + (", optional w_signed, a_signed, w_frac, a_frac" if version >= 3 else "")
                    + f"}}, got {entry!r}"
                )
            bits[name] = (entry["w"], entry["a"])
            if version >= 3 and set(entry) != {"w", "a"}:
                try:
                    records[str(name)] = format_from_dict(entry, str(name) in floats)
                except AllocationError as exc:
                    raise AllocationError(f"{source}: key 'layers.{name}': {exc}") from None
        meta = raw.get("meta", {}) or {}
        plans_raw = raw.get("fpga_plans", {}) or {}
        if not isinstance(plans_raw, dict):
            raise AllocationError(f"{source}: key 'fpga_plans': expected a mapping accel -> plan")
        try:
            alloc = cls(bits, [str(f) for f in floats], dict(meta), formats=records)
            for key, pr in plans_raw.items():
                plan = FpgaPlan.from_dict(pr, source=source, prefix=f"fpga_plans.{key}.")
                try:
                    alloc = alloc.with_plan(plan)
                except PlanError as exc:
                    raise PlanError(f"{source}: key 'fpga_plans.{key}': {exc}") from None
            return alloc
        except PlanError as exc:
            raise AllocationError(str(exc)) from None
        except AllocationError as exc:
            raise AllocationError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Allocation:
        return cls.from_dict(read_structured(path, AllocationError), source=os.fspath(path))

    def save(self, path: str | os.PathLike) -> None:
        dump_structured(path, self.to_dict())
