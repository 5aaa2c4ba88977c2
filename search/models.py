"""Models from anywhere: a zoo name, ``path/to/file.py:factory`` or ``package.module:factory``.

A *model spec* names a network; its *model args* are keyword arguments for the factory.
:func:`resolve_model` turns both into an ``nn.Module``; :class:`ModelRef` is the pair as it is
recorded in checkpoints and ``model.pt`` so that ``evaluate``/``emit`` rebuild the same network
later (the file path is stored absolute). Every failure -- a missing file or factory, a factory
that raises or returns something other than an ``nn.Module``, weights whose keys do not fit -- is
a one-line :class:`SearchError`.

A factory may declare ``num_classes`` and/or ``input_shape`` (C, H, W) parameters; when it does
and ``--model-arg`` does not set them, they are filled from the data set.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from .errors import SearchError

#: keys of a checkpoint that may hold a state_dict, tried in this order
STATE_KEYS = ("state_dict", "model", "model_state_dict", "net")


@dataclass(frozen=True)
class ModelRef:
    """How to rebuild a model: the spec (zoo name, absolute ``file.py:factory`` or
    ``module:factory``) and the factory's keyword arguments."""

    spec: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "args": dict(self.args)}


def is_zoo(spec: str) -> bool:
    """True when ``spec`` is a zoo model name (no ``:factory`` part)."""
    return ":" not in spec


def parse_model_args(items: list[str] | None) -> dict[str, Any]:
    """``["width=16", "act=relu6", "drop=0.1"]`` -> ``{"width": 16, "act": "relu6", "drop": 0.1}``
    (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SearchError(f"--model-arg '{item}': expected key=value with a Python name as key")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        if isinstance(parsed, (dict, list)):
            raise SearchError(f"--model-arg '{item}': expected a scalar value")
        out[key] = parsed
    return out


def _split(spec: str) -> tuple[str, str]:
    target, _, name = spec.rpartition(":")
    if not target or not name.isidentifier():
        raise SearchError(
            f"--model '{spec}': expected a zoo name, path/to/file.py:factory or package.module:factory"
        )
    return target, name


def canonical_spec(spec: str, base: str | os.PathLike | None = None) -> str:
    """``spec`` with a model file's path made absolute (relative to ``base``, default the cwd)."""
    if is_zoo(spec):
        return spec
    target, name = _split(spec)
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = Path(base or os.getcwd()) / path
        return f"{path.resolve()}:{name}"
    return spec


