"""codegen: a trained mixed-precision network -> an hls4ml project, verified bit-exactly.

The public face:

* :func:`emit` — plan, write and (with samples) verify a project (:mod:`codegen.emit`);
* :func:`verify` — compile hls4ml's C simulation with g++ and compare it with the float64
  emulation (:mod:`codegen.verify`);
* :func:`export_model` / :class:`QuantModel` — a plain model paired with the allocation's
  per-layer format records (:mod:`codegen.export`);
* :func:`build_plan` / :func:`emulate` — the typed export plan and its bit-exact emulation;
* the op registry :data:`OPS`, :class:`Op` and :func:`register` (:mod:`codegen.ops`): one entry
  per supported layer type (pre-flight check, plan, hls4ml mapping, float64 emulation);
* :class:`CodegenError` — every user-facing error (one line).
"""

from __future__ import annotations

from .emit import EmitResult, emit
from .emulate import emulate
from .errors import CodegenError
from .export import QuantModel, export_model
from .ops import OPS, Op, register
from .plan import ExportPlan, build_plan
from .preflight import preflight
from .verify import VerifyResult, verify

__all__ = [
    "OPS",
    "CodegenError",
    "EmitResult",
    "ExportPlan",
    "Op",
    "QuantModel",
    "VerifyResult",
    "build_plan",
    "emit",
    "emulate",
    "export_model",
    "preflight",
    "register",
    "verify",
]
