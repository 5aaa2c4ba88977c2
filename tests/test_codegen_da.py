"""Emitting layers with hls4ml's distributed-arithmetic strategy (slow: each case converts
through da4ml and compiles the g++ C simulation, ~30 s)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from codegen_helpers import digits, heldout_samples, train_fixed
from torch import nn

from codegen.emit import emit
from codegen.export import export_model
from hwsim.allocation import Allocation
from hwsim.config import parse_config
from search.convert import LayerPolicy, export_fixed

FPGA = Path(__file__).resolve().parents[1] / "accel_configs" / "fpga_xc7z020.yaml"


class TinyMlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))


class TinyCnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(4)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x).relu()).flatten(1))


@pytest.mark.slow
@pytest.mark.parametrize(
    "net, bits, io_type",
    [
        (TinyMlp, {"fc": (4, 4)}, "io_parallel"),
        (TinyCnn, {"conv": (4, 4), "fc": (4, 4)}, "io_stream"),
    ],
)
def test_distributed_arithmetic_layers_are_bit_exact(tmp_path, net, bits, io_type):
    alloc = Allocation(bits, [])
    model, acc = train_fixed(net(), alloc, steps=100, policy=LayerPolicy("search", "search"))
    assert acc > 0.2
    qm = export_model(*export_fixed(model, alloc), (1, 8, 8))
    raw = yaml.safe_load(FPGA.read_text())
    raw["reuse"].update(policy="fixed", strategy="distributed_arithmetic")
    raw["io_type"] = io_type
    accel = parse_config(copy.deepcopy(raw), source=str(FPGA))
    out = tmp_path / "prj"
    res = emit(
        qm,
        out,
        accel=accel,
        samples=heldout_samples(100),
        calib=digits()[0][:256].double().numpy(),
        io_type=io_type,
        progress=False,
    )
    assert res.verify.line() == "verify: 100/100 samples bit-exact (max |diff| = 0)"
    assert res.differs == []  # the firmware is the budgeted DA design
    report = (out / "emit_report.md").read_text()
    assert "## Distributed arithmetic (da4ml)" in report
    for p in res.plan.mac_nodes():
        par = p.params
        assert par["strategy"] == "distributed_arithmetic" and par["reuse_factor"] == 1
        assert par["da4ml_lut"] > 0
        layer = par["layer"]
        est = res.emitted.layer(layer).lut
        assert f"| {layer} | {est:.0f} | {par['da4ml_lut']:.0f} |" in report
        # the fit (random weights) is within a factor 2 of da4ml's cost for these weights
        assert 0.5 < est / par["da4ml_lut"] < 2.0
