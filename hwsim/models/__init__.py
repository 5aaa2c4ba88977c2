"""Accelerator kinds. Every module here registers its kind on import (see ``base.register``)."""

from __future__ import annotations

import importlib
import pkgutil

from .base import Accelerator, register, registered

_loaded = False


def registry() -> dict[str, type[Accelerator]]:
    """All registered kinds, importing every module of this package once."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            if info.name != "base":
                importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True
    return registered()


__all__ = ["Accelerator", "register", "registry"]
