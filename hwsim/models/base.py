"""The accelerator-model interface and the registry of kinds.

A kind is one module in ``hwsim/models/`` defining a subclass of :class:`Accelerator` decorated
with ``@register("name")``; the package imports every module in the folder, so adding a kind
touches no other file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np

from ..section import Section
from ..workload import LayerArrays

_REGISTRY: dict[str, type[Accelerator]] = {}


def register(kind: str) -> Callable[[type[Accelerator]], type[Accelerator]]:
    """Class decorator: make ``type: kind`` in a YAML config select this model."""

    def deco(cls: type[Accelerator]) -> type[Accelerator]:
        if kind in _REGISTRY and _REGISTRY[kind] is not cls:
            raise RuntimeError(f"accelerator kind {kind!r} registered twice")
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return deco


def registered() -> dict[str, type[Accelerator]]:
    return dict(_REGISTRY)


class Accelerator(ABC):
    """A cost model. ``evaluate`` is elementwise over numpy arrays (layers x w_bits x a_bits).

    ``aggregate`` says how per-layer latencies combine: ``sum`` (layer after layer on one engine)
    or ``pipeline`` (a dataflow pipeline: throughput set by the slowest stage, latency summed along
    the critical path).
    """

    kind: ClassVar[str] = ""
    Params: ClassVar[type[Section]]
    aggregate: ClassVar[Literal["sum", "pipeline"]] = "sum"

    def __init__(self, params: Any) -> None:
        self.params = params

    @property
    @abstractmethod
    def freq_hz(self) -> float:
        """Clock in Hz."""

    def supports(self, w_bits: int, a_bits: int) -> bool:
        """Whether the hardware runs these widths natively (no padding to a wider mode).

        Unsupported widths still get costs (padded up) but a search excludes them.
        """
        return True

    def supported_bits(
        self, candidates_w: list[int], candidates_a: list[int]
    ) -> tuple[list[int], list[int]]:
        """Filter candidate bit-widths to those this accelerator runs natively."""
        ws = [w for w in candidates_w if any(self.supports(w, a) for a in candidates_a)]
        as_ = [a for a in candidates_a if any(self.supports(w, a) for w in candidates_w)]
        return ws, as_

    def widest_mode(self) -> int | None:
        """Widest operand (bits) the hardware runs in one native mode, the top of the monotone
        view's envelope (:func:`hwsim.cost_tables`); ``None``: no such limit, the envelope spans
        every width up to ``hwsim.tables.MODE_MAX_BITS``. A width above it is run as several
        passes of that mode, an extrapolation of the model, not a mode of its own."""
        return None

    def layer_names_matter(self) -> bool:
        """Whether :meth:`evaluate` reads ``L.names`` (per-layer settings). When it does not,
        layers with equal fields cost the same and :func:`hwsim.cost_tables` evaluates each
        distinct layer once."""
        return True

    def annotate_totals(self, totals: dict[str, float]) -> list[str]:
        """Add model-specific totals in place (e.g. an FPGA's resource fit); return report notes."""
        return []

    @abstractmethod
    def evaluate(self, L: LayerArrays, w: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
        """Per-layer metrics (see ``hwsim.components.assemble`` for the standard keys).

        ``L`` fields, ``w`` and ``a`` broadcast against each other; the result has the broadcast
        shape. Bits are float arrays of integer values.
        """
