"""Export plan: the traced graph of a :class:`QuantModel` with a fixed-point type for every layer.

The planner walks the torch.fx graph (the same tracer hls4ml uses, so node names are hls4ml layer
names) in topological order and gives each node exact types:

* the quantization points: the input of every quantized conv/linear gets that layer's activation
  format, set as the result type of the node that produces it (a ReLU, pooling, add or the model
  input), found by walking back through max pooling, flatten and dropout;
* a tensor read by a quantized layer AND by others (a ResNet skip) is quantized once, at its
  producer, so the skip path also sees the quantized value (in the PyTorch model only the conv's
  own input is quantized); two quantized readers with different formats get the merged (wider)
  format, listed in the plan's notes;
* every other result is exact: the narrowest type that holds every value the node can produce
  (range analysis on the real weights), so only the declared quantizers ever round.

Float layers run at their allocation entry (8/8 by convention), the widths hwsim costs them at
(one rule, see :mod:`hwsim.fpga_plan`): their weights get ``w_bits`` (step from max|W|) and a float
first layer's input gets ``a_bits`` (round + saturate over the calibration range). Biases are rounded to the accumulator grid
(capped at 24 bits so float32 holds them exactly); BatchNorm keeps its own layer with a 16-bit
scale (re-encoded as weight=scale, bias=bias, mean 0, var 1, eps 0 so hls4ml reads them exactly).
"""

from __future__ import annotations

import copy
import math
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import CodegenError
from .export import QuantModel
from .fixed import MAX_EXACT_BITS, FixedType, covering, weight_type_for
from .hls_ext import Clip
from .preflight import preflight

INPUT_BITS = 16  # input type width when the input feeds no conv/linear layer directly
BN_SCALE_BITS = 16
MAX_PARAM_BITS = 24  # float32 holds grid values up to 24 significant bits exactly
TRANSPARENT = ("maxpool", "flatten", "dropout")


