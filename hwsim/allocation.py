"""Allocations: per-layer (weight bits, activation bits), plus which layers stay full precision."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import AllocationError
from .fileio import dump_structured, read_structured
from .fpga_plan import FpgaPlan, PlanError

ALLOCATION_VERSION = 2  # 2 adds 'fpga_plans'; version 1 files still load
READABLE_VERSIONS = (1, 2)
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
    last); the accelerator still runs them, at the bits given in ``bits`` (8/8 by convention).
    ``meta`` carries free-form provenance (search target, achieved cost, ...).
    ``fpga_plans``: accelerator config name -> the :class:`~hwsim.fpga_plan.FpgaPlan` of this
    allocation on that FPGA (the design budgeted, simulated and emitted).
    """

    bits: dict[str, tuple[int, int]]
    float_layers: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    fpga_plans: dict[str, FpgaPlan] = field(default_factory=dict)

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
        w = np.asarray([self.bits[n][0] for n in workload.names], dtype=np.float64)
        a = np.asarray([self.bits[n][1] for n in workload.names], dtype=np.float64)
        return w, a

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": ALLOCATION_VERSION,
            "layers": {n: {"w": w, "a": a} for n, (w, a) in self.bits.items()},
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
        return Allocation(dict(self.bits), list(self.float_layers), dict(self.meta), plans)

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
        bits = {}
        for name, entry in layers.items():
            if not isinstance(entry, dict) or set(entry) != {"w", "a"}:
                raise AllocationError(
                    f"{source}: key 'layers.{name}': expected {{w: bits, a: bits}}, got {entry!r}"
                )
            bits[name] = (entry["w"], entry["a"])
        floats = raw.get("float_layers", []) or []
        if not isinstance(floats, list):
            raise AllocationError(f"{source}: key 'float_layers': expected a list of layer names")
        meta = raw.get("meta", {}) or {}
        plans_raw = raw.get("fpga_plans", {}) or {}
        if not isinstance(plans_raw, dict):
            raise AllocationError(f"{source}: key 'fpga_plans': expected a mapping accel -> plan")
        try:
            alloc = cls(bits, [str(f) for f in floats], dict(meta))
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
