"""Pre-flight checks: reject what hls4ml 1.3.0 cannot convert, or converts wrongly, before calling it.

Each rejection is one :class:`CodegenError` line naming the layer and the supported alternative.
What is supported, and each layer type's own check, comes from the op registry
(:mod:`codegen.ops`); :func:`preflight` also rewrites, exactly, what hls4ml's PyTorch frontend
cannot read into what it can (each op's ``swap`` and ``rewrite``), and traces the model once.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import CodegenError
from .ops import OPS, op_of_module, op_of_node, supported_modules

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


def check_module(name: str, m: nn.Module, io_type: str) -> None:
    """Raise CodegenError if module ``m`` (qualified name ``name``) cannot be exported."""
    cls = type(m).__name__
    where = f"layer '{name}' ({cls})"
    if cls in _ALTERNATIVES:
        raise CodegenError(f"{where}: not supported by hls4ml 1.3.0: {_ALTERNATIVES[cls]}")
    op = op_of_module(m)
    if op is not None:
        if op.check is not None:
            op.check(name, m, io_type)
        return
    leafish = not list(m.children())
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    if leafish and not isinstance(m, containers):
        raise CodegenError(
            f"{where}: not supported by codegen (supported: "
            + ", ".join(c.__name__ for c in supported_modules())
            + ")"
        )


def check_modules(model: nn.Module, io_type: str) -> None:
    """:func:`check_module` on every named module of ``model`` (e.g. again for another io type)."""
    for name, m in model.named_modules():
        if name:
            check_module(name, m, io_type)


def _swap(root: nn.Module, name: str, new: nn.Module) -> None:
    parent = root.get_submodule(name.rpartition(".")[0]) if "." in name else root
    setattr(parent, name.rpartition(".")[2], new)


def _trace(model: nn.Module) -> torch.fx.Graph:
    """The one torch.fx trace of an export (hls4ml's own tracer: same leaves, same node names)."""
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


def swap_modules(model: nn.Module) -> nn.Module:
    """Replace, in place and exactly, every module an op's ``swap`` rewrites (a depthwise
    ``nn.Conv2d`` -> ``Depthwise2d``, ``nn.ReLU6``/``nn.Hardtanh`` -> ``Clip``, ``nn.Identity``
    -> ``nn.Dropout(0)``); returns ``model``."""
    swaps = [op.swap for op in OPS.values() if op.swap is not None]
    for name, m in list(model.named_modules()):
        if not name:
            continue
        for swap in swaps:
            new = swap(m)
            if new is not None:
                _swap(model, name, new)
                break
    return model


def _rewrite_graph(
    gm: torch.fx.GraphModule, input_shape: tuple[int, ...] | None
) -> torch.fx.GraphModule:
    """Apply every op's shape-dependent ``rewrite`` on the traced graph (no second trace): a
    factory that returns a module replaces the node by it (global average pooling ->
    ``nn.AvgPool2d`` over the whole input, ``F.relu6`` -> ``Clip``); one that returns None has
    rewritten the node in place (``torch.cat``'s axis as hls4ml reads it)."""
    mods = dict(gm.named_modules())
    todo = []
    for node in gm.graph.nodes:
        if node.op not in ("call_module", "call_function"):
            continue
        for op in OPS.values():
            make = op.rewrite(node, mods) if op.rewrite is not None else None
            if make is not None:
                todo.append((node, make))
                break
    if not todo:
        return gm
    if input_shape is None:
        raise CodegenError(f"operation '{todo[0][0].name}': the input shape is needed to export it")
    from torch.fx.passes.shape_prop import ShapeProp

    ShapeProp(gm).propagate(torch.zeros((1, *input_shape)))
    for node, make in todo:
        new_mod = make(node)
        if new_mod is None:
            continue
        if node.op == "call_module":
            _swap(gm, node.target, new_mod)
            continue
        target = f"{type(new_mod).__name__.lower()}_{node.name}"
        gm.add_submodule(target, new_mod)
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
    """Check every module and every traced operation of ``model`` (rewritten in place first, see
    :func:`swap_modules`); return the fx graph module of what hls4ml will convert.

    ``model`` is traced exactly once. Raises :class:`CodegenError` naming the first unsupported
    layer or operation.
    """
    swap_modules(model)
    gm = _rewrite_graph(_graph_module(model, _trace(model)), input_shape)
    check_modules(gm, io_type)  # every module the graph calls, after the rewrites
    mods = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_function" and op_of_node(node, mods) is None:
            fname = getattr(node.target, "__name__", str(node.target))
            alt = _FUNC_ALTERNATIVES.get(fname, "use the nn module equivalent (see codegen docs)")
            raise CodegenError(f"operation '{node.name}' ({fname}): not supported: {alt}")
        if node.op == "call_method":
            if node.target == "size":
                raise CodegenError(
                    f"operation '{node.name}' (x.size): {_FUNC_ALTERNATIVES['size']}"
                )
            if op_of_node(node, mods) is None:
                alt = _FUNC_ALTERNATIVES.get(node.target, "use the nn module equivalent")
                raise CodegenError(
                    f"operation '{node.name}' (.{node.target}()): not supported: {alt}"
                )
    return gm
