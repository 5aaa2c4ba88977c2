"""Cost tables: every metric for every layer at every (weight bits, activation bits) pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .config import AccelConfig
from .errors import HwsimError
from .workload import Workload


def _bits_array(bits: Sequence[int], label: str) -> np.ndarray:
    arr = np.asarray(list(bits), dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or np.any(arr < 1) or np.any(arr != np.round(arr)):
        raise HwsimError(
            f"{label}: expected a non-empty list of positive integer bit-widths, got {list(bits)}"
        )
    return arr


def cost_tables(
    workload: Workload, config: AccelConfig, w_bits: Sequence[int], a_bits: Sequence[int]
) -> dict[str, np.ndarray]:
    """``{metric: ndarray[L, nW, nA]}``: per-layer costs of ``workload`` on ``config``.

    Entry ``[l, i, j]`` is layer ``l`` run at ``w_bits[i]`` weight and ``a_bits[j]`` activation
    bits, exactly what :func:`hwsim.simulate` reports for that layer at that pair.
    """
    w = _bits_array(w_bits, "w_bits").reshape(1, -1, 1)
    a = _bits_array(a_bits, "a_bits").reshape(1, 1, -1)
    L = workload.arrays().reshape((len(workload), 1, 1))
    out = config.model.evaluate(L, w, a)
    shape = (len(workload), w.size, a.size)
    return {k: v if v.shape == shape else np.broadcast_to(v, shape).copy() for k, v in out.items()}
