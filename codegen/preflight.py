"""Pre-flight checks: reject what hls4ml 1.3.0 cannot convert, or converts wrongly, before calling it.

Each rejection is one :class:`CodegenError` line naming the layer and the supported alternative.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

from .errors import CodegenError

SUPPORTED_MODULES = (
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm2d,
    nn.BatchNorm1d,
    nn.ReLU,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.Flatten,
    nn.Dropout,
)
SUPPORTED_FUNCTIONS = {operator.add, torch.add, torch.relu, F.relu, torch.flatten}
SUPPORTED_METHODS = {"add", "relu", "flatten", "view", "reshape"}

_ALTERNATIVES = {
    "AdaptiveAvgPool2d": "use nn.AvgPool2d(H) with H the input height (exact global pooling)",
    "AdaptiveMaxPool2d": "use nn.MaxPool2d(H) with H the input height",
    "ReLU6": "use nn.ReLU; the clip comes from the ap_ufixed<..,AP_RND,AP_SAT> result type",
    "Hardtanh": "use nn.ReLU; the clip comes from the ap_ufixed<..,AP_RND,AP_SAT> result type",
    "Identity": "remove it (hls4ml 1.3.0 cannot convert nn.Identity)",
}
_FUNC_ALTERNATIVES = {
    "clamp": "use nn.ReLU with a saturating ap_ufixed result type",
    "clip": "use nn.ReLU with a saturating ap_ufixed result type",
    "hardtanh": "use nn.ReLU with a saturating ap_ufixed result type",
    "relu6": "use nn.ReLU with a saturating ap_ufixed result type",
    "adaptive_avg_pool2d": "use nn.AvgPool2d(H) for global pooling",
    "adaptive_max_pool2d": "use nn.MaxPool2d(H) for global pooling",
    "mean": "use nn.AvgPool2d(H) for global pooling",
    "size": "x.view(x.size(0), -1) is not supported: use torch.flatten(x, 1) or nn.Flatten()",
}


def _pair(v: int | tuple[int, ...]) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def check_module(name: str, m: nn.Module, io_type: str) -> None:
    """Raise CodegenError if module ``m`` (qualified name ``name``) cannot be exported."""
    cls = type(m).__name__
    where = f"layer '{name}' ({cls})"
    if cls in _ALTERNATIVES:
        raise CodegenError(f"{where}: not supported by hls4ml 1.3.0: {_ALTERNATIVES[cls]}")
    if isinstance(m, nn.Conv2d):
        if isinstance(m.padding, str):
            raise CodegenError(
                f"{where}: padding='{m.padding}' is not supported: give integer padding"
                f" (e.g. padding={m.kernel_size[0] // 2} for a {m.kernel_size[0]}x{m.kernel_size[1]} kernel)"
            )
        if m.groups != 1:
            raise CodegenError(
                f"{where}: groups={m.groups} (grouped/depthwise conv) is not supported:"
                " use groups=1 convolutions"
            )
        if _pair(m.dilation) != (1, 1):
            raise CodegenError(
                f"{where}: dilation={list(_pair(m.dilation))} is wrong or crashes in hls4ml 1.3.0:"
                " use dilation=1 (a larger kernel or stride instead)"
            )
        if m.padding_mode != "zeros":
            raise CodegenError(
                f"{where}: padding_mode='{m.padding_mode}' is not supported: use 'zeros'"
            )
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.padding)
        if isinstance(m, nn.MaxPool2d) and _pair(m.dilation) != (1, 1):
            raise CodegenError(f"{where}: dilation is not supported: use dilation=1")
        if getattr(m, "ceil_mode", False):
            raise CodegenError(f"{where}: ceil_mode=True is not supported: use ceil_mode=False")
        if io_type == "io_stream" and (s != k or p != (0, 0)):
            raise CodegenError(
                f"{where}: io_stream pooling needs stride == kernel and no padding"
                f" (kernel {list(k)}, stride {list(s)}, padding {list(p)}): change the pooling"
                " or use --io-type parallel"
            )
        if isinstance(m, nn.AvgPool2d) and p != (0, 0):
            raise CodegenError(f"{where}: padded average pooling is not supported: use padding=0")
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        return
    leafish = not list(m.children())
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    if leafish and not isinstance(m, SUPPORTED_MODULES + containers):
        raise CodegenError(
            f"{where}: not supported by codegen (supported: "
            + ", ".join(c.__name__ for c in SUPPORTED_MODULES)
            + ")"
        )


def preflight(model: nn.Module, io_type: str = "io_parallel") -> torch.fx.GraphModule:
    """Check every module and every traced operation of ``model``; return the fx graph module.

    Raises :class:`CodegenError` naming the first unsupported layer or operation.
    """
    from hls4ml.utils.torch import CustomFXTracer

    for name, m in model.named_modules():
        if name:
            check_module(name, m, io_type)
    try:
        graph = CustomFXTracer().trace(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure is a model the converter cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CodegenError(
            f"model '{type(model).__name__}': torch.fx cannot trace it ({first}): avoid"
            " data-dependent control flow"
        ) from None
    gm = torch.fx.GraphModule(model, graph)
    for node in gm.graph.nodes:
        if node.op == "call_function":
            fname = getattr(node.target, "__name__", str(node.target))
            if node.target not in SUPPORTED_FUNCTIONS:
                alt = _FUNC_ALTERNATIVES.get(
                    fname, "use the nn module equivalent (see codegen docs)"
                )
                raise CodegenError(f"operation '{node.name}' ({fname}): not supported: {alt}")
        elif node.op == "call_method":
            if node.target == "size":
                raise CodegenError(
                    f"operation '{node.name}' (x.size): {_FUNC_ALTERNATIVES['size']}"
                )
            if node.target not in SUPPORTED_METHODS:
                alt = _FUNC_ALTERNATIVES.get(node.target, "use the nn module equivalent")
                raise CodegenError(
                    f"operation '{node.name}' (.{node.target}()): not supported: {alt}"
                )
    return gm
