"""The codegen intermediate representation: a plain PyTorch model plus per-layer fixed-point formats.

:class:`QuantModel` is what every exporter produces and what :func:`codegen.plan.build_plan`
consumes: a plain ``torch.nn`` model (Conv2d/Linear/BatchNorm/ReLU/pooling/Flatten/add) and, for
every conv/linear layer (by qualified module name), the weight format and the input (activation)
format its quantizers apply. Layers listed as float keep float weights here; the planner gives
them 8-bit weights chosen from the weight range.

Exporters:

* :func:`from_search_model` — a network of ``search.layers.QConv2d``/``QLinear`` (fixed family)
  and its :class:`hwsim.Allocation`;
* :func:`quantize_plain` — a plain float model and an allocation, with fixed-point fractions
  chosen from data statistics by the same rules as the fixed-family quantizers (post-training
  quantization; also what the tests use).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hwsim.allocation import Allocation

from .errors import CodegenError
from .fixed import FixedType

# MSE-optimal steps of the fixed-family quantizers (search/quantizers.py contract):
# weights: Gaussian step x std(W); activations: HWGQ half-Gaussian step x std(input)
GAUSS_STEP = {1: 1.596, 2: 0.996, 3: 0.586, 4: 0.336}
HWGQ_STEP = {1: 0.799, 2: 0.538, 3: 0.3217, 4: 0.185}


def _gauss_step(bits: int) -> float:
    if bits in GAUSS_STEP:
        return GAUSS_STEP[bits]
    return GAUSS_STEP[4] * 2.0 ** (4 - bits)  # documented extension: halve per extra bit


def _hwgq_step(bits: int) -> float:
    if bits in HWGQ_STEP:
        return HWGQ_STEP[bits]
    return HWGQ_STEP[4] * 2.0 ** (4 - bits)


@dataclass
class LayerQuant:
    """Formats of one conv/linear layer.

    ``weight``: the weights' ``ap_fixed`` (None for float layers: chosen at export, 8 bits).
    ``act``: the input quantizer's type (``ap_ufixed<..,AP_RND,AP_SAT>`` for unsigned inputs);
    None when the input is not quantized (float layers).
    """

    w_bits: int
    a_bits: int
    weight: FixedType | None
    act: FixedType | None
    float_layer: bool = False


@dataclass
class QuantModel:
    """A plain model (weights of quantized layers on their exact grid) and per-layer formats."""

    model: nn.Module
    input_shape: tuple[int, ...]
    layers: dict[str, LayerQuant]
    allocation: Allocation | None = None
    notes: list[str] = field(default_factory=list)


def weight_format(bits: int, frac: int) -> FixedType:
    """``ap_fixed<bits, bits-frac>``: the fixed-family weight grid (round half up, saturate)."""
    if bits < 2:
        raise CodegenError(f"fixed-family weights need at least 2 bits, got {bits}")
    return FixedType(True, bits, bits - frac, "RND", "SAT")


def act_format(bits: int, frac: int, signed: bool) -> FixedType:
    """``ap_[u]fixed<bits, bits-frac, AP_RND, AP_SAT>``: the fixed-family activation quantizer."""
    return FixedType(bool(signed), bits, bits - frac, "RND", "SAT")


def _mac_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def _is_search_layer(m: nn.Module) -> bool:
    return all(hasattr(m, a) for a in ("quantized_weight", "weight_format", "act_format"))


def from_search_model(
    model: nn.Module, allocation: Allocation, input_shape: tuple[int, ...]
) -> QuantModel:
    """Export a network of fixed-family ``QConv2d``/``QLinear`` layers (search.layers).

    Each quantized layer becomes a plain ``nn.Conv2d``/``nn.Linear`` holding
    ``quantized_weight()`` (exact grid values); its input quantizer's ``act_format()`` becomes the
    layer's ``act`` format. Plain conv/linear layers are float layers (8-bit weights at export).
    """
    plain = copy.deepcopy(model).eval().cpu()
    layers: dict[str, LayerQuant] = {}
    replacements: list[tuple[str, nn.Module]] = []
    for name, m in list(plain.named_modules()):
        if hasattr(m, "alpha_w") and hasattr(m, "probs"):
            raise CodegenError(
                f"layer '{name}': a search-phase {type(m).__name__} cannot be emitted: derive the"
                " allocation and train the fixed network ('edmips train --family fixed') first"
            )
        if _is_search_layer(m):
            if getattr(m, "family", "fixed") != "fixed":
                raise CodegenError(
                    f"layer '{name}': family '{m.family}' has no hls4ml type; train with family='fixed'"
                )
            new = _plain_layer(name, m)
            with torch.no_grad():
                new.weight.copy_(m.quantized_weight().detach().to(new.weight.dtype))
                if getattr(m, "bias", None) is not None and new.bias is not None:
                    new.bias.copy_(m.bias.detach())
            w_width, w_int = m.weight_format()
            a_width, a_int, a_signed = m.act_format()
            layers[name] = LayerQuant(
                int(w_width),
                int(a_width),
                FixedType(True, int(w_width), int(w_int), "RND", "SAT"),
                FixedType(bool(a_signed), int(a_width), int(a_int), "RND", "SAT"),
            )
            replacements.append((name, new))
    for name, new in replacements:
        _set_module(plain, name, new)
    for name in _mac_modules(plain):
        if name not in layers:
            wb, ab = allocation.bits.get(name, (8, 8))
            layers[name] = LayerQuant(wb, ab, None, None, float_layer=True)
    _check_allocation(layers, allocation)
    return QuantModel(plain, tuple(input_shape), layers, allocation)


def _plain_layer(name: str, m: nn.Module) -> nn.Module:
    """A plain nn.Conv2d/nn.Linear with the geometry of a search layer (weights copied later)."""
    has_bias = getattr(m, "bias", None) is not None
    if getattr(m, "layer_kind", "conv") == "linear" or hasattr(m, "in_features"):
        return nn.Linear(m.in_features, m.out_features, bias=has_bias)
    if not hasattr(m, "kernel_size"):
        raise CodegenError(f"layer '{name}': cannot read the conv geometry of {type(m).__name__}")
    return nn.Conv2d(
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        stride=m.stride,
        padding=m.padding,
        dilation=m.dilation,
        groups=m.groups,
        bias=has_bias,
    )


def _check_allocation(layers: dict[str, LayerQuant], allocation: Allocation | None) -> None:
    if allocation is None:
        return
    for name, lq in layers.items():
        if name not in allocation.bits:
            raise CodegenError(f"allocation has no entry for layer '{name}'")
        if lq.float_layer:
            continue
        want = allocation.bits[name]
        if (lq.w_bits, lq.a_bits) != tuple(want):
            raise CodegenError(
                f"layer '{name}': model has {lq.w_bits}/{lq.a_bits} bits but the allocation says"
                f" {want[0]}/{want[1]}"
            )
    for name in allocation.bits:
        if name not in layers:
            raise CodegenError(f"allocation names layer '{name}', which the model does not have")


def _set_module(root: nn.Module, name: str, new: nn.Module) -> None:
    parent = root
    parts = name.split(".")
    for p in parts[:-1]:
        parent = getattr(parent, p)
    setattr(parent, parts[-1], new)


def quantize_plain(
    model: nn.Module,
    allocation: Allocation,
    calib: torch.Tensor,
    signed_input: dict[str, bool] | None = None,
) -> QuantModel:
    """Post-training fixed-family quantization of a plain float model.

    For every conv/linear layer not in ``allocation.float_layers``: weights are rounded to
    ``ap_fixed<w, w-frac>`` with ``frac = -round(log2(g_w * std(W)))``; the input format is
    ``ap_[u]fixed<a, a-frac, AP_RND, AP_SAT>`` with ``frac = -round(log2(hwgq_a * std(x)))``, x being
    the layer's input on ``calib``. A layer's input is unsigned unless ``signed_input`` says so
    or the calibration input has negative values.
    """
    plain = copy.deepcopy(model).eval().cpu()
    signed_input = dict(signed_input or {})
    mods = _mac_modules(plain)
    floats = set(allocation.float_layers)
    stats: dict[str, tuple[float, float]] = {}

    def hook(name: str):
        def fn(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            x = args[0].detach().double()
            stats[name] = (float(x.std()), float(x.min()))

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in mods.items()]
    with torch.no_grad():
        plain(calib.float())
    for h in handles:
        h.remove()
    layers: dict[str, LayerQuant] = {}
    for name, m in mods.items():
        if name not in allocation.bits:
            raise CodegenError(f"allocation has no entry for layer '{name}'")
        wb, ab = allocation.bits[name]
        if name in floats:
            layers[name] = LayerQuant(wb, ab, None, None, float_layer=True)
            continue
        w = m.weight.detach().double()
        std = float(w.std()) or 1.0
        wfrac = -round(math.log2(_gauss_step(wb) * std))
        wt = weight_format(wb, wfrac)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(wt.cast(w.numpy())).to(m.weight.dtype))
        xstd, xmin = stats.get(name, (1.0, 0.0))
        signed = signed_input.get(name, xmin < 0)
        afrac = -round(math.log2(_hwgq_step(ab) * (xstd or 1.0)))
        layers[name] = LayerQuant(wb, ab, wt, act_format(ab, afrac, signed))
    _check_allocation(layers, allocation)
    return QuantModel(plain, tuple(int(s) for s in calib.shape[1:]), layers, allocation)


def on_grid(values: np.ndarray, t: FixedType) -> bool:
    """Whether every value is exactly representable in ``t``."""
    return bool(np.array_equal(t.cast(values), np.asarray(values, dtype=np.float64)))
