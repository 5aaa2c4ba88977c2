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
import torch.nn.functional as F

from .plan import ExportPlan


def emulate(plan: ExportPlan, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``x`` (N, *input_shape) through the plan; return (output, per-layer outputs, NCHW).

    ``x`` is first cast to the input type, as the C simulation does.
    """
    vals: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for p in plan.nodes:
            ins = [vals[i] for i in p.inputs]
            if p.op == "input":
                y = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
            elif p.op == "conv":
                w = torch.from_numpy(p.params["weight"])
                b = torch.from_numpy(p.params["bias"])
                y = F.conv2d(
                    ins[0],
                    w,
                    b,
                    stride=p.params["stride"],
                    padding=p.params["padding"],
                    groups=p.params.get("groups", 1),
                )
            elif p.op == "linear":
                w = torch.from_numpy(p.params["weight"])
                b = torch.from_numpy(p.params["bias"])
                y = F.linear(ins[0], w, b)
            elif p.op == "bn":
                s = torch.from_numpy(p.params["scale"])
                b = torch.from_numpy(p.params["bias"])
                shape = (1, -1) + (1,) * (ins[0].dim() - 2)
                y = ins[0] * s.view(shape) + b.view(shape)
            elif p.op == "relu":
                y = torch.clamp_min(ins[0], 0.0)
            elif p.op == "clip":
                y = torch.clamp(ins[0], p.params["lo"], p.params["hi"])
            elif p.op == "maxpool":
                y = F.max_pool2d(ins[0], p.params["kernel"], p.params["stride"])
            elif p.op == "avgpool":
                acc_t = p.types["accum"]
                s = F.avg_pool2d(ins[0], p.params["kernel"], p.params["stride"], divisor_override=1)
                s = torch.from_numpy(acc_t.cast(s.numpy()))
                y = torch.from_numpy(acc_t.cast((s / p.params["area"]).numpy()))
            elif p.op == "add":
                y = ins[0] + ins[1]
            elif p.op == "flatten":
                y = torch.flatten(ins[0], 1)
            else:  # pragma: no cover - the planner rejects other ops
                raise AssertionError(p.op)
            y = torch.from_numpy(p.result.cast(y.numpy()))
            vals[p.name] = y
    per_layer = {k: v.numpy() for k, v in vals.items()}
    return per_layer[plan.output.name], per_layer


def channels_last(a: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC (hls4ml's layout); 2-D arrays unchanged."""
    return np.moveaxis(a, 1, -1) if a.ndim == 4 else a
