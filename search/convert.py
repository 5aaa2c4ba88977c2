"""Convert a float model in place: searched layers -> MixedConv2d/MixedLinear (search) or
QConv2d/QLinear (final fixed-precision network), and derive the argmax allocation."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from hwsim.allocation import Allocation
from hwsim.formats import float_layer_format
from hwsim.workload import Workload

from .errors import SearchError
from .layers import (
    MIXED_LAYER_TYPES,
    QUANT_LAYER_TYPES,
    MixedConv2d,
    MixedLinear,
    QConv2d,
    QLinear,
)
from .trace import layer_inputs

_POLICY_VALUES = ("float", "search")


@dataclass
class LayerPolicy:
    """Which layers are searched. ``first``/``last``: "float" (paper default: not searched, costed
    at ``hwsim.formats.FLOAT_LAYER_BITS``) or "search"; ``skip``: module names kept float."""

    first: str = "float"
    last: str = "float"
    skip: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for key in ("first", "last"):
            v = getattr(self, key)
            if v not in _POLICY_VALUES:
                raise SearchError(
                    f"layer policy: key '{key}': expected one of {list(_POLICY_VALUES)}, got {v!r}"
                )
        if isinstance(self.skip, str):
            self.skip = [self.skip]
        self.skip = [str(s) for s in self.skip]


@dataclass(frozen=True)
class LayerRow:
    """One conv/linear layer of a conversion: what it became and why."""

    name: str
    kind: str  # conv | depthwise | linear
    status: str  # searched | quantized | float
    reason: str  # "" when searched/quantized; else first layer / last layer / skipped / unsupported (...)
    signed_input: bool
    bits: str = ""  # e.g. "w[1,2,3,4] a[2,3,4]" or "4/3"


@dataclass
class ConversionSummary:
    """Per-layer result of :func:`convert_for_search` / :func:`convert_fixed`; ``str()`` is a table."""

    rows: list[LayerRow]
    family: str
    graph_traced: bool = True

    @property
    def converted(self) -> list[str]:
        return [r.name for r in self.rows if r.status != "float"]

    @property
    def float_layers(self) -> list[str]:
        return [r.name for r in self.rows if r.status == "float"]

    def row(self, name: str) -> LayerRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise SearchError(f"conversion summary: no layer named '{name}'")

    def __str__(self) -> str:
        head = ("layer", "kind", "status", "bits", "input", "reason")
        body = [
            (
                r.name,
                r.kind,
                r.status,
                r.bits or "-",
                "signed" if r.signed_input else "unsigned",
                r.reason or "-",
            )
            for r in self.rows
        ]
        widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
            for line in [head, *body]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        n_conv = len(self.converted)
        lines.append(f"{n_conv} of {len(self.rows)} layers converted ({self.family} family)")
        if not self.graph_traced:
            lines.append("note: torch.fx could not trace the model; every input treated as signed")
        return "\n".join(lines)


def _kind(m: nn.Module) -> str:
    if isinstance(m, (nn.Linear, MixedLinear, QLinear)):
        return "linear"
    groups = getattr(m, "groups", 1)
    if groups > 1 and groups == m.in_channels and m.out_channels % groups == 0:
        return "depthwise"
    return "conv"


def _mac_layers(model: nn.Module) -> tuple[list[str], dict[str, nn.Module], dict | None]:
    """Float conv/linear layers in execution order (fx graph order; module order as fallback)."""
    mods = {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear, *QUANT_LAYER_TYPES))
    }
    info = layer_inputs(model)
    if info is not None:
        order = [n for n in info if n in mods] + [n for n in mods if n not in info]
    else:
        order = list(mods)
    return order, mods, info


def _unsupported(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros":
        return f"unsupported (padding_mode '{m.padding_mode}')"
    if isinstance(m, QUANT_LAYER_TYPES):
        return "unsupported (already quantized)"
    return ""


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


def _plan(
    model: nn.Module, policy: LayerPolicy
) -> tuple[list[tuple[str, nn.Module, str, bool]], bool]:
    """(name, module, float reason or "", signed_input) per layer, and whether fx traced."""
    order, mods, info = _mac_layers(model)
    if not order:
        raise SearchError("model has no Conv2d or Linear layer to convert")
    unknown = [s for s in policy.skip if s not in mods]
    if unknown:
        raise SearchError(
            f"layer policy: skip names layer '{unknown[0]}', which the model does not have"
        )
    plan = []
    for i, name in enumerate(order):
        m = mods[name]
        reason = _unsupported(m)
        if not reason:
            if i == 0 and policy.first == "float":
                reason = "first layer"
            elif i == len(order) - 1 and policy.last == "float":
                reason = "last layer"
            elif name in policy.skip:
                reason = "skipped"
        signed = True if info is None or name not in info else info[name].signed_input
        plan.append((name, m, reason, signed))
    return plan, info is not None


def convert_for_search(
    model: nn.Module,
    w_bits: Sequence[int],
    a_bits: Sequence[int],
    family: str = "paper",
    policy: LayerPolicy | None = None,
) -> ConversionSummary:
    """Replace every searched nn.Conv2d/nn.Linear of ``model`` (in place, same module names) by
    a MixedConv2d/MixedLinear over the candidate ``w_bits`` x ``a_bits``."""
    policy = policy or LayerPolicy()
    plan, traced = _plan(model, policy)
    rows = []
    bits_text = f"w{list(w_bits)} a{list(a_bits)}".replace(" ", "")
    for name, m, reason, signed in plan:
        if reason:
            rows.append(LayerRow(name, _kind(m), "float", reason, signed))
            continue
        cls = MixedLinear if isinstance(m, nn.Linear) else MixedConv2d
        try:
            new = cls(m, list(w_bits), list(a_bits), family=family, signed_input=signed)
        except SearchError as exc:
            raise SearchError(f"layer '{name}': {exc}") from None
        _set_module(model, name, new)
        rows.append(LayerRow(name, _kind(m), "searched", "", signed, bits_text))
    return ConversionSummary(rows, family, traced)


def convert_fixed(
    model: nn.Module,
    allocation: Allocation,
    family: str = "paper",
    policy: LayerPolicy | None = None,
) -> ConversionSummary:
    """Replace the quantized layers of ``model`` (in place) by QConv2d/QLinear at the allocation's
    (w_bits, a_bits). Layers in ``allocation.float_layers`` or kept float by ``policy`` stay float."""
    policy = policy or LayerPolicy()
    plan, traced = _plan(model, policy)
    names = {p[0] for p in plan}
    for n in allocation.bits:
        if n not in names:
            raise SearchError(f"allocation names layer '{n}', which the model does not have")
    rows = []
    for name, m, reason, signed in plan:
        if not reason and name in allocation.float_layers:
            reason = "float in allocation"
        if reason:
            rows.append(LayerRow(name, _kind(m), "float", reason, signed))
            continue
        if name not in allocation.bits:
            raise SearchError(f"allocation has no entry for layer '{name}'")
        wb, ab = allocation.bits[name]
        cls = QLinear if isinstance(m, nn.Linear) else QConv2d
        try:
            new = cls(m, wb, ab, family=family, signed_input=signed)
        except SearchError as exc:
            raise SearchError(f"layer '{name}': {exc}") from None
        _set_module(model, name, new)
        rows.append(LayerRow(name, _kind(m), "quantized", "", signed, f"{wb}/{ab}"))
    return ConversionSummary(rows, family, traced)


def mixed_layers(model: nn.Module) -> dict[str, MixedConv2d | MixedLinear]:
    """Name -> composite layer, in module order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, MIXED_LAYER_TYPES)}  # type: ignore[misc]


