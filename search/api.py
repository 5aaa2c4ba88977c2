"""Config objects and one call per stage: :func:`search`, :func:`train`, :func:`evaluate`.

Each config is a plain dataclass that round-trips through a dict (stored in checkpoints and
``summary.json``), so a resumed run can check it continues the same experiment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import SearchError

# keys of SearchConfig that may differ between a run and its resumption
RESUME_FREE = {
    "resume",
    "force",
    "workers",
    "out",
    "progress",
    "epochs",
    "device",
    "pin_memory",
    "weights",
}

#: Default candidate weight widths per quantizer family (the one place they are set; the CLI,
#: experiment files and pareto leave ``w_bits`` unset to get these). ``fixed`` weights map onto a
#: symmetric ``ap_fixed``, which needs at least 2 bits.
DEFAULT_W_BITS: dict[str, list[int]] = {"paper": [1, 2, 3, 4], "fixed": [2, 3, 4]}
DEFAULT_A_BITS: list[int] = [2, 3, 4]

#: Search presets: the architecture parameters' optimizer and schedule.
#: ``converge`` (the default) is what reaches a decided allocation in the 10^2-10^4 steps this tool
#: runs: Adam on the alphas (betas 0.5/0.999 and no weight decay, as DARTS, Liu et al. ICLR 2019),
#: a softmax temperature annealed geometrically from 1 to 0.03 over the post-warm-up steps (as
#: FBNet anneals its Gumbel-softmax temperature, Wu et al. CVPR 2019) with the alphas' step scaled
#: by the temperature (the logits alpha/T move at most ~lra per step however far T has annealed),
#: a small entropy penalty ramped up with the annealing (it breaks the ties of layers where
#: neither accuracy nor cost prefers a width, which would otherwise stay undecided), the first 25% of the epochs
#: a warm-up with the alphas frozen and the cost term off, and the lambda controller aiming at
#: 0.95x the budget so the final argmax lands in [0.9, 1.0]x without repair.
#: ``paper`` keeps EdMIPS's own settings (Cai & Vasconcelos, CVPR 2020, github.com/zhaoweicai/EdMIPS:
#: alphas on SGD lr 0.01, momentum 0.9, weight decay 1e-4, the same step schedule as the weights,
#: no temperature, no warm-up; its ImageNet runs: 25 epochs, batch 256, weights lr 0.1 stepped x0.1
#: every 10 epochs, i.e. ~10^5 alpha updates), with the controller aiming at the budget itself.
PRESETS: dict[str, dict[str, Any]] = {
    "converge": {
        "arch_optimizer": "adam",
        "lra": 0.05,
        "temp_start": 1.0,
        "temp_end": 0.03,
        "warmup": 0.25,
        "setpoint": 0.95,
        "entropy": 0.01,
    },
    "paper": {
        "arch_optimizer": "sgd",
        "lra": 0.01,
        "temp_start": 1.0,
        "temp_end": 1.0,
        "warmup": 0.0,
        "setpoint": 1.0,
        "entropy": 0.0,
    },
}


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
    w_bits: list[int] | None = None  # None -> DEFAULT_W_BITS[family]
    a_bits: list[int] = field(default_factory=lambda: list(DEFAULT_A_BITS))
    family: str = "paper"
    preset: str = "converge"  # converge | paper: fills the None fields below (see PRESETS)
    arch_optimizer: str | None = None  # adam | sgd (the alphas' own optimizer)
    lra: float | None = None  # architecture learning rate per step
    temp_start: float | None = None  # softmax temperature of the alphas after the warm-up
    temp_end: float | None = None  # ... at the last step (geometric in between)
    warmup: float | None = None  # fraction of the epochs (rounded down) with frozen alphas, no cost
    setpoint: float | None = None  # the controller aims the expected cost at setpoint x budget
    entropy: float | None = None  # weight of the mean per-layer entropy (nats), ramped 0 -> 1
    init: str | None = None  # warm start: model.pt of `edmips train` or a search checkpoint
    first: str = "float"
    last: str = "float"
    train_subset: int | None = None  # use the first N images of a seeded shuffle of the train split
    epochs: int = 12
    step_epoch: int = 5
    lr: float = 0.1
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
    # ---- own models and devices (issue 13; see search/models.py and search/device.py) ----
    model_args: dict[str, Any] | None = None  # keyword arguments of the model factory
    weights: str | None = None  # starting weights: a state_dict or a checkpoint (strict key check)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str | None = None  # None (float32) | bf16 (CUDA autocast)
    pin_memory: bool = False  # DataLoader pin_memory (for CUDA)
    augment: bool = True  # standard training augmentations (cifar10, imagefolder only)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise SearchError(f"--preset '{self.preset}': expected one of {', '.join(PRESETS)}")
        for key, value in PRESETS[self.preset].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.w_bits is None and self.family in DEFAULT_W_BITS:
            self.w_bits = list(DEFAULT_W_BITS[self.family])
        if self.arch_optimizer not in ("adam", "sgd"):
            raise SearchError(f"--arch-optimizer '{self.arch_optimizer}': expected adam or sgd")
        for key in ("lra", "temp_start", "temp_end", "setpoint"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and 0 < v < float("inf")):
                raise SearchError(f"--{key.replace('_', '-')} {v!r}: expected a positive number")
        if not 0 <= float(self.entropy) < float("inf"):  # type: ignore[arg-type]
            raise SearchError(f"--entropy {self.entropy!r}: expected a non-negative number")
        if not 0 <= float(self.warmup) < 1:  # type: ignore[arg-type]
            raise SearchError(f"--warmup {self.warmup!r}: expected a fraction in [0, 1)")


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
    # ---- own models and devices (issue 13; see search/models.py and search/device.py) ----
    model_args: dict[str, Any] | None = None  # keyword arguments of the model factory
    weights: str | None = None  # starting weights: a state_dict or a checkpoint (strict key check)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str | None = None  # None (float32) | bf16 (CUDA autocast)
    pin_memory: bool = False  # DataLoader pin_memory (for CUDA)
    augment: bool = True  # standard training augmentations (cifar10, imagefolder only)


@dataclass
class EvalConfig:
    """Evaluate a trained model file on a data set's test split."""

    model_file: str = "runs/train/model.pt"
    data: str | None = None  # default: the data set the model was trained on
    data_dir: str | None = None
    batch_size: int = 256
    accel: str | None = None  # optional: also report the allocation's hardware cost
    progress: bool = True
    # ---- devices (issue 13; see search/device.py) ----
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str | None = None  # None (float32) | bf16 (CUDA autocast)
    workers: int = 0  # DataLoader worker processes
    pin_memory: bool = False  # DataLoader pin_memory (for CUDA)


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
