"""User-facing errors of the search package (printed as one line by the CLI, exit code 2)."""

from __future__ import annotations

from hwsim.errors import HwsimError


class SearchError(HwsimError):
    """A user mistake in search/train input: unknown model, bad bit list, bad layer policy, ..."""
