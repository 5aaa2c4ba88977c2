"""The configs of the search, training and evaluation stages: pydantic models, the one place
their fields, defaults, units and value checks live.

``NetworkConfig`` holds what every stage of one study shares (model, data, quantizer family, layer
policy, seed); ``TrainingConfig`` adds the weight training (epochs, SGD with a step schedule);
:class:`SearchConfig` and :class:`TrainConfig` extend it. The CLI (``edmips search/train/pareto``)
builds its options from these fields (:func:`add_field_argument`), the experiment file of
``edmips run`` validates its sections against them and ``edmips pareto`` builds its sub-run configs
from them, so a default is written once. A bad value raises :class:`search.errors.SearchError` in
one line naming the option and value (``--epochs 0: expected a positive integer``).

Units: learning rates per step, epochs and batch sizes as counts, temperatures dimensionless,
``target_ii`` in cycles per image.
"""

from __future__ import annotations

import argparse
import math
import os
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError, PydanticUndefined

from hwsim.fpga_plan import with_target

from .budget import parse_target
from .errors import SearchError
from .layers import FAMILIES

if TYPE_CHECKING:
    from hwsim.config import AccelConfig

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
LAYER_POLICIES = ("float", "search")

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


# ---- value checks (one each; reused by every model and section that has the field) ----
def _bad(message: str) -> PydanticCustomError:
    return PydanticCustomError("value", message)


def one_of(*choices: str) -> Callable[[str], str]:
    """A check that a string is one of ``choices`` ("expected a, b or c")."""
    text = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]

    def check(v: str) -> str:
        if v not in choices:
            raise _bad(f"expected {text}")
        return v

    return check


def _positive_int(v: int) -> int:
    if v < 1:
        raise _bad("expected a positive integer")
    return v


def _count(v: int) -> int:
    if v < 0:
        raise _bad("expected a count >= 0")
    return v


def _positive(v: float) -> float:
    if not (0 < v < math.inf):
        raise _bad("expected a positive number")
    return v


def _non_negative(v: float) -> float:
    if not (0 <= v < math.inf):
        raise _bad("expected a non-negative number")
    return v


def _fraction(v: float) -> float:
    if not 0 <= v < 1:
        raise _bad("expected a fraction in [0, 1)")
    return v


def _bit_list(v: list[int]) -> list[int]:
    if not v or min(v) < 1 or max(v) > 32:
        raise _bad("bit-widths must be 1..32")
    return sorted(set(v))


Family = Annotated[str, AfterValidator(one_of(*FAMILIES))]
LayerPolicyName = Annotated[str, AfterValidator(one_of(*LAYER_POLICIES))]
PositiveInt = Annotated[int, AfterValidator(_positive_int)]
Count = Annotated[int, AfterValidator(_count)]
PositiveFloat = Annotated[float, AfterValidator(_positive)]
NonNegativeFloat = Annotated[float, AfterValidator(_non_negative)]
Fraction = Annotated[float, AfterValidator(_fraction)]
BitList = Annotated[list[int], AfterValidator(_bit_list)]
IoType = Annotated[str, AfterValidator(one_of("io_stream", "io_parallel"))]


