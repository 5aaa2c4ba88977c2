"""Quantizers with straight-through estimators (STE).

Two families:

* ``paper`` (EdMIPS / HWGQ, for reproduction): :func:`hwgq` for activations (unsigned, step
  Δ_b fixed for unit-variance BN outputs) and :func:`gaussian_weight` for weights (mid-rise,
  step g_b · std(W)).
* ``fixed`` (maps exactly onto hls4ml types): :func:`fixed_weight` = ``ap_fixed<b, b-f, AP_RND,
  AP_SAT>`` and :func:`fixed_act` = ``ap_ufixed``/``ap_fixed<b, b-f, AP_RND, AP_SAT>``, with the
  fraction bits ``f`` chosen per layer from statistics (:func:`weight_frac`, :func:`act_frac`).

All values are dimensionless (the same units as the tensor quantized). Every quantizer here is
of the form ``q = clamp(R(clamp(x, lo, hi) / s) * s, lo, hi)`` for a rounding ``R``; its STE
passes the gradient where ``lo <= x <= hi`` (weights: everywhere). :class:`Grid` describes one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import torch

from hwsim import formats
from hwsim.formats import GAUSS_STEPS, HWGQ_STEPS, optimal_uniform_step  # noqa: F401 (re-export)

from .errors import SearchError

#: Above this many bits a quantizer is the identity (weights) or a plain ReLU (activations):
#: the width a *network* treats as "not quantized". It is not a hardware width: the hardware
#: runs float layers at ``hwsim.formats.FLOAT_LAYER_BITS``.
FLOAT_BITS = 16


def _check_bits(bits: int, what: str, minimum: int = 1) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < minimum:
        raise SearchError(f"{what}: bits must be an integer >= {minimum}, got {bits!r}")
    return int(bits)


def hwgq_step(bits: int) -> float:
    """HWGQ step Δ_b for unit-variance input (the rule: :func:`hwsim.formats.hwgq_step`)."""
    return formats.hwgq_step(_check_bits(bits, "hwgq"))


def gaussian_step(bits: int) -> float:
    """Weight step g_b in units of std(W) (the rule: :func:`hwsim.formats.gaussian_step`)."""
    return formats.gaussian_step(_check_bits(bits, "gaussian_weight"))


# ---------------------------------------------------------------------------------------------
# Grids: one elementwise quantizer, applied without autograd (used by the composite layers)
# ---------------------------------------------------------------------------------------------
_SCALARS: dict[tuple[float, torch.dtype, torch.device], torch.Tensor] = {}


def _scalar(value: float, like: torch.Tensor) -> torch.Tensor:
    """A cached 0-d tensor (saves an allocation per quantization call)."""
    key = (value, like.dtype, like.device)
    t = _SCALARS.get(key)
    if t is None:
        t = _SCALARS[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
    return t


@dataclass(frozen=True)
class Grid:
    """``q = clamp(R(clamp(x, lo, hi)/step + offset) - offset) * step, lo, hi)``.

    ``step`` None means no rounding (a plain clamp, e.g. ReLU); ``half_up`` selects
    floor(v + 1/2) (AP_RND) instead of torch.round (half to even); ``offset`` 1/2 gives the
    mid-rise levels of the paper's weight quantizer. The STE gradient is 1 on [lo, hi]."""

    step: float | None
    lo: float
    hi: float
    half_up: bool = True
    offset: float = 0.0

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Quantize (no gradient tracking needed; the callers add the STE)."""
        if self.step is None:
            return x.clamp(self.lo, self.hi)
        # clamping the integer level index (not the value) makes every output exactly
        # (k - offset)·step; it equals rounding the clamped value since lo/hi are levels
        return self.index(x).sub_(self.offset).mul_(self.step)

    def index(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Level index k = clamp(R(x/step + offset), k_lo, k_hi) as x's dtype (value = (k - offset)·step).

        Computed in place in ``out`` when given (no allocation)."""
        inv, shift, k_lo, k_hi = self._index_consts
        if out is None:
            out = torch.empty_like(x)
        if shift:  # one pass: shift + x / step
            torch.add(_scalar(shift, x), x, alpha=inv, out=out)
        else:
            torch.mul(x, inv, out=out)
        (out.floor_() if self.half_up else out.round_())
        return out.clamp_(k_lo, k_hi)

    @cached_property
    def _index_consts(self) -> tuple[float, float, float, float]:
        """(1/step, shift, k_lo, k_hi) of :meth:`index`, computed once per grid."""
        assert self.step is not None
        return (1.0 / self.step, self.offset + (0.5 if self.half_up else 0.0), *self._index_range())

    def _index_range(self) -> tuple[float, float]:
        assert self.step is not None
        lo = self.lo / self.step + self.offset
        hi = self.hi / self.step + self.offset
        return (
            float(round(lo)) if math.isfinite(lo) else lo,
            float(round(hi)) if math.isfinite(hi) else hi,
        )

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """STE pass-through mask: 1 where lo <= x <= hi, as x's dtype."""
        # comparisons written straight into x's dtype: much faster on CPU than bool tensors
        # combined with & and converted (measured 146 -> ~30 us for 131k floats)
        m = torch.ge(x, self.lo, out=torch.empty_like(x))
        return m.mul_(torch.le(x, self.hi, out=torch.empty_like(x)))


