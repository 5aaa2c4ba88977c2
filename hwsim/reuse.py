"""Reuse factors of an hls4ml-style FPGA dataflow design: the legal values and their choice.

A layer with ``n_in`` inputs per output (kh*kw*C for a conv) and ``n_out`` outputs (filters)
needs ``n_in*n_out`` multiplications per output pixel. With reuse factor RF each multiplier is
used RF times, so the layer instantiates ``ceil(n_in*n_out/RF)`` multipliers and accepts a new
output pixel every RF cycles.

:func:`legal_reuse_factors` re-implements hls4ml 1.3.0's Resource-strategy rule
(``FPGABackend._validate_reuse_factor``; hwsim does not import hls4ml):

* ``(n_in*n_out) % RF == 0``, and
* either ``RF < n_in`` and ``ceil(n_in*n_out/RF) % n_out == 0``, or ``RF >= n_in`` and
  ``RF % n_in == 0``.

:func:`choose_reuse_factors` picks, per layer (the choice is separable), the candidate with the
fewest resources whose initiation interval (II, cycles per image) meets a target, or the
smallest common target II whose design fits a resource budget (bisection over the achievable
II values). Resources are compared as fractions of the part (LUT/LUT_part + DSP/DSP_part +
BRAM/BRAM_part), so no resource has an arbitrary weight.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import HwsimError

if TYPE_CHECKING:
    from .allocation import Allocation
    from .config import AccelConfig
    from .workload import LayerSpec, Workload

IoType = Literal["io_stream", "io_parallel"]
Strategy = Literal["Latency", "Resource"]
RESOURCES = ("lut", "dsp", "bram_18k")


class ReuseError(HwsimError):
    """A reuse-factor request that cannot be met (target II too small, budget too small)."""


def _check_sizes(n_in: int, n_out: int) -> None:
    for label, v in (("n_in", n_in), ("n_out", n_out)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ReuseError(f"{label}: expected a positive integer, got {v!r}")


@lru_cache(maxsize=4096)
def _legal(n_in: int, n_out: int) -> tuple[int, ...]:
    total = n_in * n_out
    root = math.isqrt(total)
    small = np.arange(1, root + 1, dtype=np.int64)
    small = small[total % small == 0]
    divs = np.unique(np.concatenate([small, total // small]))
    mult_limit = -(-total // divs)  # ceil(total / rf)
    ok = ((divs < n_in) & (mult_limit % n_out == 0)) | ((divs >= n_in) & (divs % n_in == 0))
    return tuple(int(r) for r in divs[ok])


def legal_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """Sorted reuse factors hls4ml 1.3.0 accepts under the Resource strategy (see module doc)."""
    _check_sizes(n_in, n_out)
    return list(_legal(int(n_in), int(n_out)))


def closest_reuse_factor(n_in: int, n_out: int, rf: int) -> int:
    """The legal RF closest to ``rf`` (a tie goes to the smaller one, as hls4ml does)."""
    valid = legal_reuse_factors(n_in, n_out)
    pos = bisect.bisect_left(valid, rf)
    if pos == 0:
        return valid[0]
    if pos == len(valid):
        return valid[-1]
    before, after = valid[pos - 1], valid[pos]
    return after if after - rf < rf - before else before


def layer_mult_size(layer: LayerSpec) -> tuple[int, int]:
    """hls4ml's (n_in, n_out) of a layer: (kh*kw*C/groups, filters) or (in, out features)."""
    return layer.reduction, layer.out_channels


@dataclass(frozen=True)
class ReuseChoice:
    """One layer's chosen reuse factor, with what it costs (per image; cycles, counts)."""

    rf: int
    strategy: Strategy
    ii_cycles: float
    latency_cycles: float
    lut: float
    dsp: float
    bram_18k: float


def _budget(config: AccelConfig, resource_budget: Mapping[str, float] | None) -> dict[str, float]:
    part = config.model.params.part
    budget = {"lut": float(part.lut), "dsp": float(part.dsp), "bram_18k": float(part.bram_18k)}
    if resource_budget is not None:
        for k, v in resource_budget.items():
            if k not in budget:
                raise ReuseError(
                    f"resource_budget: unknown resource '{k}' (known: {', '.join(RESOURCES)})"
                )
            if not isinstance(v, (int, float)) or v < 0:
                raise ReuseError(
                    f"resource_budget: '{k}': expected a non-negative number, got {v!r}"
                )
            budget[k] = float(v)
    return budget


def check_overrides(workload: Workload, config: AccelConfig) -> None:
    """Raise :class:`ReuseError` naming the first ``reuse.overrides`` entry for a layer that
    ``workload`` does not have (a typo would otherwise be silently ignored)."""
    overrides = getattr(getattr(config.model.params, "reuse", None), "overrides", {}) or {}
    known = set(workload.names)
    for name in overrides:
        if name not in known:
            raise ReuseError(
                f"{config.source}: key 'reuse.overrides.{name}': workload '{workload.name}' has no layer '{name}'"
            )


