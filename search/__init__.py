"""search: EdMIPS differentiable mixed-precision search in PyTorch (model zoo, tracer,
quantizers, composite layers, model conversion). Imports torch; hwsim never imports this."""

from .convert import (
    ConversionSummary,
    LayerPolicy,
    convert_fixed,
    convert_for_search,
    derive_allocation,
    mixed_layers,
)
from .errors import SearchError
from .layers import MixedConv2d, MixedLinear, QConv2d, QLinear
from .trace import trace_workload
from .zoo import MODELS, ModelInfo, build_model

__all__ = [
    "MODELS",
    "ConversionSummary",
    "LayerPolicy",
    "MixedConv2d",
    "MixedLinear",
    "ModelInfo",
    "QConv2d",
    "QLinear",
    "SearchError",
    "build_model",
    "convert_fixed",
    "convert_for_search",
    "derive_allocation",
    "mixed_layers",
    "trace_workload",
]
