"""The op registry: every layer type codegen supports, registered once (the hls4ml way).

An :class:`Op` names, for one kind of layer:

* how it is recognised in the traced graph (``nn`` module classes, ``call_function`` targets,
  ``call_method`` names) and which modules are rewritten into it before tracing (``swap``) or
  after, when the rewrite needs the input shape (``rewrite``);
* its pre-flight check (``check``: one :class:`CodegenError` line naming the layer and what to
  use instead);
* its plan (``plan``: exact ``ap_fixed`` types by range analysis, see :mod:`codegen.plan`);
* its hls4ml mapping (``precision``: the hls4ml precision keys it sets; ``hls_handler``: a
  custom PyTorch-frontend handler registered through
  ``hls4ml.converters.register_pytorch_layer_handler`` where hls4ml 1.3.0 has none);
* its float64 emulation (``emulate``: hls4ml's ``nnet_utils`` semantics, then the result cast).

:mod:`codegen.preflight`, :mod:`codegen.plan`, :mod:`codegen.emulate` and :mod:`codegen.hls`
dispatch through :data:`OPS`; adding a layer type is one :func:`register` call here.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import CodegenError
from .fixed import FixedType, covering, weight_type_for
from .hls_ext import Clip, Depthwise2d, parse_clip, parse_depthwise

if TYPE_CHECKING:
    from .export import LayerQuant

BN_SCALE_BITS = 16
MAX_PARAM_BITS = 24  # float32 holds grid values up to 24 significant bits exactly


@dataclass
class NodePlan:
    """One hls4ml layer: its op, inputs, output shape (NCHW, no batch) and precision types."""

    name: str
    op: str
    inputs: list[str]
    shape: tuple[int, ...]
    module: str | None = None  # qualified name in the user's model
    types: dict[str, FixedType] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    lo: float = 0.0
    hi: float = 0.0
    quant_point: str | None = None  # layer whose input quantizer this node's result implements

    @property
    def result(self) -> FixedType:
        return self.types["result"]


PlanFn = Callable[[NodePlan, "nn.Module | None", list[NodePlan], "LayerQuant | None"], None]
EmulateFn = Callable[[NodePlan, list[torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class Op:
    """One supported layer type (see the module docstring)."""

    name: str
    plan: PlanFn
    emulate: EmulateFn
    modules: tuple[type[nn.Module], ...] = ()
    functions: tuple[Any, ...] = ()
    methods: tuple[str, ...] = ()
    check: Callable[[str, nn.Module, str], None] | None = None
    swap: Callable[[nn.Module], nn.Module | None] | None = None
    rewrite: Callable[[torch.fx.Node, dict[str, nn.Module]], Callable | None] | None = None
    precision: tuple[str, ...] = ("result",)
    hls_handler: tuple[str, Callable] | None = None
    mac: bool = False  # a conv/linear layer: has a format record, a reuse factor, a strategy
    transparent: bool = False  # max/flatten/dropout: a monotone quantizer commutes with it
    alias: bool = False  # no hls4ml layer (the frontend drops it): its output is its input
    hls_may_drop: bool = False  # hls4ml may remove the layer without changing numerics (reshape)
    reencode: Callable[[nn.Module, NodePlan], None] | None = None


OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add ``op`` to the registry (its name must be new)."""
    if op.name in OPS:
        raise ValueError(f"op '{op.name}' is already registered")
    OPS[op.name] = op
    return op


def op_of_module(m: nn.Module) -> Op | None:
    """The registered op of a module instance (None when no op claims it)."""
    for op in OPS.values():
        if op.modules and isinstance(m, op.modules):
            return op
    return None


def op_of_node(node: torch.fx.Node, mods: dict[str, nn.Module]) -> Op | None:
    """The registered op of a traced (normalized) graph node; None when unsupported."""
    if node.op == "placeholder":
        return INPUT
    if node.op == "call_module":
        return op_of_module(mods[node.target])
    for op in OPS.values():
        if node.op == "call_function" and node.target in op.functions:
            return op
        if node.op == "call_method" and node.target in op.methods:
            return op
    return None


def supported_modules() -> tuple[type[nn.Module], ...]:
    return tuple(c for op in OPS.values() for c in op.modules)