def derive_allocation(model: nn.Module, workload: Workload) -> Allocation:
    """Winner-takes-all allocation: argmax of alpha_w / alpha_a per mixed layer; every other
    workload layer is float, at ``hwsim.formats.FLOAT_LAYER_BITS``, listed in ``float_layers``."""
    mixed = mixed_layers(model)
    missing = [n for n in mixed if n not in set(workload.names)]
    if missing:
        raise SearchError(f"workload '{workload.name}' has no layer '{missing[0]}' of the model")
    bits: dict[str, tuple[int, int]] = {}
    floats: list[str] = []
    for name in workload.names:
        if name in mixed:
            bits[name] = mixed[name].argmax_bits()
        else:
            bits[name] = float_layer_format().bits
            floats.append(name)
    return Allocation(bits, floats, {"source": "argmax"})


def export_fixed(model: nn.Module, allocation: Allocation) -> tuple[nn.Module, Allocation]:
    """The trained fixed-family network as what codegen reads: a plain copy of ``model`` (every
    QConv2d/QLinear replaced by an ``nn.Conv2d``/``nn.Linear`` holding its quantized weight, exact
    grid values) and ``allocation`` with each quantized layer's format record completed (fraction
    bits of the weight and input grids, input signedness: ``ap_[u]fixed<b, b - frac, AP_RND,
    AP_SAT>``). Float layers keep their float weights and their record (the float-layer width).

    Raises :class:`SearchError` for a search-phase network or a paper-family layer (no ap_fixed
    type), and for widths that disagree with the allocation.
    """
    plain = copy.deepcopy(model).eval().cpu()
    records = {}
    swaps: list[tuple[str, nn.Module]] = []
    for name, m in plain.named_modules():
        if isinstance(m, MIXED_LAYER_TYPES):
            raise SearchError(
                f"layer '{name}': a search-phase {type(m).__name__} cannot be emitted: derive the"
                " allocation and train the fixed network ('edmips train --family fixed') first"
            )
        if not isinstance(m, (QConv2d, QLinear)):
            continue
        if m.family != "fixed":
            raise SearchError(
                f"layer '{name}': family '{m.family}' has no hls4ml type; train with family='fixed'"
            )
        if name not in allocation.bits:
            raise SearchError(f"allocation has no entry for layer '{name}'")
        if allocation.bits[name] != (m.w_bits, m.a_bits) or name in allocation.float_layers:
            want = allocation.bits[name]
            raise SearchError(
                f"layer '{name}': model has {m.w_bits}/{m.a_bits} bits but the allocation says"
                f" {want[0]}/{want[1]}{' (float layer)' if name in allocation.float_layers else ''}"
            )
        if isinstance(m, QLinear):
            new: nn.Module = nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
        else:
            new = nn.Conv2d(
                m.in_channels,
                m.out_channels,
                m.kernel_size,
                stride=m.stride,
                padding=m.padding,
                dilation=m.dilation,
                groups=m.groups,
                bias=m.bias is not None,
            )
        with torch.no_grad():
            new.weight.copy_(m.quantized_weight().to(new.weight.dtype))
            if m.bias is not None:
                new.bias.copy_(m.bias.detach())
        records[name] = allocation.formats[name].with_grids(
            int(m.w_frac), int(m.a_frac), m.signed_input
        )
        swaps.append((name, new))
    for name, new in swaps:
        _set_module(plain, name, new)
    return plain, allocation.with_formats(records)
