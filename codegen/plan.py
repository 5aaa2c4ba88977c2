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

Float layers run at the widths of their format record (the one rule,
``hwsim.formats.FLOAT_LAYER_BITS``), the widths hwsim costs them at: their weights get ``w_bits``
(step from max|W|) and their input gets ``a_bits`` (round + saturate, integer bits covering the
input's observed range on the calibration samples, or its analysed range without them) — for the
float first layer (the model input) and the float last layer alike. Biases are rounded to the
accumulator grid (capped at 24 bits so float32 holds them exactly); BatchNorm keeps its own layer
with a 16-bit scale (re-encoded as weight=scale, bias=bias, mean 0, var 1, eps 0 so hls4ml reads
them exactly). Every op's own planning is registered in :mod:`codegen.ops`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hwsim.workload import LayerSpec, Workload

from .errors import CodegenError
from .export import QuantModel
from .fixed import MAX_EXACT_BITS, FixedType, covering
from .ops import OPS, NodePlan, op_of_node
from .preflight import preflight

INPUT_BITS = 16  # input type width when the input feeds no conv/linear layer directly


class ExportRoot(nn.Module):
    """Wrapper so hls4ml traces the model as a child (its input is named ``x``)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class ExportPlan:
    """Typed graph ready for hls4ml, the model hls4ml converts, and the input type."""

    nodes: list[NodePlan]
    model: nn.Module  # what hls4ml converts: ExportRoot, rewritten by the pre-flight
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
        return [n for n in self.nodes if OPS[n.op].mac]

    @property
    def output(self) -> NodePlan:
        return self.nodes[-1]

    def mac_input(self, p: NodePlan) -> NodePlan:
        """The node whose result a conv/linear node reads."""
        return self.node(p.inputs[0])

    def workload(self, name: str = "export") -> Workload:
        """The hwsim workload of this plan (batch 1): one layer per conv/linear node, named by
        its module, with the shapes the plan carries; edges from producer to consumer layers
        through any other op. The same layers ``search.trace.trace_workload`` finds, without
        another trace of the model."""
        by = {n.name: n for n in self.nodes}
        memo: dict[str, frozenset[str]] = {}

        def feeding(node: str) -> frozenset[str]:
            if node not in memo:
                n = by[node]
                if OPS[n.op].mac:
                    memo[node] = frozenset([n.params["layer"]])
                else:
                    memo[node] = frozenset().union(*(feeding(i) for i in n.inputs))
            return memo[node]

        layers: list[LayerSpec] = []
        edges: list[tuple[str, str]] = []
        for n in self.mac_nodes():
            layer = n.params["layer"]
            a = self.mac_input(n)
            w = n.params["weight"]
            if n.op == "linear":
                spec = LayerSpec(
                    name=layer,
                    kind="linear",
                    in_channels=int(w.shape[1]),
                    out_channels=int(w.shape[0]),
                    bias=bool(n.params["has_bias"]),
                )
            else:
                spec = LayerSpec(
                    name=layer,
                    kind="conv",
                    in_channels=int(a.shape[0]),
                    out_channels=int(w.shape[0]),
                    kernel=n.params["kernel"],
                    stride=n.params["stride"],
                    padding=n.params["padding"],
                    dilation=n.params["dilation"],
                    groups=n.params["groups"],
                    in_hw=(int(a.shape[1]), int(a.shape[2])),
                    out_hw=(int(n.shape[1]), int(n.shape[2])),
                    bias=bool(n.params["has_bias"]),
                )
            layers.append(spec)
            edges += [(p, layer) for p in sorted(feeding(a.name))]
        return Workload(name=name, layers=layers, edges=edges)


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
    """Trace ``qm.model`` (once) and assign every layer its exact types (see module docstring).

    ``calib``: input samples (N, *input_shape); a float layer's input is quantized to its
    ``a_bits`` over the range these samples reach (without them: the model input over [-1, 1],
    another tensor over its analysed range).
    """
    net = copy.deepcopy(qm.model).eval().cpu().float()
    root = ExportRoot(net)
    gm = preflight(root, io_type, tuple(qm.input_shape))  # the normalized model hls4ml converts
    mods = dict(gm.named_modules())
    fx_nodes = [n for n in gm.graph.nodes if n.op != "output"]
    outputs = [n for n in gm.graph.nodes if n.op == "output"]
    if sum(1 for n in fx_nodes if n.op == "placeholder") != 1 or len(outputs) != 1:
        raise CodegenError("codegen supports models with exactly one input and one output tensor")
    ops = {}
    for n in fx_nodes:
        op = op_of_node(n, mods)
        if op is None:
            raise CodegenError(f"operation '{n.name}': not supported by codegen")
        ops[n.name] = op
    shapes, ranges = _observe(gm, tuple(qm.input_shape), calib)

    def layer_of(n: torch.fx.Node) -> str:
        return str(n.target)[len("net.") :]

    def producer(n: torch.fx.Node) -> torch.fx.Node:
        p = n.args[0]
        while ops[p.name].transparent:  # max pooling commutes with a monotone quantizer
            p = p.args[0]
        return p

    # quantization points: producer of each layer's input -> (format or None, layer, a_bits).
    # A quantized layer brings its input quantizer's format; a float layer runs its input at
    # its record's a_bits, the type chosen below from the producer's range.
    qpoint: dict[str, tuple[FixedType | None, str, int]] = {}
    notes: list[str] = []
    for n in fx_nodes:
        if not ops[n.name].mac:
            continue
        layer = layer_of(n)
        lq = qm.layers.get(layer)
        if lq is None:
            raise CodegenError(f"layer '{layer}': no formats in the export model")
        p = producer(n)
        old = qpoint.get(p.name)
        if old is None:
            qpoint[p.name] = (lq.act, layer, lq.a_bits)
            continue
        if old[0] is None or lq.act is None:
            if old[0] is None and lq.act is None and old[2] == lq.a_bits:
                continue
            raise CodegenError(
                f"layers '{old[1]}' and '{layer}' read the same tensor ('{p.name}') and one of"
                " them is a float layer: give both the same format or keep both float"
            )
        if old[0] != lq.act:
            merged = _merge(old[0], lq.act)
            notes.append(
                f"layers '{old[1]}' and '{layer}' read the same tensor ('{p.name}') with formats"
                f" {old[0]} and {lq.act}: exported at {merged}"
            )
            qpoint[p.name] = (merged, f"{old[1]}+{layer}", merged.width)

    plans: dict[str, NodePlan] = {}
    order: list[NodePlan] = []
    alias: dict[str, str] = {}  # dropout -> its input
    for n in fx_nodes:
        op = ops[n.name]
        if op.alias:
            alias[n.name] = alias.get(n.args[0].name, n.args[0].name)
            continue
        inputs = [alias.get(a.name, a.name) for a in _tensor_args(n)]
        p = NodePlan(n.name, op.name, inputs, shapes[n.name])
        if n.op == "call_function":
            p.params["call_kwargs"] = dict(n.kwargs)
        m = mods.get(n.target) if n.op == "call_module" else None
        if n.op == "call_module":
            p.module = n.target[len("net.") :] if n.target.startswith("net.") else n.target
        lq = None
        if op.mac:
            p.params["layer"] = layer_of(n)
            lq = qm.layers[p.params["layer"]]
        ins = [plans[i] for i in inputs]
        if n.op == "placeholder":  # the input: [-1, 1] unless observed on calibration data
            p.lo, p.hi = ranges.get(n.name, (-1.0, 1.0))
            if n.name not in qpoint:  # it feeds no conv/linear directly: 16 bits over its range
                p.types["result"] = _over_range(p.lo, p.hi, INPUT_BITS)
                p.lo, p.hi = p.result.lo, p.result.hi
        else:
            op.plan(p, m, ins, lq)
        q = qpoint.get(n.name)
        if q is not None:
            t = q[0]
            if t is None:  # a float layer's input: its a_bits over the observed range
                t = _over_range(*ranges.get(n.name, (p.lo, p.hi)), q[2])
            p.types["result"] = t
            if n.op == "placeholder":
                p.lo, p.hi = t.lo, t.hi
            else:
                p.lo, p.hi = float(t.cast(np.array(p.lo))), float(t.cast(np.array(p.hi)))
            p.quant_point = q[1]
        for key, t in p.types.items():
            _check_width(n.name, key, t)
        plans[n.name] = p
        order.append(p)
    _reencode(gm, order)
    return ExportPlan(order, gm, tuple(qm.input_shape), qm, notes + list(qm.notes))


def _tensor_args(n: torch.fx.Node) -> list[torch.fx.Node]:
    """The node's tensor arguments in order, also those inside lists (``torch.cat([a, b])``)."""
    found: list[torch.fx.Node] = []

    def collect(a: torch.fx.Node) -> torch.fx.Node:
        found.append(a)
        return a

    torch.fx.node.map_arg(n.args, collect)
    return found


def _over_range(lo: float, hi: float, bits: int) -> FixedType:
    """``bits`` wide, round + saturate, integer bits covering [lo, hi] (and 0)."""
    base = covering(min(lo, 0.0), max(hi, 0.0), 0)
    return FixedType(base.signed, bits, base.integer, "RND", "SAT")


def _observe(
    gm: torch.fx.GraphModule, input_shape: tuple[int, ...], calib: np.ndarray | None
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[float, float]]]:
    """Per node: its output shape (no batch) and, with ``calib``, the (min, max) it reaches on
    the calibration samples (one forward pass of the traced graph, no retrace)."""
    shapes: dict[str, tuple[int, ...]] = {}
    ranges: dict[str, tuple[float, float]] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, node: torch.fx.Node) -> object:
            out = super().run_node(node)
            if isinstance(out, torch.Tensor):
                shapes[node.name] = tuple(int(s) for s in out.shape[1:])
                if calib is not None and out.numel():
                    ranges[node.name] = (float(out.min()), float(out.max()))
            return out

    x = (
        torch.zeros((1, *input_shape))
        if calib is None
        else torch.from_numpy(np.asarray(calib, dtype=np.float32))
    )
    with torch.no_grad():
        Recorder(gm).run(x)
    return shapes, ranges


def _reencode(root: nn.Module, nodes: list[NodePlan]) -> None:
    """Write the planned grid values into the model hls4ml converts (each op's ``reencode``)."""
    mods = dict(root.named_modules())
    with torch.no_grad():
        for p in nodes:
            fn = OPS[p.op].reencode
            if p.module is not None and fn is not None:
                fn(mods["net." + p.module], p)