# ---- errors: one line naming the key and the value ----
def type_name(tp: Any) -> str:
    """``list[int] | None`` for an annotation (Annotated metadata dropped)."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return type_name(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(t) for t in typing.get_args(tp))
    if origin is Literal:
        return "str"
    if origin is not None:
        args = ", ".join(type_name(t) for t in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def _sub_model(model: Any, name: str) -> Any:
    """The model class of field ``name`` of ``model`` (``X`` or ``X | None``), else None."""
    fields = getattr(model, "model_fields", None)
    if not fields or name not in fields:
        return None
    ann = fields[name].annotation
    for t in (ann, *typing.get_args(ann)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def describe(
    exc: ValidationError,
    model: type[BaseModel],
    raw: Any,
    key: Callable[[str], str],
    sep: str = ": ",
) -> str:
    """The first error of ``exc`` as one line. ``key(path)`` renders a dotted field path as the
    user wrote it (``--epochs`` on the command line, ``file: train.epochs`` in an experiment);
    ``raw`` is the input (the offending value is quoted as given, after ``sep``). A model may
    explain keys it refuses in a class attribute ``hints`` (key -> "set by the pipeline")."""
    err = exc.errors()[0]
    names: list[str] = []
    parent: Any = model  # the model holding the last name
    value: Any = raw
    for part in (str(p) for p in err["loc"]):
        if part not in getattr(parent, "model_fields", {}) and err["type"] != "extra_forbidden":
            break
        names.append(part)
        value = value.get(part) if isinstance(value, dict) else None
        sub = _sub_model(parent, part)
        if sub is None:
            break
        if len(names) < len(err["loc"]):
            parent = sub
    path = ".".join(names)
    if err["type"] == "extra_forbidden":
        hint = getattr(parent, "hints", {}).get(names[-1])
        extra = f" ({hint})" if hint else ""
        return f"{key(path)}: unknown key{extra} (known: {', '.join(sorted(parent.model_fields))})"
    if err["type"] == "value":
        return f"{key(path)}{sep}{value!r}: {err['msg']}"
    if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return f"{key(path)}: expected a mapping of keys, got {type(value).__name__}"
    if not names:
        return f"{key('')}: {err['msg']}" if key("") else err["msg"]
    ann = parent.model_fields[names[-1]].rebuild_annotation()
    return f"{key(path)}{sep}{value!r} is not of type {type_name(ann)}"


def flag(path: str) -> str:
    """Command-line spelling of a field: ``step_epoch`` -> ``--step-epoch``."""
    return "--" + path.replace("_", "-") if path else ""


class PlainConfig(BaseModel):
    """Unknown keys are errors, assignments are validated. The base of configs nested in
    others (their errors are reported by the outer config, naming the key path)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class ConfigBase(PlainConfig):
    """Base of every stage config: path-like values become strings; ``to_dict``/``from_dict``
    round-trip (JSON/YAML-safe). Errors from the constructor and ``from_dict`` are
    :class:`SearchError` lines naming the option and value."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise SearchError(describe(exc, type(self), data, self._flag, " ")) from None

    @classmethod
    def _flag(cls, path: str) -> str:
        """The command-line option of a field path (a field may name its own, e.g. --lambda)."""
        info = cls.model_fields.get(path.split(".")[0])
        extra = info.json_schema_extra if info is not None else None
        if isinstance(extra, dict) and isinstance(extra.get("flag"), str) and "." not in path:
            return extra["flag"]
        return flag(path)

    @model_validator(mode="before")
    @classmethod
    def _paths_to_text(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in data.items()}
        return data

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Any:
        if not isinstance(raw, dict):
            raise SearchError(f"{cls.__name__}: expected a mapping of keys")
        return cls(**raw)

    @classmethod
    def default_of(cls, name: str) -> Any:
        """The default value of field ``name`` (what the CLI shows and uses)."""
        return cls.model_fields[name].get_default(call_default_factory=True)


class FpgaTarget(PlainConfig):
    """A throughput target and io type for the FPGA design (``fpga_dataflow`` configs only): the
    reuse factors are chosen for ``target_ii`` cycles per image (hwsim's ``target_ii`` reuse
    policy) instead of the config's own policy. Applied once to the config by :meth:`apply`, so
    the search's cost tables, ``simulate`` and ``emit`` all see the same design."""

    target_ii: PositiveFloat | None = Field(
        None, description="target initiation interval, cycles per image"
    )
    io_type: IoType | None = Field(None, description="io_stream or io_parallel")

    def apply(self, config: AccelConfig) -> AccelConfig:
        """``config`` with this target (unchanged for a non-FPGA config or an empty target)."""
        if config.type != "fpga_dataflow":
            return config
        return with_target(config, self.target_ii, self.io_type)


def apply_fpga(config: AccelConfig, fpga: FpgaTarget | None) -> AccelConfig:
    """``config`` under the optional FPGA target ``fpga``."""
    return config if fpga is None else fpga.apply(config)


