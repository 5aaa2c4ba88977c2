"""Codegen errors: user mistakes (unsupported constructs, bad inputs), printed as one line."""

from __future__ import annotations

from hwsim.errors import HwsimError


class CodegenError(HwsimError):
    """A model, allocation or option that codegen cannot turn into a correct hls4ml project."""
