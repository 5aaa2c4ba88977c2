"""Fixed-point types (``ap_fixed``/``ap_ufixed``) and their exact numpy emulation.

A :class:`FixedType` is ``width`` bits with ``integer`` integer bits (the sign bit counts as an
integer bit for signed types, as in Xilinx ``ap_fixed<W, I>``); the step is ``2**-(W - I)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CodegenError

MAX_EXACT_BITS = 50  # float64 has 53 significand bits; 3 bits of headroom for partial sums


@dataclass(frozen=True)
class FixedType:
    """``ap_[u]fixed<width, integer, rounding, overflow>``; rounding RND|TRN, overflow SAT|WRAP."""

    signed: bool
    width: int
    integer: int
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        if self.width < 1:
            raise CodegenError(f"fixed-point type {self}: width must be >= 1")
        if self.rounding not in ("TRN", "RND") or self.overflow not in ("WRAP", "SAT"):
            raise CodegenError(f"fixed-point type {self}: unsupported rounding/overflow mode")

    @property
    def frac(self) -> int:
        """Fraction bits (may be negative)."""
        return self.width - self.integer

    @property
    def step(self) -> float:
        return math.ldexp(1.0, -self.frac)

    @property
    def kmin(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def kmax(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lo(self) -> float:
        return self.kmin * self.step

    @property
    def hi(self) -> float:
        return self.kmax * self.step

    def hls(self) -> str:
        """The hls4ml precision string, e.g. ``ap_ufixed<4,2,AP_RND,AP_SAT>``."""
        base = f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}"
        if self.rounding == "TRN" and self.overflow == "WRAP":
            return base + ">"
        return base + f",AP_{self.rounding},AP_{self.overflow}>"

    __str__ = hls

    def cast(self, x: np.ndarray) -> np.ndarray:
        """Cast float64 values to this type (Xilinx semantics: round, then overflow)."""
        x = np.asarray(x, dtype=np.float64)
        scaled = np.ldexp(x, self.frac)
        k = np.floor(scaled + 0.5) if self.rounding == "RND" else np.floor(scaled)
        if self.overflow == "SAT":
            k = np.clip(k, self.kmin, self.kmax)
        else:
            span = float(1 << self.width)
            k = np.mod(k - self.kmin, span) + self.kmin
        return np.ldexp(k, -self.frac)

    def with_modes(self, rounding: str, overflow: str) -> FixedType:
        return FixedType(self.signed, self.width, self.integer, rounding, overflow)


def covering(
    lo: float, hi: float, frac: int, rounding: str = "TRN", overflow: str = "WRAP"
) -> FixedType:
    """The narrowest type with ``frac`` fraction bits that holds every value in [lo, hi] exactly."""
    signed = lo < 0
    step = math.ldexp(1.0, -frac)
    kmax = max(math.ceil(hi / step - 1e-9), 0)
    kmin = min(math.floor(lo / step + 1e-9), 0)
    if signed:
        bits = max(kmax.bit_length(), (-kmin - 1).bit_length()) + 1
    else:
        bits = max(kmax.bit_length(), 1)
    bits = max(bits, 1)
    return FixedType(signed, bits, bits - frac, rounding, overflow)


def weight_type_for(values: np.ndarray, bits: int) -> FixedType:
    """A signed ``bits``-wide type whose step is the finest that still holds max|values|
    (round-to-nearest, saturating); used for float layers exported at 8-bit weights."""
    m = float(np.max(np.abs(values))) if np.size(values) else 0.0
    if m == 0.0:
        frac = bits - 1
    else:
        frac = math.floor(math.log2(((1 << (bits - 1)) - 1) / m))
    return FixedType(True, bits, bits - frac, "RND", "SAT")
