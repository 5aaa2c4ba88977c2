"""Reuse factors of an hls4ml-style FPGA dataflow design: the legal values.

A layer with ``n_in`` inputs per output (kh*kw*C for a conv) and ``n_out`` outputs (filters)
needs ``n_in*n_out`` multiplications per output pixel. With reuse factor RF each multiplier is
used RF times, so the layer instantiates ``ceil(n_in*n_out/RF)`` multipliers and accepts a new
output pixel every RF cycles.

:func:`legal_reuse_factors` re-implements hls4ml 1.3.0's Resource-strategy rule
(``FPGABackend._validate_reuse_factor``; hwsim does not import hls4ml):

* ``(n_in*n_out) % RF == 0``, and
* either ``RF < n_in`` and ``ceil(n_in*n_out/RF) % n_out == 0``, or ``RF >= n_in`` and
  ``RF % n_in == 0``.

The choice among them (a config's reuse policy: fixed, or the legal candidate with the fewest
resources meeting a target II) is the FPGA model's (``hwsim.models.fpga_dataflow``), and
:func:`hwsim.fpga_plan.make_plan` records it per layer.
"""

from __future__ import annotations

import bisect
import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .errors import HwsimError

if TYPE_CHECKING:
    from .config import AccelConfig
    from .workload import Workload


class ReuseError(HwsimError):
    """A reuse-factor request that cannot be met (an override for a layer the workload lacks)."""


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
