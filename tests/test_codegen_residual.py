"""A model with a residual add (signed input quantizer on the add), max and average pooling,
trained briefly in the fixed family: io_stream project, bit-exact."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from codegen_helpers import digits, heldout_samples, train_fixed
from torch import nn

from codegen.emit import emit
from codegen.export import export_model
from hwsim.allocation import Allocation
from hwsim.formats import float_layer_format
from search.convert import export_fixed


class ResNetlet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 12, 1)
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AvgPool2d(4)
        self.fc = nn.Linear(12, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn0(self.conv0(x)))
        z = F.relu(self.bn1(self.conv1(y)))
        s = self.conv2(z) + y
        t = torch.relu(self.conv3(s))
        return self.fc(torch.flatten(self.gap(self.pool(t)), 1))


ALLOC = Allocation(
    {"conv0": (8, 8), "conv1": (4, 4), "conv2": (3, 2), "conv3": (5, 6), "fc": (8, 8)},
    ["conv0", "fc"],
)


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    model, acc = train_fixed(ResNetlet(), ALLOC, steps=200)
    qm = export_model(*export_fixed(model, ALLOC), (1, 8, 8))
    out = tmp_path_factory.mktemp("res") / "prj"
    res = emit(
        qm,
        out,
        samples=heldout_samples(200),
        calib=digits()[0][:512].double().numpy(),
        io_type="io_stream",
        progress=False,
    )
    return res, out


def test_residual_bit_exact(emitted):
    res, _ = emitted
    assert res.verify.line() == "verify: 200/200 samples bit-exact (max |diff| = 0)"


def test_residual_quantizers_placed(emitted):
    res, out = emitted
    plan = res.plan
    add = plan.node("add")
    # conv3's input comes straight from the add: signed ap_fixed<6,..,AP_RND,AP_SAT>
    assert add.quant_point == "conv3"
    assert re.fullmatch(r"ap_fixed<6,-?\d+,AP_RND,AP_SAT>", add.result.hls())
    # conv1 reads relu(bn0) (also the skip): unsigned 4-bit
    relu = plan.node("relu")
    assert relu.quant_point == "conv1" and relu.result.hls().startswith("ap_ufixed<4,")
    # the global pooling's result is the input
    # of the float last layer, quantized to the float-layer width (the width hwsim costs)
    gap = plan.node("net_gap")
    assert gap.quant_point == "fc" and gap.result.width == float_layer_format().a_bits
    assert gap.result.rounding == "RND" and gap.result.overflow == "SAT"
    assert "ap_fixed<6," in (out / "firmware" / "defines.h").read_text()
    assert "no accelerator config" in " ".join(res.notes)