def hls_handlers() -> dict[str, Callable]:
    """Class name -> custom hls4ml PyTorch-frontend handler, for every op that needs one."""
    return {op.hls_handler[0]: op.hls_handler[1] for op in OPS.values() if op.hls_handler}


def pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# pre-flight checks
# ---------------------------------------------------------------------------------------------
def _check_conv(name: str, m: nn.Module, io_type: str) -> None:
    where = f"layer '{name}' ({type(m).__name__})"
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
    if pair(m.dilation) != (1, 1):
        raise CodegenError(
            f"{where}: dilation={list(pair(m.dilation))} is wrong or crashes in hls4ml 1.3.0:"
            " use dilation=1 (a larger kernel or stride instead)"
        )
    if m.padding_mode != "zeros":
        raise CodegenError(
            f"{where}: padding_mode='{m.padding_mode}' is not supported: use 'zeros'"
        )


def _check_pool(name: str, m: nn.Module, io_type: str) -> None:
    where = f"layer '{name}' ({type(m).__name__})"
    k, s, p = pair(m.kernel_size), pair(m.stride or m.kernel_size), pair(m.padding)
    if isinstance(m, nn.MaxPool2d) and pair(m.dilation) != (1, 1):
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


# ---------------------------------------------------------------------------------------------
# rewrites into modules hls4ml's PyTorch frontend reads
# ---------------------------------------------------------------------------------------------
def _swap_depthwise(m: nn.Module) -> nn.Module | None:
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
        return new
    return None


def _swap_clip(m: nn.Module) -> nn.Module | None:
    if isinstance(m, nn.ReLU6):
        return Clip(0.0, 6.0)
    if isinstance(m, nn.Hardtanh):
        return Clip(m.min_val, m.max_val)
    return None


def _swap_identity(m: nn.Module) -> nn.Module | None:
    return nn.Dropout(0.0) if isinstance(m, nn.Identity) else None


def is_global(size: object) -> bool:
    return size == 1 or (isinstance(size, (tuple, list)) and tuple(size) == (1, 1))


def _rewrite_gap(node: torch.fx.Node, mods: dict[str, nn.Module]) -> Callable | None:
    """Global average pooling (module or function) -> nn.AvgPool2d over the whole input (the
    returned factory reads the input shape from the node's shape metadata)."""
    if node.op == "call_module":
        m = mods[node.target]
        ok = isinstance(m, nn.AdaptiveAvgPool2d) and is_global(m.output_size)
    elif node.op == "call_function" and node.target is F.adaptive_avg_pool2d:
        size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
        ok = is_global(size)
    else:
        ok = False
    if not ok:
        return None
    return lambda n: nn.AvgPool2d(tuple(int(s) for s in n.args[0].meta["tensor_meta"].shape[2:]))


def _rewrite_relu6(node: torch.fx.Node, mods: dict[str, nn.Module]) -> Callable | None:
    if node.op == "call_function" and node.target is F.relu6:
        return lambda n: Clip(0.0, 6.0)
    return None


def _rewrite_cat(node: torch.fx.Node, mods: dict[str, nn.Module]) -> Callable | None:
    """``torch.cat``: hls4ml 1.3.0's frontend reads the axis only from ``kwargs['dim']`` (default
    0, the batch axis), so the call is rewritten in place to ``torch.cat([a, b], dim=d)`` with a
    non-negative ``d``; it merges exactly two distinct tensors of rank <= 3 (batch excluded)."""
    if node.op != "call_function" or node.target is not torch.cat:
        return None

    def canonical(n: torch.fx.Node) -> None:
        tensors = n.args[0] if n.args else n.kwargs.get("tensors")
        dim = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0)
        rank = len(n.meta["tensor_meta"].shape)
        where = f"operation '{n.name}' (torch.cat)"
        if not isinstance(tensors, (list, tuple)) or len(tensors) != 2:
            raise CodegenError(f"{where}: hls4ml 1.3.0 concatenates exactly two tensors")
        if tensors[0] is tensors[1]:
            raise CodegenError(f"{where}: concatenating a tensor with itself is not supported")
        if rank > 4:
            raise CodegenError(f"{where}: tensors of rank > 3 (batch excluded) are not supported")
        dim = int(dim) + (rank if int(dim) < 0 else 0)
        if dim == 0:
            raise CodegenError(f"{where}: concatenation along the batch axis is not supported")
        n.args = (list(tensors),)
        n.kwargs = {"dim": dim}

    return canonical