def _import_target(target: str, spec: str) -> Any:
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise SearchError(f"--model '{spec}': model file {path} not found")
        mod_name = "edmips_user_model_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        if mod_name in sys.modules:
            return sys.modules[mod_name]
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise SearchError(f"--model '{spec}': {path} is not an importable Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module  # classes defined there pickle by this name
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's file: any error, one line
            del sys.modules[mod_name]
            raise SearchError(
                f"--model '{spec}': importing {path} failed ({type(exc).__name__}: {_first_line(exc)})"
            ) from None
        return module
    try:
        return importlib.import_module(target)
    except Exception as exc:  # noqa: BLE001
        raise SearchError(
            f"--model '{spec}': cannot import module '{target}' ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


def load_factory(spec: str) -> Callable[..., Any]:
    """The callable named by ``file.py:factory`` or ``module:factory``."""
    target, name = _split(spec)
    module = _import_target(target, spec)
    factory = getattr(module, name, None)
    if factory is None:
        raise SearchError(f"--model '{spec}': '{target}' has no attribute '{name}'")
    if not callable(factory):
        raise SearchError(f"--model '{spec}': '{name}' is a {type(factory).__name__}, not callable")
    return factory


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params and params[name].kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def resolve_model(
    spec: str,
    args: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    input_shape: tuple[int, int, int] | None = None,
) -> nn.Module:
    """Build the network named by ``spec`` with keyword ``args``.

    Zoo names go to :func:`search.zoo.build_model` (``args`` may set ``num_classes``,
    ``in_channels``, ``input_shape``). A factory gets ``args`` plus ``num_classes`` /
    ``input_shape`` when its signature names them and ``args`` does not.
    """
    kwargs = dict(args or {})
    if is_zoo(spec):
        from .zoo import build_model

        allowed = {"num_classes", "in_channels", "input_shape"}
        bad = sorted(set(kwargs) - allowed)
        if bad:
            raise SearchError(
                f"--model-arg {bad[0]}: zoo model '{spec}' takes only {', '.join(sorted(allowed))}"
            )
        kwargs.setdefault("num_classes", num_classes)
        kwargs.setdefault("input_shape", input_shape)
        if kwargs["input_shape"] is not None:
            kwargs["input_shape"] = tuple(kwargs["input_shape"])
        return build_model(spec, **kwargs)
    factory = load_factory(spec)
    if num_classes is not None and "num_classes" not in kwargs and _accepts(factory, "num_classes"):
        kwargs["num_classes"] = int(num_classes)
    if input_shape is not None and "input_shape" not in kwargs and _accepts(factory, "input_shape"):
        kwargs["input_shape"] = tuple(int(s) for s in input_shape)
    try:
        model = factory(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's factory: any error, one line
        raise SearchError(
            f"--model '{spec}': the factory raised {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    if not isinstance(model, nn.Module):
        raise SearchError(
            f"--model '{spec}': the factory returned an object of type {type(model).__name__}, not a torch.nn.Module"
        )
    return model


def model_label(spec: str) -> str:
    """A short name for reports and workloads: the zoo name or the factory's name."""
    return spec if is_zoo(spec) else spec.rpartition(":")[2]


def default_input_shape(spec: str) -> tuple[int, int, int] | None:
    """The zoo entry's input shape (C, H, W); None for a factory (the caller must give one)."""
    if is_zoo(spec):
        from .zoo import MODELS

        if spec not in MODELS:
            raise SearchError(f"unknown model '{spec}' (known: {', '.join(MODELS)})")
        return MODELS[spec].input_shape
    return None


# ---- starting weights (--weights) ----
def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state_dict from ``path``: a plain ``torch.save(model.state_dict())`` file, an edmips
    ``model.pt``/search checkpoint, or a dict holding one under ``state_dict``/``model``/... .
    Architecture parameters (names containing ``alpha``) are dropped."""
    p = Path(path)
    if not p.is_file():
        raise SearchError(f"--weights {p}: file not found")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - truncated or foreign file
        raise SearchError(
            f"--weights {p}: not a readable torch file ({type(exc).__name__})"
        ) from None
    if isinstance(raw, nn.Module):
        raw = raw.state_dict()
    if isinstance(raw, Mapping) and not all(isinstance(v, torch.Tensor) for v in raw.values()):
        for key in STATE_KEYS:
            if isinstance(raw.get(key), Mapping):
                raw = raw[key]
                break
        else:
            raise SearchError(
                f"--weights {p}: holds no state_dict (a dict of tensors, or one under"
                f" {', '.join(STATE_KEYS)})"
            )
    if not isinstance(raw, Mapping) or not raw:
        raise SearchError(f"--weights {p}: holds no state_dict (a dict of tensors)")
    out = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor) and "alpha" not in k}
    if not out:
        raise SearchError(f"--weights {p}: holds no tensors")
    # DataParallel/DDP checkpoints prefix every key with 'module.'
    if all(k.startswith("module.") for k in out):
        out = {k[len("module.") :]: v for k, v in out.items()}
    return out


def _few(keys: list[str], n: int = 3) -> str:
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_weights(
    model: nn.Module, path: str | os.PathLike, required: Mapping[str, torch.Size] | None = None
) -> int:
    """Load ``--weights`` into ``model``; returns how many tensors were copied.

    ``required`` maps the keys of the plain (float) network to their shapes: every one must be in
    the file with that shape (the model may have been converted for search or training since, so
    its own extra quantizer state may stay at its initial values). Keys of the file that neither
    the plain network nor ``model`` has are an error too. Each error names the first few keys.
    """
    weights = read_weights(path)
    own = model.state_dict()
    req = dict(required) if required is not None else {k: v.shape for k, v in own.items()}
    missing = [k for k in req if k not in weights]
    if missing:
        raise SearchError(f"--weights {path}: keys missing for this model: {_few(missing)}")
    # a file key in a module the model has (e.g. a trained model's quantizer state) is tolerated
    modules = {name for name, _ in model.named_modules()}
    unexpected = [
        k for k in weights if k not in own and k not in req and k.rpartition(".")[0] not in modules
    ]
    if unexpected:
        raise SearchError(f"--weights {path}: keys this model does not have: {_few(unexpected)}")
    wrong = [
        f"{k} {list(weights[k].shape)} vs {list(own[k].shape)}"
        for k in weights
        if k in req and k in own and tuple(own[k].shape) != tuple(weights[k].shape)
    ]
    if wrong:
        raise SearchError(f"--weights {path}: shapes differ (file vs model): {_few(wrong)}")
    take = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(take, strict=False)
    return len(take)


def plain_keys(model: nn.Module) -> dict[str, torch.Size]:
    """``{state_dict key: shape}`` of a network before conversion (what ``--weights`` must hold)."""
    return {k: v.shape for k, v in model.state_dict().items()}