class DeviceFields(PlainConfig):
    """Where a stage that trains or evaluates runs (see :mod:`search.device`): written once for
    the search, the final training, evaluation and ``edmips pareto``."""

    workers: Count = Field(0, description="data-loader worker processes (0: the main process)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    amp: str | None = Field(
        None, description="mixed precision: bf16 (CUDA autocast; none: float32)"
    )
    pin_memory: bool = Field(False, description="DataLoader pin_memory (for CUDA)")

    def device_fields(self) -> dict[str, Any]:
        """The :class:`DeviceFields` of this config (to build another stage's config)."""
        return {k: getattr(self, k) for k in DeviceFields.model_fields}


class NetworkConfig(ConfigBase):
    """What every stage of one study shares: network, data, quantizers, layer policy, seed."""

    model: str = Field(
        "digits_cnn",
        description="the network: a zoo name (digits_cnn, digits_mlp, fmnist_cnn, resnet20,"
        " resnet18, ...), path/to/file.py:factory or package.module:factory (a callable returning"
        " a torch.nn.Module; it gets num_classes/input_shape from the data set when its signature"
        " names them)",
    )
    data: str = Field(
        "digits",
        description="data set: digits (sklearn, bundled), fmnist (Fashion-MNIST IDX files, e.g. from"
        " 'apt-get install dataset-fashion-mnist'), cifar10 (python batches), imagefolder (train/"
        " and val/ class folders), or package.module:factory / file.py:factory returning (train,"
        " test[, info]) datasets",
    )
    data_dir: str | None = Field(
        None,
        description="folder of the data set files (fmnist: /usr/share/datasets/fashion-mnist when"
        " unset; required for cifar10/imagefolder)",
    )
    family: Family = Field(
        "paper",
        description="quantizers: paper (HWGQ + Gaussian steps, as EdMIPS) or fixed (power-of-two"
        " steps that map onto ap_fixed; needed by codegen)",
    )
    first: LayerPolicyName = Field(
        "float",
        description="first MAC layer: keep float (costed at 8/8, the paper's choice) or search/quantize it",
    )
    last: LayerPolicyName = Field(
        "float", description="last MAC layer: keep float or search/quantize it"
    )
    train_subset: PositiveInt | None = Field(
        None, description="use the first N images of a seeded shuffle of the train split"
    )
    batch_size: PositiveInt = Field(64, description="minibatch size per process")
    seed: int = Field(0, description="random seed: the same seed gives the same result")
    model_args: dict[str, Any] | None = Field(
        None, description="keyword arguments of a model factory (--model FILE.py:factory)"
    )

    def network_fields(self) -> dict[str, Any]:
        """The :class:`NetworkConfig` fields of this config (to build another stage's config)."""
        return {k: getattr(self, k) for k in NetworkConfig.model_fields}


class TrainingConfig(NetworkConfig, DeviceFields):
    """Weight training shared by the search and the final training: SGD with momentum and weight
    decay, learning rate ``lr * 0.1 ** (epoch // step_epoch)`` per step."""

    epochs: PositiveInt = Field(12, description="training epochs")
    step_epoch: PositiveInt = Field(
        5, description="multiply learning rates by 0.1 every this many epochs"
    )
    lr: PositiveFloat = Field(0.1, description="weight learning rate (SGD)")
    momentum: NonNegativeFloat = Field(0.9, description="SGD momentum of the weights")
    weight_decay: NonNegativeFloat = Field(1e-4, description="SGD weight decay of the weights")
    out: str = Field("runs/out", description="output folder")
    force: bool = Field(False, description="overwrite an existing finished --out folder")
    progress: bool = Field(True, description="progress bars and per-epoch lines")
    # ---- own weights (see search/models.py); devices: DeviceFields ----
    weights: str | None = Field(
        None, description="starting weights: a state_dict or a checkpoint (strict key check)"
    )
    augment: bool = Field(
        True, description="standard training augmentations (cifar10, imagefolder only)"
    )


