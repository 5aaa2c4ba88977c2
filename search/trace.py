"""Trace a torch model into an ``hwsim.Workload``: real shapes from one forward pass, edges from fx.

Layers are every ``nn.Conv2d`` / ``nn.Linear`` and every quantized layer of ``search.layers``
(MixedConv2d, QConv2d, ...), named by their qualified name in ``model.named_modules()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.fx
from torch import nn

from hwsim.workload import LayerSpec, Workload

from .errors import SearchError

# Ops through which "the input came from a ReLU" (non-negativity) survives.
_PASS_MODULES: tuple[type[nn.Module], ...] = (
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Identity,
)
_PASS_FUNCTIONS = {
    torch.flatten,
    torch.nn.functional.max_pool2d,
    torch.nn.functional.avg_pool2d,
    torch.nn.functional.adaptive_avg_pool2d,
    torch.nn.functional.adaptive_max_pool2d,
    torch.nn.functional.dropout,
}
_PASS_METHODS = {"view", "reshape", "flatten", "contiguous", "clone"}
_RELU_MODULES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)
_RELU_FUNCTIONS = {torch.relu, torch.nn.functional.relu, torch.nn.functional.relu6}
_RELU_METHODS = {"relu", "relu_"}


def mac_layer_types() -> tuple[type[nn.Module], ...]:
    """Module types that are conv/linear layers (plain torch ones and the quantized ones)."""
    types: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
    try:
        from .layers import QUANT_LAYER_TYPES
    except ImportError:  # pragma: no cover - layers not available
        return types
    return types + tuple(QUANT_LAYER_TYPES)


def _is_linear_like(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or getattr(m, "layer_kind", None) == "linear"


def _padding(m: nn.Module, name: str) -> tuple[int, int]:
    pad = m.padding
    if isinstance(pad, str):
        if pad == "valid":
            return (0, 0)
        k, d = m.kernel_size, m.dilation
        total = [d[i] * (k[i] - 1) for i in range(2)]
        if any(t % 2 for t in total):
            raise SearchError(
                f"layer '{name}': padding='same' with an even kernel is not supported"
            )
        return (total[0] // 2, total[1] // 2)
    return (int(pad[0]), int(pad[1]))


def _spec(name: str, m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> LayerSpec:
    has_bias = getattr(m, "bias", None) is not None
    if _is_linear_like(m):
        fin = int(m.in_features)
        return LayerSpec(
            name=name,
            kind="linear",
            in_channels=fin,
            out_channels=int(m.out_features),
            batch=max(1, inp.numel() // fin),
            bias=has_bias,
        )
    if inp.dim() != 4:
        raise SearchError(f"layer '{name}': expected a 4-d NCHW input, got shape {list(inp.shape)}")
    return LayerSpec(
        name=name,
        kind="conv",
        in_channels=int(m.in_channels),
        out_channels=int(m.out_channels),
        kernel=tuple(int(k) for k in m.kernel_size),
        stride=tuple(int(s) for s in m.stride),
        padding=_padding(m, name),
        dilation=tuple(int(d) for d in m.dilation),
        groups=int(m.groups),
        in_hw=(int(inp.shape[2]), int(inp.shape[3])),
        out_hw=(int(out.shape[2]), int(out.shape[3])),
        batch=int(inp.shape[0]),
        bias=has_bias,
    )


class _LeafTracer(torch.fx.Tracer):
    """fx tracer that keeps conv/linear (and quantized) layers as opaque leaf calls."""

    def __init__(self, leaves: tuple[type[nn.Module], ...]):
        super().__init__()
        self._leaves = leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, self._leaves) or super().is_leaf_module(m, qualname)


@dataclass(frozen=True)
class LayerInputs:
    """Graph facts about one conv/linear layer: the MAC layers feeding it and whether its input
    can be negative (False when it comes straight from a ReLU, through pooling/flatten only)."""

    producers: tuple[str, ...]
    signed_input: bool


def layer_inputs(model: nn.Module) -> dict[str, LayerInputs] | None:
    """Per MAC layer name: producers and input signedness from a torch.fx symbolic trace.

    Returns None when the model cannot be traced symbolically (data-dependent control flow).
    """
    leaves = mac_layer_types()
    try:
        graph = _LeafTracer(leaves).trace(model)
    except Exception:  # noqa: BLE001 - any fx failure means "no graph", the caller falls back
        return None
    modules = dict(model.named_modules())

    def is_mac(node: torch.fx.Node) -> bool:
        return node.op == "call_module" and isinstance(modules.get(str(node.target)), leaves)

    memo: dict[torch.fx.Node, frozenset[str]] = {}

    def producers(node: torch.fx.Node) -> frozenset[str]:
        if node in memo:
            return memo[node]
        found: set[str] = set()
        stack = list(node.all_input_nodes)
        seen: set[torch.fx.Node] = set()
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if is_mac(n):
                found.add(str(n.target))
            elif n in memo:
                found |= memo[n]
            else:
                stack.extend(n.all_input_nodes)
        memo[node] = frozenset(found)
        return memo[node]

    def from_relu(node: torch.fx.Node) -> bool:
        while True:
            if node.op == "call_module":
                mod = modules.get(str(node.target))
                if isinstance(mod, _RELU_MODULES):
                    return True
                if not isinstance(mod, _PASS_MODULES):
                    return False
            elif node.op == "call_function":
                if node.target in _RELU_FUNCTIONS:
                    return True
                if node.target not in _PASS_FUNCTIONS:
                    return False
            elif node.op == "call_method":
                if node.target in _RELU_METHODS:
                    return True
                if node.target not in _PASS_METHODS:
                    return False
            else:
                return False
            if not node.args or not isinstance(node.args[0], torch.fx.Node):
                return False
            node = node.args[0]

    result: dict[str, LayerInputs] = {}
    for node in graph.nodes:
        if is_mac(node):
            first = node.args[0] if node.args and isinstance(node.args[0], torch.fx.Node) else None
            result[str(node.target)] = LayerInputs(
                producers=tuple(sorted(producers(node))),
                signed_input=not (first is not None and from_relu(first)),
            )
    return result


def trace_workload(
    model: nn.Module, input_shape: tuple[int, ...], batch: int = 1, name: str | None = None
) -> Workload:
    """One forward pass on zeros of shape (batch, *input_shape), hooks on every MAC layer.

    Layers are in execution order and carry the real input/output shapes; edges come from an fx
    trace (producer -> consumer through any non-MAC ops), else the layers form a chain.
    """
    if batch < 1:
        raise SearchError(f"trace: batch must be positive, got {batch}")
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise SearchError(f"trace: input shape {list(shape)}: expected positive sizes")
    leaves = mac_layer_types()
    names = {m: n for n, m in model.named_modules() if isinstance(m, leaves)}
    # a quantized layer may wrap a plain conv: only the outermost MAC module counts
    inner = {c for m in names for c in m.modules() if c is not m}
    specs: dict[str, LayerSpec] = {}
    handles = []

    def hook(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
        lname = names[mod]
        if lname not in specs and args and isinstance(args[0], torch.Tensor):
            specs[lname] = _spec(lname, mod, args[0], out)

    for m in names:
        if m not in inner:
            handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros((batch, *shape), dtype=dtype, device=device))
    except SearchError:
        raise
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(
            f"trace: input shape {list(shape)} does not fit the model: {first}"
        ) from None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not specs:
        raise SearchError("trace: the model has no Conv2d or Linear layer that ran")
    layers = list(specs.values())
    info = layer_inputs(model)
    edges: list[tuple[str, str]] | None = None
    if info is not None and set(info) >= set(specs):
        edges = [(p, c) for c in specs for p in info[c].producers if p in specs]
    return Workload(name=name or type(model).__name__.lower(), layers=layers, edges=edges)
