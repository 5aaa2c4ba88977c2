"""User-facing errors: one line that names the file, key, layer or value at fault."""

from __future__ import annotations


class HwsimError(Exception):
    """A mistake in user input (config, workload, allocation). Printed as one line, exit 2."""


class ConfigError(HwsimError):
    """An accelerator config that does not validate."""


class WorkloadError(HwsimError):
    """A workload file or model description that does not validate."""


class AllocationError(HwsimError):
    """An allocation that does not match its workload or has invalid bits."""