class SearchConfig(TrainingConfig):
    """Everything an EdMIPS search needs. ``metric`` defaults to the target's metric (else
    latency with an accelerator, bitops without); ``w_bits`` to :data:`DEFAULT_W_BITS` of the
    family; the preset fills the architecture-parameter fields left unset (:data:`PRESETS`)."""

    accel: str | None = Field(
        None,
        description="accelerator config YAML (e.g. accel_configs/bitfusion_eyeriss.yaml); needed"
        " for every metric except bitops",
    )
    metric: str | None = Field(
        None,
        description="hardware cost to budget: latency (s), energy (pJ), edp (pJ*s), dram (bytes),"
        " lut, dsp (FPGA), bitops (MACs*w*a, no accelerator needed)",
    )
    target: str | None = Field(
        None,
        description="budget METRIC=VALUE: relative to uniform 8/8 (latency=0.5x) or absolute with"
        " a unit (latency=2ms, energy=3mJ, dram=2MB, lut=60000, bitops=1.5G)",
    )
    lam: NonNegativeFloat | None = Field(
        None,
        json_schema_extra={"flag": "--lambda"},
        description="fixed cost weight (the paper's gamma) instead of a target: loss = CE + lambda"
        " * cost / cost(8/8); with a target: the initial lambda",
    )
    w_bits: BitList | None = Field(
        None,
        description="candidate weight bit-widths (default 1,2,3,4; 2,3,4 for the fixed family,"
        " whose weights need at least 2 bits); widths the accelerator lacks are dropped with a"
        " notice",
    )
    a_bits: BitList = Field(
        default_factory=lambda: list(DEFAULT_A_BITS),
        description="candidate activation bit-widths",
    )
    fpga: FpgaTarget | None = Field(
        None, description="throughput target / io type of an FPGA accelerator's design"
    )
    preset: Annotated[str, AfterValidator(one_of(*PRESETS))] = Field(
        "converge",
        description="architecture-parameter settings: converge (Adam lr 0.05, softmax temperature"
        " annealed 1 -> 0.03, first 25%% of the epochs a warm-up without the cost term, lambda"
        " controller aimed at 0.95x the target) or paper (EdMIPS: SGD lr 0.01 on the weights'"
        " step schedule, no annealing, no warm-up); the options below override single values",
    )
    arch_optimizer: Annotated[str, AfterValidator(one_of("adam", "sgd"))] | None = Field(
        None, description="optimizer of the architecture parameters (default: the preset's)"
    )
    lra: PositiveFloat | None = Field(
        None,
        description="architecture (alpha) learning rate per step (default: the preset's, 0.05 /"
        " paper 0.01)",
    )
    temp_start: PositiveFloat | None = Field(
        None, description="softmax temperature of the alphas after the warm-up (default 1)"
    )
    temp_end: PositiveFloat | None = Field(
        None,
        description="softmax temperature at the last step, geometric in between (default 0.03;"
        " paper 1)",
    )
    warmup: Fraction | None = Field(
        None,
        description="fraction of the epochs that train weights only (alphas frozen, no cost;"
        " default 0.25)",
    )
    setpoint: PositiveFloat | None = Field(
        None,
        description="the lambda controller aims the expected cost at this fraction of the target"
        " (default 0.95)",
    )
    entropy: NonNegativeFloat | None = Field(
        None,
        description="weight of the per-layer entropy penalty, ramped up with the annealing"
        " (default 0.01; paper 0)",
    )
    init: str | None = Field(
        None,
        description="warm start: copy the weights of a trained model.pt (edmips train, e.g."
        " --bits 8/8) or of a search checkpoint before searching",
    )
    epochs: PositiveInt = Field(12, description="search epochs")
    out: str = Field("runs/search", description="output folder")
    resume: bool = Field(
        False,
        description="continue the search in --out from its last epoch checkpoint (same result as"
        " an uninterrupted run)",
    )
    lambda_interval: PositiveInt = Field(
        5, description="steps between updates of the lambda controller"
    )
    fill: Fraction = Field(
        0.9, description="repair when the argmax costs less than this fraction of the budget"
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Fill the preset's fields, the family's weight bits and the metric (unset or None)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        preset = data.get("preset") or "converge"
        for k, v in PRESETS.get(preset, {}).items():
            if data.get(k) is None:
                data[k] = v
        family = data.get("family") or "paper"
        if data.get("w_bits") is None and family in DEFAULT_W_BITS:
            data["w_bits"] = list(DEFAULT_W_BITS[family])
        target = data.get("target")
        if isinstance(target, str):
            tmetric = parse_target(target).metric  # a bad target: SearchError naming it
            metric = data.get("metric")
            if metric is None:
                data["metric"] = tmetric
            elif metric != tmetric:
                raise SearchError(f"--target '{target}' is on {tmetric} but --metric is {metric}")
        elif data.get("metric") is None:
            data["metric"] = "bitops" if data.get("accel") is None else "latency"
        return data


class TrainConfig(TrainingConfig):
    """Final training of a fixed mixed-precision network (from an allocation or uniform bits)."""

    allocation: str | None = Field(None, description="allocation.yaml written by 'edmips search'")
    bits: str | None = Field(
        None, description="uniform baseline W/A for every non-float layer, e.g. 2/2"
    )
    init_from_search: str | None = Field(
        None,
        description="start from the weights of a search checkpoint (OUT/checkpoint.pt) instead"
        " of from scratch",
    )
    epochs: PositiveInt = Field(15, description="training epochs")
    step_epoch: PositiveInt = Field(
        6, description="multiply learning rates by 0.1 every this many epochs"
    )
    out: str = Field("runs/train", description="output folder")


class EvalConfig(ConfigBase, DeviceFields):
    """Evaluate a trained model file on a data set's test split."""

    model_file: str = Field("runs/train/model.pt", description="model.pt written by 'edmips train'")
    data: str | None = Field(
        None, description="data set (default: the one the model was trained on)"
    )
    data_dir: str | None = Field(None, description="folder of the data set files")
    batch_size: PositiveInt = Field(256, description="evaluation batch size")
    accel: str | None = Field(
        None, description="also simulate the model's allocation on this accelerator config"
    )
    progress: bool = Field(True, description="progress bars")


# ---- the CLI, built from the fields ----
def _default_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def add_field_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    model: type[ConfigBase],
    name: str,
    *flags: str,
    default_text: str | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """``parser.add_argument`` for the field ``name`` of ``model``: its flag (``--step-epoch``
    unless ``flags`` are given), its default and its help (the field's description with the
    default) come from the model, so the CLI and the Python API cannot disagree. Booleans that
    default to False become ``store_true`` flags. ``kwargs`` add argparse details (type,
    choices, metavar, dest, required)."""
    info = model.model_fields[name]
    default = (
        None
        if info.default is PydanticUndefined and info.default_factory is None
        else model.default_of(name)
    )
    if kwargs.get("required"):
        default = None
    if info.annotation is bool and "action" not in kwargs:
        kwargs["action"] = "store_true"
    kwargs.setdefault("default", default)
    if "help" not in kwargs:
        shown = default_text if default_text is not None else _default_text(kwargs["default"])
        tail = "required" if kwargs.get("required") else f"default: {shown}"
        kwargs["help"] = f"{info.description} ({tail})"
    if "dest" not in kwargs and flags:
        kwargs["dest"] = name
    flags = flags or (model._flag(name),)
    if flags[0] != flag(name):
        kwargs.setdefault("dest", name)
    return parser.add_argument(*flags, **kwargs)


def config_from_args(cls: type[ConfigBase], args: argparse.Namespace, **overrides: Any) -> Any:
    """A config filled from the parsed arguments of the same names (``progress`` follows
    ``--no-progress``); ``overrides`` set fields whose value is derived."""
    given = vars(args)
    values = {k: given[k] for k in cls.model_fields if k in given}
    if "progress" in cls.model_fields and "no_progress" in given:
        values["progress"] = not given["no_progress"]
    values.update(overrides)
    return cls(**values)
