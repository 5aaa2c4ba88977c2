"""Shared fixtures: the repository root, the shipped systolic and FPGA configs and small workloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hwsim.workload import LayerSpec, Workload

ROOT = Path(__file__).resolve().parents[1]
SYSTOLIC_YAML = ROOT / "accel_configs" / "systolic_int8_32x32_ws.yaml"
FPGA_YAML = ROOT / "accel_configs" / "fpga_xc7z020.yaml"


@pytest.fixture
def systolic_yaml() -> Path:
    """Path of the shipped 32x32 int8 weight-stationary systolic config."""
    return SYSTOLIC_YAML


@pytest.fixture
def systolic_raw() -> dict[str, Any]:
    """The shipped systolic config as a fresh, editable dict."""
    return yaml.safe_load(SYSTOLIC_YAML.read_text())


@pytest.fixture(scope="module")
def fpga_raw() -> dict[str, Any]:
    """The shipped xc7z020 FPGA config as a dict, shared by a module: deep-copy it to edit."""
    return yaml.safe_load(FPGA_YAML.read_text())


@pytest.fixture
def tiny_workload() -> Workload:
    """Conv (stride 2, padded) -> depthwise conv -> linear, with real shapes."""
    return Workload(
        name="tiny",
        layers=[
            LayerSpec(
                name="conv1",
                kind="conv",
                in_channels=3,
                out_channels=8,
                kernel=3,
                stride=2,
                padding=1,
                in_hw=(16, 16),
            ),
            LayerSpec(
                name="dw2",
                kind="conv",
                in_channels=8,
                out_channels=8,
                kernel=3,
                padding=1,
                groups=8,
                in_hw=(8, 8),
            ),
            LayerSpec(name="fc3", kind="linear", in_channels=512, out_channels=10),
        ],
    )
