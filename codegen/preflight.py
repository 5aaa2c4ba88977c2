"""Pre-flight checks: reject what hls4ml 1.3.0 cannot convert, or converts wrongly, before calling it.

Each rejection is one :class:`CodegenError` line naming the layer and the supported alternative.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

from .errors import CodegenError
from .hls_ext import Clip, Depthwise2d

SUPPORTED_MODULES = (
    Clip,
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
    "AdaptiveAvgPool2d": "only output size 1 (global average pooling) is supported; otherwise use"
    " nn.AvgPool2d",
    "AdaptiveMaxPool2d": "use nn.MaxPool2d(H) with H the input height",
}
_FUNC_ALTERNATIVES = {
    "clamp": "use nn.Hardtanh(lo, hi) or nn.ReLU6",
    "clip": "use nn.Hardtanh(lo, hi) or nn.ReLU6",
    "adaptive_avg_pool2d": "only output size 1 (global average pooling) is supported",
    "adaptive_max_pool2d": "use nn.MaxPool2d(H) for global pooling",
    "mean": "use nn.AdaptiveAvgPool2d(1) or nn.AvgPool2d(H) for global pooling",
    "size": "x.view(x.size(0), -1) is not supported: use torch.flatten(x, 1) or nn.Flatten()",
}
# functions rewritten into modules hls4ml reads (see :func:`normalize`)
_GAP_FUNCTIONS = {F.adaptive_avg_pool2d}
_CLIP_FUNCTIONS = {F.relu6: (0.0, 6.0)}


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
        depthwise = m.groups == m.in_channels == m.out_channels
        if m.groups != 1 and not depthwise:
            raise CodegenError(
                f"{where}: groups={m.groups} (a grouped conv that is not depthwise) is not"
                " supported: hls4ml 1.3.0 has only depthwise (groups = in = out channels) and"
                " groups=1 convolutions"
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


def _swap(root: nn.Module, name: str, new: nn.Module) -> None:
    parent = root.get_submodule(name.rpartition(".")[0]) if "." in name else root
    setattr(parent, name.rpartition(".")[2], new)


def _trace(model: nn.Module) -> torch.fx.Graph:
    from hls4ml.utils.torch import CustomFXTracer

    try:
        return CustomFXTracer().trace(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure is a model the converter cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CodegenError(
            f"model '{type(model).__name__}': torch.fx cannot trace it ({first}): avoid"
            " data-dependent control flow"
        ) from None


def _graph_module(model: nn.Module, graph: torch.fx.Graph) -> torch.fx.GraphModule:
    for node in graph.nodes:  # a string annotation (postponed evaluation) breaks pickling
        if isinstance(node.type, str):
            node.type = None
    return torch.fx.GraphModule(model, graph)


def _gap_size(node: torch.fx.Node) -> object:
    return node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")


def _is_global(size: object) -> bool:
    return size == 1 or (isinstance(size, (tuple, list)) and tuple(size) == (1, 1))


def normalize(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Rewrite, in place and exactly, what hls4ml 1.3.0's PyTorch frontend cannot read into what
    it can: a depthwise ``nn.Conv2d`` becomes :class:`~codegen.hls_ext.Depthwise2d`,
    ``nn.ReLU6``/``nn.Hardtanh``/``F.relu6`` a :class:`~codegen.hls_ext.Clip`, ``nn.Identity``
    an ``nn.Dropout(0)`` (which the frontend drops), and ``nn.AdaptiveAvgPool2d(1)`` /
    ``F.adaptive_avg_pool2d(x, 1)`` an ``nn.AvgPool2d`` over the whole input (global average
    pooling; needs ``input_shape`` (C, H, W)). Returns the model, or an fx ``GraphModule`` when a
    function call had to be replaced."""
    for name, m in list(model.named_modules()):
        if not name:
            continue
        if type(m) is nn.Conv2d and m.groups != 1 and m.groups == m.in_channels == m.out_channels:
            new = Depthwise2d(
                m.in_channels,
                m.out_channels,
                m.kernel_size,
                m.stride,
                m.padding,
                m.dilation,
                m.groups,
                m.bias is not None,
                m.padding_mode,
            )
            new.load_state_dict(m.state_dict())
            _swap(model, name, new)
        elif isinstance(m, nn.ReLU6):
            _swap(model, name, Clip(0.0, 6.0))
        elif isinstance(m, nn.Hardtanh):
            _swap(model, name, Clip(m.min_val, m.max_val))
        elif isinstance(m, nn.Identity):
            _swap(model, name, nn.Dropout(0.0))
    gaps = {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, nn.AdaptiveAvgPool2d) and _is_global(m.output_size)
    }
    graph = _trace(model)
    calls = [
        n
        for n in graph.nodes
        if n.op == "call_function"
        and (
            (n.target in _GAP_FUNCTIONS and _is_global(_gap_size(n))) or n.target in _CLIP_FUNCTIONS
        )
    ]
    if not gaps and not calls:
        return model
    if input_shape is None:
        raise CodegenError("global average pooling: the input shape is needed to export it")
    from torch.fx.passes.shape_prop import ShapeProp

    gm = _graph_module(model, graph)
    ShapeProp(gm).propagate(torch.zeros((1, *input_shape)))
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and node.target in gaps:
            hw = tuple(int(s) for s in node.args[0].meta["tensor_meta"].shape[2:])
            _swap(gm, node.target, nn.AvgPool2d(hw))
        elif node.op == "call_function" and node.target in _GAP_FUNCTIONS:
            if not _is_global(_gap_size(node)):
                continue
            hw = tuple(int(s) for s in node.args[0].meta["tensor_meta"].shape[2:])
            target = f"gap_{node.name}"
            gm.add_submodule(target, nn.AvgPool2d(hw))
            with gm.graph.inserting_after(node):
                new = gm.graph.call_module(target, (node.args[0],))
            new.meta = dict(node.meta)
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
        elif node.op == "call_function" and node.target in _CLIP_FUNCTIONS:
            target = f"clip_{node.name}"
            gm.add_submodule(target, Clip(*_CLIP_FUNCTIONS[node.target]))
            with gm.graph.inserting_after(node):
                new = gm.graph.call_module(target, (node.args[0],))
            new.meta = dict(node.meta)
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm


def preflight(
    model: nn.Module, io_type: str = "io_parallel", input_shape: tuple[int, ...] | None = None
) -> torch.fx.GraphModule:
    """Check every module and every traced operation of ``model`` (after :func:`normalize`, which
    rewrites it in place); return the fx graph module of what hls4ml will convert.

    Raises :class:`CodegenError` naming the first unsupported layer or operation.
    """
    model = normalize(model, input_shape)
    for name, m in model.named_modules():
        if name:
            check_module(name, m, io_type)
    gm = _graph_module(model, _trace(model))
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