def reuse_plan(
    workload: Workload,
    allocation: Allocation,
    config: AccelConfig,
    target_ii_cycles: float | None = None,
    resource_budget: Mapping[str, float] | None = None,
    io_type: IoType | None = None,
) -> dict[str, ReuseChoice]:
    """Per-layer :class:`ReuseChoice` (see :func:`choose_reuse_factors`)."""
    from .models.fpga_dataflow import FpgaDataflow, candidate_table

    model = config.model
    if not isinstance(model, FpgaDataflow):
        raise ReuseError(
            f"{config.source}: reuse factors need an fpga_dataflow config, got type '{config.type}'"
        )
    if io_type is not None and io_type not in ("io_stream", "io_parallel"):
        raise ReuseError(f"io_type: expected 'io_stream' or 'io_parallel', got {io_type!r}")
    io = io_type or model.params.io_type
    check_overrides(workload, config)
    w, a = allocation.arrays(workload)
    L = workload.arrays()
    names = workload.names
    budget = _budget(config, resource_budget)
    tab = candidate_table(model.params, L, w, a, io)  # {metric: [L, K]}, invalid entries inf
    cost = sum(tab[k] / max(budget[k], 1e-9) for k in RESOURCES)
    cost = np.where(tab["valid"], cost, np.inf)
    ii = np.where(tab["valid"], tab["ii_cycles"], np.inf)

    def pick(target: float) -> np.ndarray:
        c = np.where(ii <= target, cost, np.inf)
        # ties (equal resources) go to the smaller II
        c = c + 1e-12 * np.where(
            np.isfinite(ii), ii / np.nanmax(np.where(np.isfinite(ii), ii, 1)), 0
        )
        return np.argmin(c, axis=1)

    rows = np.arange(len(names))
    min_ii = ii.min(axis=1)
    if target_ii_cycles is not None:
        if not target_ii_cycles > 0:
            raise ReuseError(
                f"target_ii_cycles: expected a positive number of cycles, got {target_ii_cycles!r}"
            )
        bad = np.nonzero(min_ii > target_ii_cycles)[0]
        if bad.size:
            i = int(bad[0])
            raise ReuseError(
                f"layer '{names[i]}': no legal reuse factor reaches II <= {target_ii_cycles:g} cycles"
                f" with {io} (smallest II is {min_ii[i]:g} cycles at RF 1)"
            )
        idx = pick(float(target_ii_cycles))
        if resource_budget is not None:
            _check_fit(tab, rows, idx, budget, f"target II {target_ii_cycles:g} cycles")
    else:
        levels = np.unique(ii[np.isfinite(ii)])
        levels = levels[levels >= min_ii.max()]
        fits = [False] * len(levels)

        def ok(k: int) -> bool:
            sel = pick(float(levels[k]))
            fits[k] = all(tab[r][rows, sel].sum() <= budget[r] for r in RESOURCES)
            return fits[k]

        lo, hi = 0, len(levels) - 1
        if not ok(hi):
            _check_fit(
                tab, rows, pick(float(levels[hi])), budget, "the largest legal reuse factors"
            )
        while lo < hi:  # smallest k with ok(k)
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid + 1
        idx = pick(float(levels[lo]))
    out: dict[str, ReuseChoice] = {}
    for i, n in enumerate(names):
        k = int(idx[i])
        out[n] = ReuseChoice(
            rf=int(tab["rf"][i, k]),
            strategy="Resource" if tab["resource"][i, k] else "Latency",
            ii_cycles=float(tab["ii_cycles"][i, k]),
            latency_cycles=float(tab["latency_cycles"][i, k]),
            lut=float(tab["lut"][i, k]),
            dsp=float(tab["dsp"][i, k]),
            bram_18k=float(tab["bram_18k"][i, k]),
        )
    return out


def _check_fit(
    tab: dict[str, Any], rows: np.ndarray, idx: np.ndarray, budget: dict[str, float], what: str
) -> None:
    for r in RESOURCES:
        used = float(tab[r][rows, idx].sum())
        if used > budget[r]:
            raise ReuseError(
                f"{what}: the design needs {used:.0f} {r}, over the budget of {budget[r]:.0f}"
            )


def choose_reuse_factors(
    workload: Workload,
    allocation: Allocation,
    config: AccelConfig,
    target_ii_cycles: float | None = None,
    resource_budget: Mapping[str, float] | None = None,
    io_type: IoType | None = None,
) -> dict[str, tuple[int, Strategy]]:
    """Per layer ``(reuse_factor, strategy)`` for hls4ml's ``ReuseFactor``/``Strategy`` keys.

    With ``target_ii_cycles``: each layer takes the legal candidate with the fewest resources
    (as a fraction of the part) whose II (cycles per image) is <= the target; if a
    ``resource_budget`` is also given the result must fit it. Without a target: the smallest
    common target II whose per-layer choices fit ``resource_budget`` (``{"lut", "dsp",
    "bram_18k"}``, default the part's capacity), found by bisection. Candidates are
    ``(1, "Latency")`` and ``(rf, "Resource")`` for every legal rf. ``io_type`` defaults to the
    config's. Raises :class:`ReuseError` when the target or the budget cannot be met.
    """
    plan = reuse_plan(workload, allocation, config, target_ii_cycles, resource_budget, io_type)
    return {n: (c.rf, c.strategy) for n, c in plan.items()}
