"""Reading YAML/JSON and writing files atomically (temporary file in the same folder, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import HwsimError


def read_structured(path: str | os.PathLike, error: type[HwsimError] = HwsimError) -> Any:
    """Parse a .yaml/.yml/.json file; a missing or malformed file raises ``error`` naming it."""
    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: file not found")
    text = p.read_text()
    try:
        if p.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        if mark is not None:  # YAML: say where (1-based line/column)
            problem = getattr(exc, "problem", None) or first
            first = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
        elif isinstance(exc, json.JSONDecodeError):
            first = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise error(
            f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {first}"
        ) from None


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace`` (never half-written)."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def dump_structured(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON (``.json``) or YAML (anything else), atomically."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        atomic_write_text(p, json.dumps(data, indent=2) + "\n")
    else:
        atomic_write_text(p, yaml.safe_dump(data, sort_keys=False))


def check_writable(path: str | os.PathLike, force: bool) -> None:
    """Refuse to overwrite an existing output unless ``force``."""
    p = Path(path)
    if p.exists() and not force:
        raise HwsimError(f"{p}: already exists (use --force to overwrite)")
