"""hwsim: cycle-approximate costs of conv/linear layers on bit-serial, bit-flexible, systolic and
FPGA-dataflow accelerators, per (weight bits, activation bits). Importable without torch."""

from .allocation import Allocation, parse_bits
from .config import AccelConfig, load_config, parse_config
from .errors import AllocationError, ConfigError, HwsimError, WorkloadError
from .simulate import Report, plot_reports, simulate
from .tables import cost_tables
from .workload import LayerArrays, LayerSpec, Workload

__all__ = [
    "AccelConfig",
    "Allocation",
    "AllocationError",
    "ConfigError",
    "HwsimError",
    "LayerArrays",
    "LayerSpec",
    "Report",
    "Workload",
    "WorkloadError",
    "cost_tables",
    "load_config",
    "parse_bits",
    "parse_config",
    "plot_reports",
    "simulate",
]
