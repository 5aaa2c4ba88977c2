"""Base of every accelerator-config section (pydantic) and its one-line validation errors.

Kept apart from :mod:`hwsim.config` so that the accelerator models can declare their sections
without importing the config loader that binds a config to them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Section(BaseModel):
    """Base of every config section: unknown keys are errors (catches typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def format_validation_error(source: str, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> str:
    """First pydantic error as one line naming the file, the dotted key path and what was expected."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in (*prefix, *err["loc"]))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return f"{source}: key '{loc}': unknown key"
    if err["type"] == "missing":
        return f"{source}: key '{loc}': missing"
    got = err.get("input")
    got_txt = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
    return f"{source}: key '{loc}': {msg[0].lower() + msg[1:]}{got_txt}"
