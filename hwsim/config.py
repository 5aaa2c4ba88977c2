"""Accelerator configs: YAML in, validated, bound to a registered accelerator model.

A config's ``type:`` selects the model class registered under that name (see ``hwsim.models``).
Validation errors are one line: ``<file>: key '<a.b.c>': <what was expected> (got <value>)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import ConfigError
from .fileio import read_structured
from .models import Accelerator, registry
from .section import Section, format_validation_error

__all__ = ["AccelConfig", "Section", "format_validation_error", "load_config", "parse_config"]


@dataclass(frozen=True)
class AccelConfig:
    """A validated accelerator description bound to its model.

    ``model`` computes the per-layer costs; ``raw`` is the parsed YAML as written.
    """

    name: str
    type: str
    source: str
    raw: dict[str, Any]
    model: Accelerator

    @property
    def freq_hz(self) -> float:
        """Clock frequency in Hz."""
        return self.model.freq_hz


def parse_config(raw: Any, source: str = "<config>") -> AccelConfig:
    """Validate a parsed YAML mapping and bind it to its accelerator model."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    kind = raw.get("type")
    if kind is None:
        raise ConfigError(
            f"{source}: key 'type': missing (one of: {', '.join(sorted(registry()))})"
        )
    models = registry()
    if kind not in models:
        raise ConfigError(
            f"{source}: key 'type': unknown accelerator kind {kind!r} (known: {', '.join(sorted(models))})"
        )
    cls = models[kind]
    body = {k: v for k, v in raw.items() if k not in ("type",)}
    try:
        params = cls.Params.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
    try:
        model = cls(params)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    name = getattr(params, "name", None) or Path(source).stem
    return AccelConfig(name=name, type=kind, source=source, raw=raw, model=model)


def shipped_config_dir() -> Path:
    """The ``accel_configs/`` folder that ships next to the ``hwsim`` package (source checkout or
    editable install; it may not exist in other installs)."""
    return Path(__file__).resolve().parents[1] / "accel_configs"


def resolve_input_path(path: str, base: str | os.PathLike | None, config: bool = False) -> str:
    """Where a relative path written inside a file points: the file's folder ``base`` (the
    current folder when ``base`` is None). With ``config``, a name not found there that is a bare
    file name or ``accel_configs/<name>`` also resolves against :func:`shipped_config_dir`.
    Absolute paths, and paths found nowhere, come back unchanged (the caller reports them)."""
    p = Path(os.path.expanduser(path))
    if p.is_absolute():
        return str(p)
    here = Path(base) / p if base is not None else p
    if here.exists():
        return str(here.absolute()) if base is not None else path
    if config and p.parent.as_posix() in (".", "accel_configs"):
        shipped = shipped_config_dir() / p.name
        if shipped.is_file():
            return str(shipped)
    return str(here) if base is not None else path


def load_config(path: str | os.PathLike) -> AccelConfig:
    """Read and validate an accelerator YAML file."""
    p = os.fspath(path)
    return parse_config(read_structured(p, ConfigError), source=p)
