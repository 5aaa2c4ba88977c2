"""Float64 emulation of an :class:`ExportPlan`: every layer's op, then its declared result cast.

This is the bit-exact reference for hls4ml's C simulation (hls4ml's nnet_utils semantics: each
conv/dense product summed exactly in ``accum_t`` from the bias, then cast to ``result_t``;
BatchNorm ``x*scale + bias`` then ``result_t``; ReLU ``max(x, 0)`` then ``result_t``; add exact
then ``result_t``; clip (ReLU6/Hardtanh) ``min(max(x, lo), hi)`` then ``result_t``; max pooling max; average pooling sum in ``accum_t``, ``/= N`` in ``accum_t``,
then ``result_t``). All sums stay on grids of at most 53 bits, so float64 is exact.
"""

from __future__ import annotations

import numpy as np
import torch

from .ops import OPS
from .plan import ExportPlan


def emulate(plan: ExportPlan, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``x`` (N, *input_shape) through the plan; return (output, per-layer outputs, NCHW).

    ``x`` is first cast to the input type, as the C simulation does. Each layer runs its
    registered op's emulation (:mod:`codegen.ops`), then the cast to its result type.
    """
    vals: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for p in plan.nodes:
            if p.op == "input":
                y = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
            else:
                y = OPS[p.op].emulate(p, [vals[i] for i in p.inputs])
            vals[p.name] = torch.from_numpy(p.result.cast(y.numpy()))
    per_layer = {k: v.numpy() for k, v in vals.items()}
    return per_layer[plan.output.name], per_layer


def channels_last(a: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC (hls4ml's layout); 2-D arrays unchanged."""
    return np.moveaxis(a, 1, -1) if a.ndim == 4 else a
