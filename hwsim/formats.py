"""Per-layer number formats: the one record of how a layer's weights and inputs are represented.

A :class:`LayerFormat` says, for one conv/linear layer, the weight and activation (input) widths
in bits, their signedness, their fraction bits once known (the fixed-family quantizers choose
them from statistics, so a fresh allocation does not know them yet), and whether the layer is a
*float layer* (kept in floating point by the network, not searched) — in which case ``w_bits`` /
``a_bits`` are the widths the hardware runs it at.

Two rules live here and nowhere else:

* **Float layers** run on the hardware at :data:`FLOAT_LAYER_BITS` (8-bit weights and 8-bit
  inputs, EdMIPS' convention for the unsearched first and last layers, Cai & Vasconcelos, CVPR
  2020). The cost tables, the search, training and codegen all take the width from
  :func:`float_layer_format`.
* **Quantizer steps and fraction bits**: the HWGQ activation steps (Cai et al., "Deep Learning
  with Low Precision by Half-wave Gaussian Quantization", CVPR 2017) and the MSE-optimal
  Gaussian weight steps (Max, "Quantizing for minimum distortion", 1960) for 1..4 bits, the
  numerically optimal uniform step above 4 bits, and the power-of-two fraction rule of the
  fixed family (:func:`weight_frac_for_std`, :func:`act_frac_for_std`). ``search.quantizers``
  builds its torch quantizers on these functions.

Torch-free (numpy/scipy only). All steps are dimensionless (units of the tensor's std).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import AllocationError

#: Widths (weight bits, activation bits) at which the hardware runs a float (unsearched) layer.
FLOAT_LAYER_BITS: tuple[int, int] = (8, 8)

#: HWGQ activation steps for a unit-variance half-Gaussian input (Cai et al. 2017), bits -> step.
HWGQ_STEPS: dict[int, float] = {1: 0.799, 2: 0.538, 3: 0.3217, 4: 0.185}
#: MSE-optimal uniform steps for N(0, 1) (Max 1960), bits -> step in units of std(W).
GAUSS_STEPS: dict[int, float] = {1: 1.596, 2: 0.996, 3: 0.586, 4: 0.336}


@dataclass(frozen=True)
class LayerFormat:
    """How one conv/linear layer's weights and input are represented.

    ``w_bits``/``a_bits``: widths in bits (for a float layer: the widths the hardware runs it at,
    see :data:`FLOAT_LAYER_BITS`). ``w_signed``: weights are two's complement (always, today).
    ``a_signed``: the input is signed (None: not known yet). ``w_frac``/``a_frac``: fraction bits
    of the fixed-point grids, ``value = k * 2**-frac`` (None: not known yet, or a float layer,
    whose grid codegen picks from the weights' range). ``float_layer``: the network keeps this
    layer in floating point (not searched or quantized during training).
    """

    w_bits: int
    a_bits: int
    w_signed: bool = True
    a_signed: bool | None = None
    w_frac: int | None = None
    a_frac: int | None = None
    float_layer: bool = False

    def __post_init__(self) -> None:
        for key in ("w_bits", "a_bits"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise AllocationError(f"key '{key}': expected an integer >= 1, got {v!r}")
            object.__setattr__(self, key, int(v))
        for key in ("w_frac", "a_frac"):
            v = getattr(self, key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise AllocationError(f"key '{key}': expected an integer or null, got {v!r}")
            object.__setattr__(self, key, int(v))
        for key in ("w_signed", "a_signed", "float_layer"):
            v = getattr(self, key)
            if not (isinstance(v, bool) or (v is None and key == "a_signed")):
                raise AllocationError(f"key '{key}': expected true or false, got {v!r}")

    @property
    def bits(self) -> tuple[int, int]:
        """(w_bits, a_bits)."""
        return self.w_bits, self.a_bits

    @property
    def weight_integer(self) -> int | None:
        """Integer bits (sign included) of the weight grid ``ap_fixed<w_bits, I>``, when known."""
        return None if self.w_frac is None else self.w_bits - self.w_frac

    @property
    def act_integer(self) -> int | None:
        """Integer bits (sign included when signed) of the input grid, when known."""
        return None if self.a_frac is None else self.a_bits - self.a_frac

    @property
    def known(self) -> bool:
        """Whether the fixed-point grids are fully known (codegen can emit the layer as is)."""
        return self.w_frac is not None and self.a_frac is not None and self.a_signed is not None

    def with_grids(self, w_frac: int, a_frac: int, a_signed: bool) -> LayerFormat:
        """A copy with the fraction bits and input signedness filled in."""
        return replace(self, w_frac=int(w_frac), a_frac=int(a_frac), a_signed=bool(a_signed))

    def to_dict(self) -> dict[str, Any]:
        """The file form: ``{w, a}`` plus whichever details are known."""
        d: dict[str, Any] = {"w": self.w_bits, "a": self.a_bits}
        for key, value in asdict(self).items():
            if key in ("w_bits", "a_bits", "float_layer") or value is None:
                continue
            if key == "w_signed" and value is True:
                continue
            d[key] = value
        return d


#: Optional keys of a layer entry in an allocation file (version 3).
FORMAT_KEYS = ("w_signed", "a_signed", "w_frac", "a_frac")


def float_layer_format() -> LayerFormat:
    """The format of a float (unsearched) layer: the hardware runs it at FLOAT_LAYER_BITS."""
    w, a = FLOAT_LAYER_BITS
    return LayerFormat(w, a, float_layer=True)


def format_from_dict(raw: dict[str, Any], float_layer: bool) -> LayerFormat:
    """Parse a layer entry ``{w, a[, w_signed, a_signed, w_frac, a_frac]}``."""
    extra = {k: raw[k] for k in FORMAT_KEYS if k in raw}
    return LayerFormat(raw["w"], raw["a"], float_layer=float_layer, **extra)


# ---------------------------------------------------------------------------------------------
# quantizer steps and fraction bits (the fixed family's rule)
# ---------------------------------------------------------------------------------------------
def _check_bits(bits: int, what: str) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"{what}: bits must be an integer >= 1, got {bits!r}")
    return int(bits)


def _cell_sq_err(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """∫_a^b (x - q)^2 φ(x) dx for the standard normal density φ (vectorised, a/b may be ±inf)."""
    from scipy.stats import norm

    def parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pdf = norm.pdf(x)
        with np.errstate(invalid="ignore"):
            xpdf = np.where(np.isfinite(x), x * pdf, 0.0)
        return norm.cdf(x), pdf, xpdf

    ca, pa, xa = parts(a)
    cb, pb, xb = parts(b)
    return (cb - ca) - (xb - xa) + 2 * q * (pb - pa) + q * q * (cb - ca)


def _uniform_mse(step: float, bits: int, half: bool) -> float:
    n = 2**bits
    k = np.arange(n, dtype=np.float64)
    if half:  # levels k·Δ on the positive half of N(0,1), thresholds at (k ± 1/2)Δ
        lo = np.where(k == 0, 0.0, (k - 0.5) * step)
        hi = np.where(k == n - 1, np.inf, (k + 0.5) * step)
        return float(2 * _cell_sq_err(lo, hi, k * step).sum())
    lvl = (k - n / 2 + 0.5) * step  # mid-rise levels (k + 1/2)Δ, symmetric
    lo = np.where(k == 0, -np.inf, (k - n / 2) * step)
    hi = np.where(k == n - 1, np.inf, (k - n / 2 + 1) * step)
    return float(_cell_sq_err(lo, hi, lvl).sum())


@lru_cache(maxsize=64)
def optimal_uniform_step(bits: int, half: bool) -> float:
    """MSE-optimal uniform step for N(0,1) (``half=False``, 2^b mid-rise levels) or for its
    positive half (``half=True``, levels 0..(2^b-1)Δ). Reproduces Max's table for the Gaussian."""
    from scipy.optimize import minimize_scalar

    bits = _check_bits(bits, "optimal_uniform_step")
    hi = 4.0 * 2.0 ** (-bits + 1)
    res = minimize_scalar(
        lambda d: _uniform_mse(d, bits, half),
        bounds=(1e-7, hi),
        method="bounded",
        options={"xatol": 1e-9},
    )
    return float(res.x)


def hwgq_step(bits: int) -> float:
    """HWGQ step Δ_b for unit-variance input: the paper's constants for 1..4 bits; above 4 bits
    (extension) the MSE-optimal uniform step for the positive half of N(0,1)."""
    bits = _check_bits(bits, "hwgq")
    return HWGQ_STEPS[bits] if bits in HWGQ_STEPS else optimal_uniform_step(bits, half=True)


def gaussian_step(bits: int) -> float:
    """Weight step g_b in units of std(W): the paper's constants for 1..4 bits; above 4 bits
    (extension) the MSE-optimal uniform step for N(0,1), computed numerically."""
    bits = _check_bits(bits, "gaussian_weight")
    return GAUSS_STEPS[bits] if bits in GAUSS_STEPS else optimal_uniform_step(bits, half=False)


def _nearest_pow2_exponent(value: float) -> int:
    return int(math.floor(math.log2(value) + 0.5))


def weight_frac_for_std(std: float, bits: int) -> int:
    """Fraction bits of fixed-family weights: ``-round(log2(g_b * std(W)))`` (the power of two
    nearest the MSE-optimal Gaussian step; ties round up in log2). Degenerate (zero or non-finite)
    std: ``bits - 1`` (grid [-1, 1))."""
    std = float(std)
    if not (std > 0 and math.isfinite(std)):
        return int(bits) - 1
    return -_nearest_pow2_exponent(gaussian_step(bits) * std)


def act_frac_for_std(std: float, bits: int, signed: bool = False) -> int:
    """Fraction bits of fixed-family activations: ``-round(log2(Δ_b * std))`` with Δ_b the HWGQ
    step (unsigned input) or the Gaussian step g_b (signed input). Degenerate std: 1."""
    std = float(std)
    if not (std > 0 and math.isfinite(std)):
        std = 1.0
    step = gaussian_step(bits) if signed else hwgq_step(bits)
    return -_nearest_pow2_exponent(step * std)
