"""Layers hls4ml 1.3.0's PyTorch frontend lacks, exported through its extension points:
depthwise Conv2d, ReLU6, Hardtanh, nn.Identity, AdaptiveAvgPool2d(1) and functional global average
pooling, next to BatchNorm, a residual add, max pooling and Flatten. Trained briefly in the fixed
family at a mixed allocation; bit-exact C simulation in io_stream and io_parallel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from codegen_helpers import digits, heldout_samples, train_fixed
from torch import nn

from codegen.emit import emit
from codegen.export import export_model
from hwsim.allocation import Allocation
from hwsim.config import load_config
from search.convert import export_fixed

FPGA = Path(__file__).resolve().parents[1] / "accel_configs" / "fpga_xc7z020.yaml"


class MobileBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.act0 = nn.ReLU6()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = nn.ReLU6()
        self.pw = nn.Conv2d(8, 8, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.skip = nn.Identity()
        self.ht = nn.Hardtanh(-2.0, 2.0)
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act0(self.bn0(self.stem(x)))
        z = self.bn2(self.pw(self.act1(self.bn1(self.dw(y))))) + self.skip(y)
        z = self.pool(self.ht(z))
        a = F.adaptive_avg_pool2d(z, 1)  # functional global pooling (MobileNetV2's forward)
        b = self.gap(F.relu6(z))  # module global pooling
        return self.fc(torch.flatten(a + b, 1))


ALLOC = Allocation(
    {"stem": (8, 8), "dw": (4, 3), "pw": (3, 4), "fc": (8, 8)},
    ["stem", "fc"],
)


@pytest.fixture(scope="module")
def trained():
    model, acc = train_fixed(MobileBlock(), ALLOC, steps=150)
    return export_model(*export_fixed(model, ALLOC), (1, 8, 8)), acc


@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_mobile_layers_bit_exact(trained, tmp_path, io_type):
    """io_stream with the FPGA plan of the xc7z020 config (reuse factors > 1; the depthwise conv
    at the Latency strategy, see hwsim.models.fpga_dataflow.DEPTHWISE_STRATEGY); io_parallel
    without a config (RF 1)."""
    qm, acc = trained
    assert acc > 0.3
    out = tmp_path / "prj"
    res = emit(
        qm,
        out,
        accel=load_config(FPGA) if io_type == "io_stream" else None,
        samples=heldout_samples(200),
        calib=digits()[0][:512].double().numpy(),
        io_type=io_type,
        progress=False,
    )
    assert res.verify.line() == "verify: 200/200 samples bit-exact (max |diff| = 0)"
    if io_type == "io_stream":
        dw = res.plan.node("net_dw").params
        assert dw["reuse_factor"] > 1 and dw["strategy"] == "Latency"
        assert res.differs == []
    ops = {p.name: p.op for p in res.plan.nodes}
    assert sum(op == "clip" for op in ops.values()) == 4  # act0, act1, ht, relu6
    assert res.plan.node("net_dw").params["groups"] == 8
    assert sum(op == "avgpool" for op in ops.values()) == 2
    cpp = (out / "firmware" / "myproject.cpp").read_text()
    assert "nnet::clip<" in cpp
    assert re.search(r"depthwise_conv_2d\w*<", cpp), "depthwise conv not emitted as DepthwiseConv2D"
    assert (out / "firmware" / "nnet_utils" / "nnet_clip.h").is_file()


class CatBlock(nn.Module):
    """Two branches concatenated on channels (positional ``dim``), then two flattened tensors
    concatenated (negative ``dim``): the pre-flight rewrites each call so hls4ml 1.3.0's frontend,
    which reads the axis only from ``kwargs['dim']``, sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.a = nn.Conv2d(6, 4, 1)
        self.b = nn.Conv2d(6, 4, 3, padding=1)
        self.mix = nn.Conv2d(8, 8, 1)
        self.pool = nn.MaxPool2d(2)
        self.pool_b = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4 + 4 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        b = torch.relu(self.b(y))
        z = torch.cat([torch.relu(self.a(y)), b], 1)
        z = self.pool(torch.relu(self.mix(z)))
        feat = torch.cat((torch.flatten(z, 1), torch.flatten(self.pool_b(b), 1)), dim=-1)
        return self.fc(feat)


CAT_ALLOC = Allocation(
    {"stem": (8, 8), "a": (4, 4), "b": (3, 4), "mix": (4, 3), "fc": (8, 8)}, ["stem", "fc"]
)


def test_concatenation_bit_exact(tmp_path):
    model, acc = train_fixed(CatBlock(), CAT_ALLOC, steps=100)
    assert acc > 0.3
    qm = export_model(*export_fixed(model, CAT_ALLOC), (1, 8, 8))
    res = emit(
        qm,
        tmp_path / "prj",
        samples=heldout_samples(200),
        calib=digits()[0][:512].double().numpy(),
        io_type="io_parallel",
        progress=False,
    )
    assert res.verify.line() == "verify: 200/200 samples bit-exact (max |diff| = 0)"
    cats = [p for p in res.plan.nodes if p.op == "concat"]
    assert [c.shape for c in cats] == [(8, 8, 8), (192,)]
    assert [c.params["dim"] for c in cats] == [1, 1]
    cpp = (tmp_path / "prj" / "firmware" / "myproject.cpp").read_text()
    assert cpp.count("nnet::concatenate") == 2
