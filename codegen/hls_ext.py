"""Layers hls4ml 1.3.0's PyTorch frontend lacks, added through its extension points (no fork or
patch of hls4ml):

* ``Depthwise2d`` (a depthwise ``nn.Conv2d``, ``groups == in_channels == out_channels``): the
  frontend refuses ``groups != 1`` for any class whose name contains "Conv", so codegen's export
  model uses this subclass and a handler registered with
  ``hls4ml.converters.register_pytorch_layer_handler`` maps it onto hls4ml's own
  ``DepthwiseConv2D`` IR layer (its templates exist for io_parallel and io_stream).
* ``Clip`` (``nn.ReLU6``, ``nn.Hardtanh``): the frontend has no handler, and hls4ml's stream
  activations have no ``relu6``. A ``ClipActivation`` IR layer (``register_layer``), its config
  and function templates (``backend.register_template``) and a small C++ header
  (``hls_src/nnet_clip.h``, ``backend.register_source``) compute
  ``res_T(min(max(x, lo), hi))`` in both io types, with ``lo``/``hi`` as exact constants.

:func:`register` is idempotent and is called before every conversion with the handlers of
:data:`codegen.ops.OPS`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hls4ml.utils.torch import HLS4MLModule
from torch import nn

SRC = Path(__file__).resolve().parent / "hls_src" / "nnet_clip.h"
BACKENDS = ("Vivado", "Vitis")
_registered = False


class Depthwise2d(nn.Conv2d, HLS4MLModule):
    """A depthwise convolution (``groups == in_channels == out_channels``) for export (an
    ``HLS4MLModule``, so hls4ml's tracer keeps it a leaf)."""


class Clip(HLS4MLModule):
    """``min(max(x, lo), hi)``: ReLU6 (0, 6) and Hardtanh (min_val, max_val) for export."""

    def __init__(self, lo: float, hi: float) -> None:
        super().__init__()
        self.lo, self.hi = float(lo), float(hi)

    def forward(self, x):  # noqa: D102 - plain clamp
        return x.clamp(self.lo, self.hi)

    def extra_repr(self) -> str:
        return f"lo={self.lo:g}, hi={self.hi:g}"


def bound_type(lo: float, hi: float) -> str:
    """The narrowest ``ap_fixed`` holding ``lo`` and ``hi`` exactly (fraction bits <= 24)."""
    frac = 0
    while frac < 24 and not all(float(v * 2**frac).is_integer() for v in (lo, hi)):
        frac += 1
    mag = max(abs(lo), abs(hi), 1.0)
    integer = math.floor(math.log2(mag)) + 2  # sign bit + integer bits
    return f"ap_fixed<{integer + frac},{integer}>"


def parse_depthwise(
    operation, layer_name, input_names, input_shapes, node, class_object, reader, config
):
    from hls4ml.converters.pytorch.convolution import parse_conv2d_layer

    layer, shape = parse_conv2d_layer(
        "Conv2d", layer_name, input_names, input_shapes, node, class_object, reader, config
    )
    layer["class_name"] = "DepthwiseConv2D"
    layer["depthwise_data"] = layer.pop("weight_data")
    layer["depth_multiplier"] = 1
    return layer, shape


def parse_clip(
    operation, layer_name, input_names, input_shapes, node, class_object, reader, config
):
    layer = {
        "class_name": "ClipActivation",
        "activation": "clip",
        "name": layer_name,
        "inputs": input_names,
        "lo": float(class_object.lo),
        "hi": float(class_object.hi),
    }
    return layer, [s for s in input_shapes[0]]


CONFIG_TEMPLATE = """struct clip_config{index} {{
    static const unsigned n_in = {n_in};
    static const unsigned io_type = nnet::{iotype};
    static const unsigned reuse_factor = {reuse};
    typedef {bound} bound_t;
    static const bound_t lo;
    static const bound_t hi;
}};
const clip_config{index}::bound_t clip_config{index}::lo = {lo!r};
const clip_config{index}::bound_t clip_config{index}::hi = {hi!r};\n"""
FUNCTION_TEMPLATE = "nnet::clip<{input_t}, {output_t}, {config}>({input}, {output});"


def register(handlers: dict[str, Any]) -> None:
    """Register the ClipActivation layer, its templates, its C++ source and the PyTorch-frontend
    ``handlers`` (class name -> handler function, from the op registry)."""
    global _registered
    import hls4ml

    known = set(hls4ml.converters.get_supported_pytorch_layers())
    for name, fn in handlers.items():
        if name not in known:
            hls4ml.converters.register_pytorch_layer_handler(name, fn)
    if _registered:
        return
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.layers import Activation, Attribute, register_layer

    class ClipActivation(Activation):
        _expected_attributes = [
            Attribute("n_in"),
            Attribute("activation", value_type=str),
            Attribute("lo", value_type=float),
            Attribute("hi", value_type=float),
        ]

    class ClipConfigTemplate(LayerConfigTemplate):
        def __init__(self) -> None:
            super().__init__(ClipActivation)
            self.template = CONFIG_TEMPLATE

        def format(self, node: Any) -> str:
            params = self._default_config_params(node)
            params["bound"] = bound_type(params["lo"], params["hi"])
            return self.template.format(**params)

    class ClipFunctionTemplate(FunctionCallTemplate):
        def __init__(self) -> None:
            super().__init__(ClipActivation, include_header=["nnet_utils/nnet_clip.h"])
            self.template = FUNCTION_TEMPLATE

        def format(self, node: Any) -> str:
            params = self._default_function_params(node)
            params["config"] = f"clip_config{node.index}"
            return self.template.format(**params)

    register_layer("ClipActivation", ClipActivation)
    for b in BACKENDS:
        backend = hls4ml.backends.get_backend(b)
        backend.register_template(ClipConfigTemplate)
        backend.register_template(ClipFunctionTemplate)
        backend.register_source(SRC)
    _registered = True
