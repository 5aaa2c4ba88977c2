"""The Python API of ``edmips``: one call per stage, each taking a config object that
round-trips through YAML/dicts, mirroring the CLI (``edmips search/train/evaluate/simulate/emit/run``).

>>> from edmips.api import Experiment, run
>>> result = run(Experiment.load("examples/digits_fpga.yaml"), "runs/digits")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from search.api import EvalConfig, SearchConfig, TrainConfig, evaluate, search, train

from .cmd_emit import emit
from .experiment import EmitConfig, Experiment, ExperimentError, SimulateConfig
from .pipeline import STAGES, RunResult, simulate
from .pipeline import run as _run

__all__ = [
    "STAGES",
    "EmitConfig",
    "EvalConfig",
    "Experiment",
    "ExperimentError",
    "RunResult",
    "SearchConfig",
    "SimulateConfig",
    "TrainConfig",
    "emit",
    "evaluate",
    "run",
    "search",
    "simulate",
    "train",
]


def run(
    experiment: Experiment | str | os.PathLike,
    out: str | os.PathLike,
    force: bool = False,
    stages: Sequence[str] | None = None,
    progress: bool = True,
) -> RunResult:
    """Run an experiment (object or YAML path) into the run folder ``out``: search -> train ->
    baselines -> simulate -> emit -> report, skipping finished stages (see ``edmips.pipeline``)."""
    exp = experiment if isinstance(experiment, Experiment) else Experiment.load(experiment)
    return _run(exp, out, force=force, stages=stages, progress=progress)