class ExportRoot(nn.Module):
    """Wrapper so hls4ml traces the model as a child (its input is named ``x``)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


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


@dataclass
class ExportPlan:
    """Typed graph ready for hls4ml, the model hls4ml converts, and the input type."""

    nodes: list[NodePlan]
    model: nn.Module  # what hls4ml converts: ExportRoot, normalized (see preflight.normalize)
    input_shape: tuple[int, ...]
    qm: QuantModel
    notes: list[str] = field(default_factory=list)

    @property
    def input_type(self) -> FixedType:
        return self.nodes[0].result

    def node(self, name: str) -> NodePlan:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def mac_nodes(self) -> list[NodePlan]:
        return [n for n in self.nodes if n.op in ("conv", "linear")]

    @property
    def output(self) -> NodePlan:
        return self.nodes[-1]


def _op_of(node: torch.fx.Node, mods: dict[str, nn.Module]) -> str:
    if node.op == "placeholder":
        return "input"
    if node.op == "call_module":
        m = mods[node.target]
        if isinstance(m, Clip):
            return "clip"
        table = {
            nn.Conv2d: "conv",
            nn.Linear: "linear",
            nn.BatchNorm2d: "bn",
            nn.BatchNorm1d: "bn",
            nn.ReLU: "relu",
            nn.MaxPool2d: "maxpool",
            nn.AvgPool2d: "avgpool",
            nn.Flatten: "flatten",
            nn.Dropout: "dropout",
        }
        for cls, op in table.items():
            if isinstance(m, cls):
                return op
    if node.op == "call_function":
        if node.target in (operator.add, torch.add):
            return "add"
        if node.target in (torch.relu, F.relu):
            return "relu"
        if node.target is torch.flatten:
            return "flatten"
    if node.op == "call_method":
        return {
            "add": "add",
            "relu": "relu",
            "flatten": "flatten",
            "view": "flatten",
            "reshape": "flatten",
        }[node.target]
    raise CodegenError(f"operation '{node.name}': not supported by codegen")


def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))  # type: ignore[return-value]


def _merge(a: FixedType, b: FixedType) -> FixedType:
    """The narrowest RND/SAT format at least as wide and fine as both."""
    signed = a.signed or b.signed
    frac = max(a.frac, b.frac)
    ints = max(a.integer + (signed and not a.signed), b.integer + (signed and not b.signed))
    return FixedType(signed, ints + frac, ints, "RND", "SAT")


def _check_width(node: str, key: str, t: FixedType) -> None:
    if t.width > MAX_EXACT_BITS:
        raise CodegenError(
            f"layer '{node}': {key} type {t} is wider than {MAX_EXACT_BITS} bits and cannot be"
            " emulated exactly: use fewer weight/activation bits or a narrower input"
        )


def build_plan(
    qm: QuantModel, calib: np.ndarray | None = None, io_type: str = "io_parallel"
) -> ExportPlan:
    """Trace ``qm.model`` and assign every layer its exact types (see module docstring).

    ``calib``: input samples (N, *input_shape) used only to pick a 16-bit input type when the
    first layer is a float layer (otherwise the first layer's activation format is the input type).
    """
    net = copy.deepcopy(qm.model).eval().cpu().float()
    root = ExportRoot(net)
    gm = preflight(root, io_type, tuple(qm.input_shape))  # the normalized model hls4ml converts
    mods = dict(gm.named_modules())
    # shapes from one forward pass
    shapes: dict[str, tuple[int, ...]] = {}
    from torch.fx.passes.shape_prop import ShapeProp

    ShapeProp(gm).propagate(torch.zeros((1, *qm.input_shape)))
    for node in gm.graph.nodes:
        meta = node.meta.get("tensor_meta")
        if meta is not None and hasattr(meta, "shape"):
            shapes[node.name] = tuple(int(s) for s in meta.shape[1:])

    fx_nodes = [n for n in gm.graph.nodes if n.op != "output"]
    outputs = [n for n in gm.graph.nodes if n.op == "output"]
    if sum(1 for n in fx_nodes if n.op == "placeholder") != 1 or len(outputs) != 1:
        raise CodegenError("codegen supports models with exactly one input and one output tensor")
    ops = {n.name: _op_of(n, mods) for n in fx_nodes}
    alias: dict[str, str] = {}  # dropout -> its input

    def src(n: torch.fx.Node) -> str:
        name = n.args[0].name
        return alias.get(name, name)

    # quantization points: producer of each quantized layer's input
    qpoint: dict[str, tuple[FixedType, str]] = {}
    notes: list[str] = []
    for n in fx_nodes:
        if ops[n.name] not in ("conv", "linear"):
            continue
        layer = n.target[len("net.") :]
        lq = qm.layers.get(layer)
        if lq is None:
            raise CodegenError(f"layer '{layer}': no formats in the export model")
        if lq.act is None:
            continue
        p = n.args[0]
        while ops[p.name] in TRANSPARENT:  # max pooling commutes with a monotone quantizer
            p = p.args[0]
        if p.name in qpoint:
            old, who = qpoint[p.name]
            if old != lq.act:
                merged = _merge(old, lq.act)
                notes.append(
                    f"layers '{who}' and '{layer}' read the same tensor ('{p.name}') with formats"
                    f" {old} and {lq.act}: exported at {merged}"
                )
                qpoint[p.name] = (merged, f"{who}+{layer}")
        else:
            qpoint[p.name] = (lq.act, layer)

    # a float layer reading the model input directly: the input runs at that layer's a_bits
    input_bits = INPUT_BITS
    for n in fx_nodes:
        if ops[n.name] in ("conv", "linear"):
            p = n.args[0]
            while ops[p.name] in TRANSPARENT:
                p = p.args[0]
            if ops[p.name] == "input":
                input_bits = qm.layers[n.target[len("net.") :]].a_bits
                break

    plans: dict[str, NodePlan] = {}
    order: list[NodePlan] = []
    for n in fx_nodes:
        op = ops[n.name]
        if op == "dropout":
            alias[n.name] = src(n)
            continue
        inputs = (
            []
            if op == "input"
            else [alias.get(a.name, a.name) for a in n.args if isinstance(a, torch.fx.Node)]
        )
        p = NodePlan(n.name, op, inputs, shapes[n.name])
        if n.op == "call_module":
            p.module = n.target[len("net.") :] if n.target.startswith("net.") else n.target
        q = qpoint.get(n.name)
        ins = [plans[i] for i in inputs]
        m = mods.get(n.target) if n.op == "call_module" else None
        if op == "input":
            if q is not None:
                t = q[0]
            else:
                if calib is None:
                    lo, hi = -1.0, 1.0
                else:
                    lo, hi = float(np.min(calib)), float(np.max(calib))
                base = covering(min(lo, 0.0), max(hi, 0.0), 0)
                t = FixedType(base.signed, input_bits, base.integer, "RND", "SAT")
            p.types["result"] = t
            p.lo, p.hi = t.lo, t.hi
        elif op in ("conv", "linear"):
            _plan_mac(p, m, ins[0], qm, n.target[len("net.") :])
        elif op == "bn":
            _plan_bn(p, m, ins[0])
        elif op == "relu":
            a = ins[0]
            p.lo, p.hi = max(a.lo, 0.0), max(a.hi, 0.0)
            p.types["result"] = covering(p.lo, p.hi, a.result.frac)
        elif op == "clip":
            a = ins[0]
            lo, hi = float(m.lo), float(m.hi)
            p.lo, p.hi = min(max(a.lo, lo), hi), min(max(a.hi, lo), hi)
            p.types["result"] = covering(min(p.lo, 0.0), max(p.hi, 0.0), a.result.frac)
            p.params.update(lo=lo, hi=hi)
        elif op == "maxpool":
            a = ins[0]
            p.lo, p.hi = a.lo, a.hi
            p.types["result"] = a.result
            p.types["accum"] = a.result
            p.params.update(kernel=_pair(m.kernel_size), stride=_pair(m.stride or m.kernel_size))
        elif op == "avgpool":
            a = ins[0]
            k = _pair(m.kernel_size)
            area = k[0] * k[1]
            e = math.ceil(math.log2(area)) if area > 1 else 0
            frac = a.result.frac + e
            p.lo, p.hi = a.lo, a.hi
            p.types["accum"] = covering(min(a.lo * area, 0), max(a.hi * area, 0), frac)
            p.types["result"] = covering(min(p.lo, 0), max(p.hi, 0), frac)
            p.params.update(kernel=k, stride=_pair(m.stride or m.kernel_size), area=area)
        elif op == "add":
            if len(ins) != 2:
                raise CodegenError(f"operation '{n.name}': only a + b of two tensors is supported")
            frac = max(i.result.frac for i in ins)
            p.lo, p.hi = sum(i.lo for i in ins), sum(i.hi for i in ins)
            p.types["result"] = covering(min(p.lo, 0), max(p.hi, 0), frac)
        elif op == "flatten":
            a = ins[0]
            p.lo, p.hi = a.lo, a.hi
            p.types["result"] = a.result
        if q is not None and op != "input":
            t = q[0]
            p.types["result"] = t
            p.lo, p.hi = float(t.cast(np.array(p.lo))), float(t.cast(np.array(p.hi)))
            p.quant_point = q[1]
        elif q is not None:
            p.quant_point = q[1]
        for key, t in p.types.items():
            _check_width(n.name, key, t)
        plans[n.name] = p
        order.append(p)
    _reencode(gm, order)
    return ExportPlan(order, gm, tuple(qm.input_shape), qm, notes + list(qm.notes))


def _plan_mac(p: NodePlan, m: nn.Module, a: NodePlan, qm: QuantModel, layer: str) -> None:
    lq = qm.layers[layer]
    w = m.weight.detach().double().numpy()
    if lq.weight is None:
        wt = weight_type_for(w, lq.w_bits)
    else:
        wt = lq.weight
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
    p.params.update(weight=wq, bias=bq, float_layer=lq.float_layer, layer=layer)
    if isinstance(m, nn.Conv2d):
        p.params.update(stride=_pair(m.stride), padding=_pair(m.padding), groups=int(m.groups))


def _plan_bn(p: NodePlan, m: nn.Module, a: NodePlan) -> None:
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
    lo, hi = a.lo, a.hi
    c_lo = np.minimum(sq * lo, sq * hi) + bq
    c_hi = np.maximum(sq * lo, sq * hi) + bq
    p.lo, p.hi = float(c_lo.min()), float(c_hi.max())
    res = covering(min(p.lo, 0), max(p.hi, 0), max(bfrac, bt.frac))
    p.types.update(
        scale=FixedType(True, st.width, st.integer),
        bias=FixedType(True, bt.width, bt.integer),
        result=res,
    )
    p.params.update(scale=sq, bias=bq)


def _reencode(root: nn.Module, nodes: list[NodePlan]) -> None:
    """Write the planned grid values into the model hls4ml converts."""
    mods = dict(root.named_modules())
    with torch.no_grad():
        for p in nodes:
            if p.module is None or p.op not in ("conv", "linear", "bn"):
                continue
            m = mods["net." + p.module]
            if p.op in ("conv", "linear"):
                m.weight.copy_(torch.from_numpy(p.params["weight"]).to(m.weight.dtype))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(p.params["bias"]).to(m.bias.dtype))
            elif p.op == "bn":
                m.affine = True
                m.weight = nn.Parameter(torch.from_numpy(p.params["scale"]).float())
                m.bias = nn.Parameter(torch.from_numpy(p.params["bias"]).float())
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.eps = 0.0