# ---------------------------------------------------------------------------------------------
# plans (exact types by range analysis) and float64 emulations
# ---------------------------------------------------------------------------------------------
def _plan_mac(p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None) -> None:
    assert m is not None and lq is not None
    a = ins[0]
    layer = p.params["layer"]
    w = m.weight.detach().double().numpy()
    wt = weight_type_for(w, lq.w_bits) if lq.weight is None else lq.weight
    wq = wt.cast(w)
    if lq.weight is not None and not np.array_equal(wq, w):
        bad = int(np.sum(wq != w))
        raise CodegenError(f"layer '{layer}': {bad} weights are not on the grid of {wt}")
    wt = FixedType(True, wt.width, wt.integer)  # values are on the grid: no modes needed
    acc_frac = a.result.frac + wt.frac
    cout = w.shape[0]
    if m.bias is not None:
        b = m.bias.detach().double().numpy()
        bmax = float(np.max(np.abs(b))) if b.size else 0.0
        bt = covering(-bmax, bmax, acc_frac)
        if bt.width > MAX_PARAM_BITS:
            bt = covering(-bmax, bmax, acc_frac - (bt.width - MAX_PARAM_BITS))
        bt = bt.with_modes("RND", "SAT")
        bq = bt.cast(b)
        bt = FixedType(True, bt.width, bt.integer)
    else:
        bq = np.zeros(cout)
        bt = FixedType(True, 2, 2)
    flat = wq.reshape(cout, -1)
    lo, hi = min(a.lo, 0.0), max(a.hi, 0.0)
    top = bq + np.maximum(flat * lo, flat * hi).sum(axis=1)
    bot = bq + np.minimum(flat * lo, flat * hi).sum(axis=1)
    p.lo, p.hi = float(bot.min()), float(top.max())
    acc = covering(min(p.lo, 0), max(p.hi, 0), max(acc_frac, bt.frac))
    p.types.update(weight=wt, bias=bt, accum=acc, result=acc)
    p.params.update(weight=wq, bias=bq, float_layer=lq.float_layer, has_bias=m.bias is not None)
    if isinstance(m, nn.Conv2d):
        p.params.update(
            stride=pair(m.stride),
            padding=pair(m.padding),
            dilation=pair(m.dilation),
            groups=int(m.groups),
            kernel=pair(m.kernel_size),
        )


def _reencode_mac(m: nn.Module, p: NodePlan) -> None:
    m.weight.copy_(torch.from_numpy(p.params["weight"]).to(m.weight.dtype))
    if m.bias is not None:
        m.bias.copy_(torch.from_numpy(p.params["bias"]).to(m.bias.dtype))


def _emulate_conv(p: NodePlan, ins: list[torch.Tensor]) -> torch.Tensor:
    w = torch.from_numpy(p.params["weight"])
    b = torch.from_numpy(p.params["bias"])
    return F.conv2d(
        ins[0],
        w,
        b,
        stride=p.params["stride"],
        padding=p.params["padding"],
        groups=p.params["groups"],
    )


def _emulate_linear(p: NodePlan, ins: list[torch.Tensor]) -> torch.Tensor:
    return F.linear(
        ins[0], torch.from_numpy(p.params["weight"]), torch.from_numpy(p.params["bias"])
    )


