"""Pre-flight rejections (one line naming the layer and the alternative) and fixed-point casts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from quantizers import get_fixed_quantizer_np
from torch import nn

from codegen.errors import CodegenError
from codegen.fixed import FixedType, covering
from codegen.preflight import preflight
from hwsim.errors import HwsimError


class Wrap(nn.Module):
    def __init__(self, *mods: nn.Module, fwd=None):
        super().__init__()
        self.body = nn.Sequential(*mods)
        self.fwd = fwd

    def forward(self, x):
        return self.fwd(self, x) if self.fwd else self.body(x)


def _conv(**kw):
    return nn.Conv2d(4, 4, 3, **kw)


CASES = [
    ("adaptive", Wrap(nn.AdaptiveAvgPool2d(2)), "io_parallel", ["body.0", "output size 1"]),
    (
        "dilation",
        Wrap(_conv(dilation=2)),
        "io_parallel",
        ["body.0", "dilation=[2, 2]", "dilation=1"],
    ),
    ("same", Wrap(_conv(padding="same")), "io_parallel", ["body.0", "padding='same'", "padding=1"]),
    ("grouped", Wrap(_conv(groups=2)), "io_parallel", ["body.0", "groups=2", "groups=1"]),
    (
        "stream-stride",
        Wrap(nn.MaxPool2d(3, stride=1)),
        "io_stream",
        ["body.0", "stride == kernel", "--io-type parallel"],
    ),
    (
        "stream-pad",
        Wrap(nn.AvgPool2d(2, padding=1)),
        "io_stream",
        ["body.0", "no padding", "--io-type parallel"],
    ),
]


@pytest.mark.parametrize("label,model,io,needles", CASES, ids=[c[0] for c in CASES])
def test_preflight_rejects_with_layer_and_alternative(label, model, io, needles):
    with pytest.raises(CodegenError) as exc:
        preflight(model, io)
    msg = str(exc.value)
    assert "\n" not in msg
    assert isinstance(exc.value, HwsimError)
    for n in needles:
        assert n in msg, (n, msg)


def test_preflight_rejects_clamp_and_view_size():
    clamp = Wrap(fwd=lambda self, x: torch.clamp(x, 0, 6))
    with pytest.raises(CodegenError, match=r"operation 'clamp' \(clamp\).*nn.Hardtanh"):
        preflight(clamp)
    view = Wrap(nn.ReLU(), fwd=lambda self, x: self.body(x).view(x.size(0), -1))
    with pytest.raises(CodegenError, match=r"x.view\(x.size\(0\), -1\).*torch.flatten\(x, 1\)"):
        preflight(view)


def test_preflight_rewrites_layers_hls4ml_lacks():
    """Depthwise conv, ReLU6, Hardtanh, Identity and global average pooling (module and
    functional) become layers the converter reads (codegen.hls_ext), exactly."""
    import torch.nn.functional as F

    from codegen.hls_ext import Clip, Depthwise2d

    net = Wrap(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU6(),
        _conv(padding=1, groups=4),
        nn.Hardtanh(-1.0, 2.0),
        nn.Identity(),
        fwd=lambda self, x: F.adaptive_avg_pool2d(F.relu6(self.body(x)), 1),
    )
    net.gap = nn.AdaptiveAvgPool2d(1)
    x = torch.randn(3, 1, 6, 6)
    want = net(x)
    gm = preflight(net, "io_stream", (1, 6, 6))
    kinds = [type(m).__name__ for m in gm.modules()]
    assert "Depthwise2d" in kinds and kinds.count("Clip") == 3 and "AvgPool2d" in kinds
    assert not any(k in kinds for k in ("ReLU6", "Hardtanh", "Identity"))
    assert isinstance(gm.get_submodule("body.2"), Depthwise2d)
    assert isinstance(gm.get_submodule("body.1"), Clip)
    assert torch.allclose(gm(x), want, atol=1e-6)  # float32 summation order only


def test_preflight_accepts_exportable_model():
    ok = Wrap(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    gm = preflight(ok, "io_stream")
    assert [n.name for n in gm.graph.nodes][0] == "x"
    # io_parallel accepts overlapping pooling
    preflight(Wrap(nn.MaxPool2d(3, stride=1)), "io_parallel")


@settings(max_examples=60, deadline=None)
@given(
    signed=st.booleans(),
    width=st.integers(1, 20),
    integer=st.integers(-4, 12),
    rnd=st.booleans(),
    sat=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_cast_matches_reference_ap_fixed(signed, width, integer, rnd, sat, seed):
    if signed and width < 2:
        width = 2
    t = FixedType(signed, width, integer, "RND" if rnd else "TRN", "SAT" if sat else "WRAP")
    x = np.random.default_rng(seed).normal(0, 2.0 ** (integer + 1), 2000)
    ref = get_fixed_quantizer_np(t.rounding, t.overflow)(
        x, int(signed), integer - int(signed), t.frac
    )
    np.testing.assert_array_equal(t.cast(x), ref)


def test_covering_is_narrowest_exact_type():
    t = covering(-3.25, 7.5, 2)
    assert t.hls() == "ap_fixed<6,4>"
    assert t.lo <= -3.25 and t.hi >= 7.5
    narrower = FixedType(True, 5, 3)
    assert narrower.hi < 7.5
    assert covering(0, 7.75, 2).hls() == "ap_ufixed<5,3>"


def test_export_refuses_search_phase_and_paper_family_layers():
    """search's export to codegen's input refuses layers without ap_fixed types; codegen itself
    refuses a model whose layers are not plain, and a quantized layer whose record has no grids."""
    from codegen.export import export_model
    from hwsim.allocation import Allocation
    from search.convert import export_fixed
    from search.errors import SearchError
    from search.layers import MixedConv2d, QConv2d

    alloc = Allocation({"body.0": (4, 4)})
    mixed = Wrap(MixedConv2d(nn.Conv2d(1, 4, 3), [2, 4], [2, 4], family="fixed"))
    with pytest.raises(
        SearchError, match=r"layer 'body.0': a search-phase MixedConv2d.*edmips train"
    ):
        export_fixed(mixed, alloc)
    paper = Wrap(QConv2d(nn.Conv2d(1, 4, 3), 4, 4, family="paper"))
    with pytest.raises(SearchError, match=r"layer 'body.0': family 'paper'.*family='fixed'"):
        export_fixed(paper, alloc)
    with pytest.raises(CodegenError, match=r"layer 'body.0' \(QConv2d\): not a plain"):
        export_model(paper, alloc, (1, 8, 8))
    with pytest.raises(CodegenError, match=r"layer 'body.0': the allocation's format record"):
        export_model(Wrap(nn.Conv2d(1, 4, 3)), alloc, (1, 8, 8))
    fixed = Wrap(QConv2d(nn.Conv2d(1, 4, 3), 4, 4, family="fixed"))
    plain, full = export_fixed(fixed, alloc)
    rec = full.formats["body.0"]
    assert rec.known and rec.bits == (4, 4) and type(plain.body[0]) is nn.Conv2d
    assert export_model(plain, full, (1, 8, 8)).layers["body.0"].weight.width == 4