def _ste(x: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Quantize with the clipped STE: forward grid.apply(x), gradient 1 on [lo, hi]."""
    y = x.clamp(grid.lo, grid.hi)
    # q + (y - y) is exactly q in value (x + (q - x) would not be), with y's gradient
    return grid.apply(x.detach()) + (y - y.detach())


def _identity_ste(x: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Quantize with the plain identity STE (gradient 1 everywhere)."""
    return grid.apply(x.detach()) + (x - x.detach())


# ---- paper family ----
@cache
def hwgq_grid(bits: int) -> Grid:
    """HWGQ levels {0, Δ, ..., (2^b - 1)Δ}, round half to even (torch.round); ReLU above FLOAT_BITS."""
    bits = _check_bits(bits, "hwgq")
    if bits > FLOAT_BITS:
        return Grid(None, 0.0, math.inf)
    step = hwgq_step(bits)
    return Grid(step, 0.0, (2**bits - 1) * step, half_up=False)


def gaussian_grid(bits: int, std: float) -> Grid:
    """Mid-rise levels (k + 1/2)·g_b·std, k in [-2^(b-1), 2^(b-1) - 1]; identity above FLOAT_BITS."""
    bits = _check_bits(bits, "gaussian_weight")
    if bits > FLOAT_BITS:
        return Grid(None, -math.inf, math.inf)
    step = gaussian_step(bits) * (std if std > 0 and math.isfinite(std) else 1.0)
    lim = (2 ** (bits - 1) - 0.5) * step
    return Grid(step, -lim, lim, half_up=False, offset=0.5)


def signed_grid(bits: int, step: float) -> Grid:
    """Two's-complement levels k·step, k in [-2^(b-1), 2^(b-1) - 1], round half up (AP_RND, AP_SAT)."""
    bits = _check_bits(bits, "signed quantizer", minimum=2)
    if bits > FLOAT_BITS:
        return Grid(None, -math.inf, math.inf)
    return Grid(float(step), -(2 ** (bits - 1)) * step, (2 ** (bits - 1) - 1) * step)


def unsigned_grid(bits: int, step: float) -> Grid:
    """Levels k·step, k in [0, 2^b - 1], round half up (ap_ufixed, AP_RND, AP_SAT; also the ReLU)."""
    bits = _check_bits(bits, "unsigned quantizer")
    if bits > FLOAT_BITS:
        return Grid(None, 0.0, math.inf)
    return Grid(float(step), 0.0, (2**bits - 1) * step)


def hwgq(x: torch.Tensor, bits: int) -> torch.Tensor:
    """HWGQ activation quantizer (replaces the ReLU): Δ·round(clamp(x, 0, c_b)/Δ), c_b = (2^b-1)Δ;
    clipped-ReLU STE. bits > FLOAT_BITS (incl. 32): plain ReLU."""
    return _ste(x, hwgq_grid(bits))


def gaussian_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """EdMIPS weight quantizer: σ = std(W) (unbiased, no gradient), step g_b·σ, symmetric mid-rise
    levels (k + 1/2)·step clamped to ±(2^(b-1) - 1/2)·step; identity STE."""
    std = float(w.detach().std()) if w.numel() > 1 else 1.0
    return _identity_ste(w, gaussian_grid(bits, std))


# ---- fixed family ----
def _check_frac(frac: int, what: str) -> int:
    if isinstance(frac, bool) or not isinstance(frac, (int, np.integer)):
        raise SearchError(f"{what}: frac must be an integer, got {frac!r}")
    return int(frac)


def fixed_weight_grid(bits: int, frac: int) -> Grid:
    """Grid of ap_fixed<bits, bits - frac, AP_RND, AP_SAT>; needs bits >= 2."""
    if isinstance(bits, (int, np.integer)) and not isinstance(bits, bool) and bits == 1:
        raise SearchError("fixed weights: 1-bit ap_fixed has no symmetric levels; use >= 2 bits")
    bits = _check_bits(bits, "fixed_weight", minimum=2)
    return signed_grid(bits, 2.0 ** -_check_frac(frac, "fixed_weight"))


def fixed_act_grid(bits: int, frac: int, signed: bool) -> Grid:
    """Grid of ap_ufixed (unsigned) or ap_fixed (signed) <bits, bits - frac, AP_RND, AP_SAT>."""
    step = 2.0 ** -_check_frac(frac, "fixed_act")
    if signed:
        return signed_grid(_check_bits(bits, "fixed_act (signed)", minimum=2), step)
    return unsigned_grid(_check_bits(bits, "fixed_act"), step)


def fixed_weight(w: torch.Tensor, bits: int, frac: int) -> torch.Tensor:
    """k·2^-frac with k = clamp(floor(w·2^frac + 1/2), -2^(b-1), 2^(b-1) - 1)
    (= ap_fixed<bits, bits - frac, AP_RND, AP_SAT>); identity STE."""
    return _identity_ste(w, fixed_weight_grid(bits, frac))


def fixed_act(x: torch.Tensor, bits: int, frac: int, signed: bool = False) -> torch.Tensor:
    """Unsigned: clamp(floor(x/s + 1/2)·s, 0, (2^b - 1)·s) = ap_ufixed<b, b-frac, AP_RND, AP_SAT>
    (also the ReLU); signed: clamp to [-2^(b-1)·s, (2^(b-1) - 1)·s] = ap_fixed; s = 2^-frac.
    Clipped STE (gradient 1 inside the range, 0 outside)."""
    return _ste(x, fixed_act_grid(bits, frac, signed))


def weight_frac(w: torch.Tensor | float, bits: int) -> int:
    """Fraction bits for fixed weights from ``std(W)`` (``w`` may be the std itself); the rule:
    :func:`hwsim.formats.weight_frac_for_std`."""
    std = float(w.detach().std()) if isinstance(w, torch.Tensor) else float(w)
    return formats.weight_frac_for_std(std, bits)


def act_frac(running_std: float, bits: int, signed: bool = False) -> int:
    """Fraction bits for fixed activations from the input's running std; the rule:
    :func:`hwsim.formats.act_frac_for_std`."""
    return formats.act_frac_for_std(float(running_std), bits, signed)
