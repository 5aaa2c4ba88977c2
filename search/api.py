"""One call per stage, each taking its config object: :func:`search`, :func:`train`,
:func:`evaluate`. The configs live in :mod:`search.config` (pydantic models that round-trip
through dicts, stored in checkpoints and ``summary.json`` so a resumed run can check it continues
the same experiment) and are re-exported here.

>>> from search.api import SearchConfig, search
>>> summary = search(SearchConfig(target="bitops=0.5x", epochs=2))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .config import (
    DEFAULT_A_BITS,
    DEFAULT_W_BITS,
    PRESETS,
    RESUME_FREE,
    EvalConfig,
    SearchConfig,
    TrainConfig,
)
from .loop import StepCallback, run_search
from .train import run_evaluate, run_train

__all__ = [
    "DEFAULT_A_BITS",
    "DEFAULT_W_BITS",
    "PRESETS",
    "RESUME_FREE",
    "EvalConfig",
    "SearchConfig",
    "TrainConfig",
    "evaluate",
    "search",
    "train",
]


def search(config: SearchConfig, callback: StepCallback | None = None) -> dict[str, Any]:
    """Run (or resume) an EdMIPS search; returns the summary written to ``summary.json``.
    ``callback(epoch, step, model)`` runs after every step."""
    return run_search(config, callback=callback)


def train(config: TrainConfig) -> dict[str, Any]:
    """Train and evaluate a fixed-precision network; returns the summary (accuracy, paths)."""
    return run_train(config)


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Top-1 accuracy of a trained model file (and its hardware cost with ``accel``)."""
    return run_evaluate(config)