def _plan_bn(p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None) -> None:
    assert m is not None
    a = ins[0]
    var = m.running_var.detach().double().numpy()
    mean = m.running_mean.detach().double().numpy()
    gamma = m.weight.detach().double().numpy() if m.affine else np.ones_like(var)
    beta = m.bias.detach().double().numpy() if m.affine else np.zeros_like(var)
    scale = gamma / np.sqrt(var + m.eps)
    bias = beta - mean * scale
    st = weight_type_for(scale, BN_SCALE_BITS)
    sq = st.cast(scale)
    bfrac = a.result.frac + st.frac
    bmax = float(np.max(np.abs(bias))) if bias.size else 0.0
    bt = covering(-bmax, bmax, bfrac)
    if bt.width > MAX_PARAM_BITS:
        bt = covering(-bmax, bmax, bfrac - (bt.width - MAX_PARAM_BITS))
    bq = bt.with_modes("RND", "SAT").cast(bias)
    c_lo = np.minimum(sq * a.lo, sq * a.hi) + bq
    c_hi = np.maximum(sq * a.lo, sq * a.hi) + bq
    p.lo, p.hi = float(c_lo.min()), float(c_hi.max())
    res = covering(min(p.lo, 0), max(p.hi, 0), max(bfrac, bt.frac))
    p.types.update(
        scale=FixedType(True, st.width, st.integer),
        bias=FixedType(True, bt.width, bt.integer),
        result=res,
    )
    p.params.update(scale=sq, bias=bq)


def _reencode_bn(m: nn.Module, p: NodePlan) -> None:
    """BatchNorm re-encoded as weight=scale, bias=bias, mean 0, var 1, eps 0 (hls4ml reads them
    exactly)."""
    m.affine = True
    m.weight = nn.Parameter(torch.from_numpy(p.params["scale"]).float())
    m.bias = nn.Parameter(torch.from_numpy(p.params["bias"]).float())
    m.running_mean.zero_()
    m.running_var.fill_(1.0)
    m.eps = 0.0


def _emulate_bn(p: NodePlan, ins: list[torch.Tensor]) -> torch.Tensor:
    s = torch.from_numpy(p.params["scale"])
    b = torch.from_numpy(p.params["bias"])
    shape = (1, -1) + (1,) * (ins[0].dim() - 2)
    return ins[0] * s.view(shape) + b.view(shape)


def _plan_relu(
    p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None
) -> None:
    a = ins[0]
    p.lo, p.hi = max(a.lo, 0.0), max(a.hi, 0.0)
    p.types["result"] = covering(p.lo, p.hi, a.result.frac)


def _plan_clip(
    p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None
) -> None:
    assert m is not None
    a = ins[0]
    lo, hi = float(m.lo), float(m.hi)
    p.lo, p.hi = min(max(a.lo, lo), hi), min(max(a.hi, lo), hi)
    p.types["result"] = covering(min(p.lo, 0.0), max(p.hi, 0.0), a.result.frac)
    p.params.update(lo=lo, hi=hi)


def _plan_maxpool(
    p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None
) -> None:
    assert m is not None
    a = ins[0]
    p.lo, p.hi = a.lo, a.hi
    p.types["result"] = a.result
    p.types["accum"] = a.result
    p.params.update(kernel=pair(m.kernel_size), stride=pair(m.stride or m.kernel_size))


def _plan_avgpool(
    p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None
) -> None:
    assert m is not None
    a = ins[0]
    k = pair(m.kernel_size)
    area = k[0] * k[1]
    e = math.ceil(math.log2(area)) if area > 1 else 0
    frac = a.result.frac + e
    p.lo, p.hi = a.lo, a.hi
    p.types["accum"] = covering(min(a.lo * area, 0), max(a.hi * area, 0), frac)
    p.types["result"] = covering(min(p.lo, 0), max(p.hi, 0), frac)
    p.params.update(kernel=k, stride=pair(m.stride or m.kernel_size), area=area)


def _emulate_avgpool(p: NodePlan, ins: list[torch.Tensor]) -> torch.Tensor:
    acc_t = p.types["accum"]
    s = F.avg_pool2d(ins[0], p.params["kernel"], p.params["stride"], divisor_override=1)
    s = torch.from_numpy(acc_t.cast(s.numpy()))
    return torch.from_numpy(acc_t.cast((s / p.params["area"]).numpy()))


def _plan_add(p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None) -> None:
    if len(ins) != 2:
        raise CodegenError(f"operation '{p.name}': only a + b of two tensors is supported")
    frac = max(i.result.frac for i in ins)
    p.lo, p.hi = sum(i.lo for i in ins), sum(i.hi for i in ins)
    p.types["result"] = covering(min(p.lo, 0), max(p.hi, 0), frac)


