"""The codegen input: a plain PyTorch model plus the allocation's per-layer format records.

:class:`QuantModel` is what :func:`codegen.plan.build_plan` consumes: a plain ``torch.nn`` model
(Conv2d/Linear/BatchNorm/ReLU/pooling/Flatten/add, see :mod:`codegen.ops`) whose quantized layers
hold weights exactly on their grids, and for every conv/linear layer (by qualified module name)
its :class:`hwsim.formats.LayerFormat` read from the :class:`hwsim.Allocation`. codegen reads
formats only from these records, never from attributes of a training framework's layer objects;
``search.convert.export_fixed`` turns a trained fixed-family network into this form.

Float layers keep float weights here; the planner gives them the record's widths (the one
float-layer rule, ``hwsim.formats.FLOAT_LAYER_BITS``) with grids chosen from the data range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from hwsim.allocation import Allocation
from hwsim.formats import LayerFormat

from .errors import CodegenError
from .fixed import FixedType


@dataclass(frozen=True)
class LayerQuant:
    """The ``ap_fixed`` types of one conv/linear layer, from its format record.

    ``weight``: the weights' ``ap_fixed<w, I, AP_RND, AP_SAT>`` (None for a float layer: the
    planner picks the grid from the weight range at ``fmt.w_bits``). ``act``: the input
    quantizer's ``ap_[u]fixed<a, I, AP_RND, AP_SAT>`` (None for a float layer: the planner
    quantizes the input to ``fmt.a_bits`` over its observed range).
    """

    fmt: LayerFormat
    weight: FixedType | None
    act: FixedType | None

    @property
    def w_bits(self) -> int:
        return self.fmt.w_bits

    @property
    def a_bits(self) -> int:
        return self.fmt.a_bits

    @property
    def float_layer(self) -> bool:
        return self.fmt.float_layer


@dataclass
class QuantModel:
    """A plain model (quantized layers' weights on their exact grids) and per-layer types."""

    model: nn.Module
    input_shape: tuple[int, ...]
    layers: dict[str, LayerQuant]
    allocation: Allocation
    notes: list[str] = field(default_factory=list)


def layer_types(name: str, fmt: LayerFormat) -> LayerQuant:
    """The ap_fixed types a format record implies (raises when a quantized layer's grid is unknown)."""
    if fmt.float_layer:
        return LayerQuant(fmt, None, None)
    if not fmt.known:
        raise CodegenError(
            f"layer '{name}': the allocation's format record has no fraction bits or input"
            " signedness: emit a trained fixed-family network (its formats are recorded when it"
            " is exported, e.g. by search.convert.export_fixed)"
        )
    if fmt.w_bits < 2:
        raise CodegenError(f"layer '{name}': fixed-family weights need at least 2 bits")
    assert fmt.weight_integer is not None and fmt.act_integer is not None
    weight = FixedType(True, fmt.w_bits, fmt.weight_integer, "RND", "SAT")
    act = FixedType(bool(fmt.a_signed), fmt.a_bits, fmt.act_integer, "RND", "SAT")
    return LayerQuant(fmt, weight, act)


def export_model(
    model: nn.Module, allocation: Allocation, input_shape: tuple[int, ...]
) -> QuantModel:
    """Pair a plain model with the format records of ``allocation``.

    Every ``nn.Conv2d``/``nn.Linear`` of ``model`` must have a record and every record a layer;
    a quantized layer's record must be complete (fraction bits and input signedness).
    """
    if not isinstance(model, nn.Module):
        raise CodegenError(f"expected a torch.nn.Module, got {type(model).__name__}")
    mods = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    for name, m in model.named_modules():
        if name not in mods and hasattr(m, "weight") and not list(m.children()):
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                continue
            if name in allocation.bits:
                raise CodegenError(
                    f"layer '{name}' ({type(m).__name__}): not a plain nn.Conv2d/nn.Linear: export"
                    " the trained network to a plain model first (search.convert.export_fixed)"
                )
    layers: dict[str, LayerQuant] = {}
    for name in mods:
        if name not in allocation.formats:
            raise CodegenError(f"allocation has no entry for layer '{name}'")
        layers[name] = layer_types(name, allocation.formats[name])
    for name in allocation.bits:
        if name not in mods:
            raise CodegenError(f"allocation names layer '{name}', which the model does not have")
    return QuantModel(model, tuple(int(s) for s in input_shape), layers, allocation)
