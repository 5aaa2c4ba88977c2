"""Config objects and one call per stage: :func:`search`, :func:`train`, :func:`evaluate`.

Each config is a plain dataclass that round-trips through a dict (stored in checkpoints and
``summary.json``), so a resumed run can check it continues the same experiment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import SearchError

# keys of SearchConfig that may differ between a run and its resumption
RESUME_FREE = {"resume", "force", "workers", "out", "progress", "epochs"}


def _from_dict(cls: type, raw: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise SearchError(f"{cls.__name__}: unknown key '{sorted(unknown)[0]}'")
    return cls(**raw)


class _DictConfig:
    """to_dict/from_dict for the config dataclasses (unknown keys are errors)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Any:
        return _from_dict(cls, raw)


@dataclass
class SearchConfig(_DictConfig):
    """Everything an EdMIPS search needs. Units: learning rates per step, epochs as counts."""

    model: str = "digits_cnn"
    data: str = "digits"
    data_dir: str | None = None
    accel: str | None = None  # accelerator YAML; None -> only bitops is available
    metric: str = "latency"
    target: str | None = None  # e.g. "latency=0.5x"; None -> fixed lambda
    lam: float | None = None  # the paper's gamma (fixed); with a target: the initial lambda
    w_bits: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    a_bits: list[int] = field(default_factory=lambda: [2, 3, 4])
    family: str = "paper"
    first: str = "float"
    last: str = "float"
    train_subset: int | None = None  # use the first N images of a seeded shuffle of the train split
    epochs: int = 12
    step_epoch: int = 5
    lr: float = 0.1
    lra: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 64
    seed: int = 0
    out: str = "runs/search"
    resume: bool = False
    force: bool = False
    workers: int = 0
    lambda_interval: int = 5
    fill: float = 0.9
    progress: bool = True


@dataclass
class TrainConfig(_DictConfig):
    """Final training of a fixed mixed-precision network (from an allocation or uniform bits)."""

    model: str = "digits_cnn"
    data: str = "digits"
    data_dir: str | None = None
    allocation: str | None = None  # allocation.yaml from a search
    bits: str | None = None  # uniform baseline "W/A", e.g. "2/2"
    family: str = "paper"
    first: str = "float"
    last: str = "float"
    init_from_search: str | None = None  # a search checkpoint whose weights start training
    train_subset: int | None = None  # use the first N images of a seeded shuffle of the train split
    epochs: int = 15
    step_epoch: int = 6
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 64
    seed: int = 0
    out: str = "runs/train"
    force: bool = False
    workers: int = 0
    progress: bool = True


@dataclass
class EvalConfig:
    """Evaluate a trained model file on a data set's test split."""

    model_file: str = "runs/train/model.pt"
    data: str | None = None  # default: the data set the model was trained on
    data_dir: str | None = None
    batch_size: int = 256
    accel: str | None = None  # optional: also report the allocation's hardware cost
    progress: bool = True


def search(config: SearchConfig, callback: Any = None) -> dict[str, Any]:
    """Run (or resume) an EdMIPS search; returns the summary written to ``summary.json``."""
    from .loop import run_search

    return run_search(config, callback=callback)


def train(config: TrainConfig) -> dict[str, Any]:
    """Train and evaluate a fixed-precision network; returns the summary (accuracy, paths)."""
    from .train import run_train

    return run_train(config)


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Top-1 accuracy of a trained model file (and its hardware cost with ``accel``)."""
    from .train import run_evaluate

    return run_evaluate(config)