def _plan_cat(p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None) -> None:
    """Both inputs cast (exactly) to one result type: the finer fraction, the wider range."""
    frac = max(i.result.frac for i in ins)
    p.lo, p.hi = min(i.lo for i in ins), max(i.hi for i in ins)
    p.types["result"] = covering(min(p.lo, 0), max(p.hi, 0), frac)
    p.params["dim"] = int(p.params["call_kwargs"]["dim"])


def _plan_same(
    p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None
) -> None:
    a = ins[0]
    p.lo, p.hi = a.lo, a.hi
    p.types["result"] = a.result


def _plan_input(
    p: NodePlan, m: nn.Module | None, ins: list[NodePlan], lq: LayerQuant | None
) -> None:
    """Planned by :func:`codegen.plan.build_plan` (the input type depends on the whole graph)."""


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
INPUT = register(Op("input", _plan_input, lambda p, ins: ins[0]))  # the model input

register(
    Op(
        "conv",
        _plan_mac,
        _emulate_conv,
        modules=(nn.Conv2d,),  # Depthwise2d (a depthwise conv) included
        check=_check_conv,
        swap=_swap_depthwise,
        precision=("weight", "bias", "accum", "result"),
        hls_handler=("Depthwise2d", parse_depthwise),
        mac=True,
        reencode=_reencode_mac,
    )
)
register(
    Op(
        "linear",
        _plan_mac,
        _emulate_linear,
        modules=(nn.Linear,),
        precision=("weight", "bias", "accum", "result"),
        mac=True,
        reencode=_reencode_mac,
    )
)
register(
    Op(
        "bn",
        _plan_bn,
        _emulate_bn,
        modules=(nn.BatchNorm2d, nn.BatchNorm1d),
        precision=("scale", "bias", "result"),
        reencode=_reencode_bn,
    )
)
register(
    Op(
        "relu",
        _plan_relu,
        lambda p, ins: torch.clamp_min(ins[0], 0.0),
        modules=(nn.ReLU,),
        functions=(torch.relu, F.relu),
        methods=("relu",),
    )
)
register(
    Op(
        "clip",  # ReLU6 / Hardtanh: min(max(x, lo), hi)
        _plan_clip,
        lambda p, ins: torch.clamp(ins[0], p.params["lo"], p.params["hi"]),
        modules=(Clip,),
        swap=_swap_clip,
        rewrite=_rewrite_relu6,
        hls_handler=("Clip", parse_clip),
    )
)
register(
    Op(
        "maxpool",
        _plan_maxpool,
        lambda p, ins: F.max_pool2d(ins[0], p.params["kernel"], p.params["stride"]),
        modules=(nn.MaxPool2d,),
        check=_check_pool,
        precision=("accum", "result"),
        transparent=True,
    )
)
register(
    Op(
        "avgpool",  # also global average pooling (AdaptiveAvgPool2d(1), adaptive_avg_pool2d(x, 1))
        _plan_avgpool,
        _emulate_avgpool,
        modules=(nn.AvgPool2d,),
        check=_check_pool,
        rewrite=_rewrite_gap,
        precision=("accum", "result"),
    )
)
register(
    Op(
        "add",
        _plan_add,
        lambda p, ins: ins[0] + ins[1],
        functions=(operator.add, torch.add),
        methods=("add",),
    )
)
register(
    Op(
        "concat",  # torch.cat of two tensors (channels for NCHW), see _rewrite_cat
        _plan_cat,
        lambda p, ins: torch.cat(ins, dim=p.params["dim"]),
        functions=(torch.cat,),
        rewrite=_rewrite_cat,
    )
)
register(
    Op(
        "flatten",
        _plan_same,
        lambda p, ins: torch.flatten(ins[0], 1),
        modules=(nn.Flatten,),
        functions=(torch.flatten,),
        methods=("flatten", "view", "reshape"),
        transparent=True,
        hls_may_drop=True,
    )
)
register(
    Op(
        "dropout",  # also nn.Identity; hls4ml's frontend drops it
        _plan_same,
        lambda p, ins: ins[0],
        modules=(nn.Dropout,),
        swap=_swap_identity,
        transparent=True,
        alias=True,
    )
)
