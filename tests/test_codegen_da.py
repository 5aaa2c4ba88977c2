"""Emitting a layer with hls4ml's distributed-arithmetic strategy (slow: the g++ C simulation
of a da4ml kernel takes minutes)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from codegen_helpers import digits, heldout_samples, train_fixed
from torch import nn

from codegen.emit import emit
from codegen.export import export_model
from codegen.hls import da4ml_missing
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


@pytest.mark.slow
@pytest.mark.skipif(da4ml_missing(), reason="da4ml is not installed (pip install -e .[da])")
def test_dense_with_distributed_arithmetic_is_bit_exact(tmp_path):
    alloc = Allocation({"fc": (4, 4)}, [])
    model, acc = train_fixed(TinyMlp(), alloc, steps=100, policy=LayerPolicy("search", "search"))
    assert acc > 0.2
    qm = export_model(*export_fixed(model, alloc), (1, 8, 8))
    raw = yaml.safe_load(FPGA.read_text())
    raw["reuse"].update(policy="fixed", strategy="distributed_arithmetic")
    raw["io_type"] = "io_parallel"
    accel = parse_config(copy.deepcopy(raw), source=str(FPGA))
    out = tmp_path / "prj"
    res = emit(
        qm,
        out,
        accel=accel,
        samples=heldout_samples(100),
        calib=digits()[0][:256].double().numpy(),
        io_type="io_parallel",
        progress=False,
    )
    assert res.verify.line() == "verify: 100/100 samples bit-exact (max |diff| = 0)"
    fc = res.plan.node(next(p.name for p in res.plan.mac_nodes())).params
    assert fc["strategy"] == "distributed_arithmetic" and fc["reuse_factor"] == 1
    assert fc["da4ml_lut"] > 0
    assert res.differs == []  # the firmware is the budgeted DA design
    est = res.emitted.layer("fc").lut
    report = (out / "emit_report.md").read_text()
    assert "## Distributed arithmetic (da4ml)" in report
    assert f"| fc | {est:.0f} | {fc['da4ml_lut']:.0f} |" in report
    assert "dense_da_" in (out / "firmware" / "myproject.cpp").read_text() or any(
        "dense_da_" in p.read_text() for p in (out / "firmware").rglob("*.h")
    )
