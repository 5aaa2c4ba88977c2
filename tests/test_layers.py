"""EdMIPS composite layers equal the explicit |B_w|x|B_a| branch sum (forward and gradients);
fixed-precision layers sit exactly on their ap_fixed grids."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from search.errors import SearchError
from search.layers import MixedConv2d, MixedLinear, QConv2d, QLinear
from search.quantizers import (
    act_frac,
    fixed_act,
    fixed_weight,
    gaussian_step,
    gaussian_weight,
    hwgq,
    signed_grid,
    weight_frac,
)

W_BITS = [1, 2, 3, 4]
A_BITS = [2, 3, 4]


def _act_q(layer, x, bits):
    """The per-branch activation quantizer, written with the public functions."""
    std = float(layer.running_std)
    if layer.family == "fixed":
        return fixed_act(x, bits, act_frac(std, bits, layer.signed_input), layer.signed_input)
    if layer.signed_input:
        grid = signed_grid(bits, gaussian_step(bits) * std)
        y = x.clamp(grid.lo, grid.hi)
        return grid.apply(x.detach()) + (y - y.detach())
    return hwgq(x, bits)


def _weight_q(layer, w, bits):
    if layer.family == "fixed":
        return fixed_weight(w, bits, weight_frac(w, bits))
    return gaussian_weight(w, bits)


def _explicit(layer, x, op):
    """Σ_ij π^w_i π^a_j op(Qa_j(x), Qw_i(W)) + bias: one op per branch."""
    pw, pa = layer.probs()
    out = 0
    for i, wb in enumerate(layer.w_bits):
        for j, ab in enumerate(layer.a_bits):
            out = out + pw[i] * pa[j] * op(_act_q(layer, x, ab), _weight_q(layer, layer.weight, wb))
    if layer.bias is not None:
        shape = (1, -1) + (1,) * (out.dim() - 2)
        out = out + layer.bias.view(shape)
    return out


def _compare(layer, x, op):
    torch.manual_seed(1)
    with torch.no_grad():
        layer.alpha_w.copy_(torch.randn(len(layer.w_bits), dtype=torch.float64))
        layer.alpha_a.copy_(torch.randn(len(layer.a_bits), dtype=torch.float64))
    layer.eval()  # freeze the running std so both paths use the same quantizers
    with torch.no_grad():
        layer.running_std.fill_(float(x.std()) * 0.9)
    params = [x, layer.weight, layer.alpha_w, layer.alpha_a] + (
        [layer.bias] if layer.bias is not None else []
    )
    y = layer(x)
    g = torch.randn_like(y)
    got = torch.autograd.grad((y * g).sum(), params)
    ref = _explicit(layer, x, op)
    want = torch.autograd.grad((ref * g).sum(), params)
    assert torch.allclose(y, ref, rtol=1e-10, atol=1e-10)
    for name, a, b in zip(["x", "W", "alpha_w", "alpha_a", "bias"], got, want):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-10), name
        assert b.abs().sum() > 0, name  # the comparison is not vacuous


CONV_CASES = [
    dict(cin=4, cout=6, k=3, stride=1, padding=1, groups=1, bias=False),
    dict(cin=4, cout=6, k=3, stride=2, padding=1, groups=2, bias=True),
    dict(cin=6, cout=6, k=3, stride=2, padding=1, groups=6, bias=False),  # depthwise
    dict(cin=3, cout=5, k=1, stride=1, padding=0, groups=1, bias=True),
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize(
    "family,signed,w_bits",
    [
        ("paper", False, W_BITS),
        ("paper", True, W_BITS),
        ("fixed", False, [2, 3, 4]),
        ("fixed", True, [2, 4, 8]),
    ],
)
def test_mixed_conv_equals_branch_sum(case, family, signed, w_bits):
    torch.manual_seed(0)
    conv = nn.Conv2d(
        case["cin"],
        case["cout"],
        case["k"],
        case["stride"],
        case["padding"],
        groups=case["groups"],
        bias=case["bias"],
    ).double()
    layer = MixedConv2d(conv, w_bits, A_BITS, family=family, signed_input=signed)
    x = (
        torch.randn(2, case["cin"], 9, 9, dtype=torch.float64) * 1.3 + (0 if signed else 0.5)
    ).requires_grad_()

    def op(xq, wq):
        return F.conv2d(xq, wq, None, conv.stride, conv.padding, conv.dilation, conv.groups)

    _compare(layer, x, op)


@pytest.mark.parametrize(
    "family,signed", [("paper", False), ("paper", True), ("fixed", False), ("fixed", True)]
)
def test_mixed_linear_equals_branch_sum(family, signed):
    torch.manual_seed(0)
    lin = nn.Linear(7, 5).double()
    w_bits = W_BITS if family == "paper" else [2, 3, 4]
    layer = MixedLinear(lin, w_bits, A_BITS, family=family, signed_input=signed)
    x = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    _compare(layer, x, lambda xq, wq: F.linear(xq, wq))


def test_mixed_layer_state_and_argmax():
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    layer = MixedConv2d(conv, W_BITS, A_BITS)
    assert layer.weight is conv.weight
    assert torch.equal(layer.alpha_w.detach(), torch.full((4,), 0.01))
    pw, pa = layer.probs()
    assert torch.allclose(pw, torch.full((4,), 0.25)) and torch.allclose(
        pa, torch.full((3,), 1 / 3)
    )
    with torch.no_grad():
        layer.alpha_w[2] = 1.0
        layer.alpha_a[0] = 1.0
    assert layer.argmax_bits() == (3, 2)
    ew, ea = (t.detach() for t in layer.expected_bits())
    assert 2.5 < ew.item() < 4 and 2 <= ea.item() < 3
    assert set(dict(layer.named_parameters())) == {"weight", "alpha_w", "alpha_a"}


def test_mixed_layer_errors():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(SearchError, match="1-bit"):
        MixedConv2d(conv, [1, 2], [2], family="fixed")
    with pytest.raises(SearchError, match="family"):
        MixedConv2d(conv, [2], [2], family="lsq")
    with pytest.raises(SearchError, match="twice"):
        MixedConv2d(conv, [2, 2], [2])
    with pytest.raises(SearchError, match="non-empty"):
        MixedConv2d(conv, [], [2])
    with pytest.raises(SearchError, match="Conv2d"):
        MixedConv2d(nn.Linear(3, 3), [2], [2])


def _saved_bytes(fn) -> int:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def test_mixed_conv_saves_no_per_candidate_copies():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)
    x = torch.randn(8, 16, 32, 32, requires_grad=True)
    mixed = MixedConv2d(conv, W_BITS, A_BITS)
    fixed = QConv2d(nn.Conv2d(16, 16, 3, padding=1, bias=False), 2, 2)
    in_bytes = x.numel() * 4
    mixed_saved = _saved_bytes(lambda: mixed(x))
    fixed_saved = _saved_bytes(lambda: fixed(x))
    naive_saved = _saved_bytes(lambda: _explicit(mixed, x, lambda a, b: F.conv2d(a, b, None, 1, 1)))
    assert mixed_saved <= 2.2 * in_bytes  # x for the recomputation + the mixed input of the conv
    assert mixed_saved <= 1.1 * fixed_saved
    assert naive_saved > 4 * mixed_saved


def test_qconv_fixed_on_grid_and_frozen_in_eval():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 8, 3, padding=1, bias=False).double()
    q = QConv2d(conv, 4, 3, family="fixed", signed_input=False)
    x = torch.relu(torch.randn(2, 4, 6, 6, dtype=torch.float64) * 3)
    q.train()
    y = q(x)
    std = float(x.std())
    assert float(q.running_std) == pytest.approx(std)
    assert int(q.a_frac) == act_frac(std, 3) and int(q.w_frac) == weight_frac(conv.weight, 4)
    wq = q.quantized_weight()
    k = wq * 2.0 ** int(q.w_frac)
    assert torch.equal(k, torch.round(k)) and k.min() >= -8 and k.max() <= 7
    ref = F.conv2d(fixed_act(x, 3, int(q.a_frac)), wq, None, 1, 1)
    assert torch.equal(y, ref)
    assert q.weight_format() == (4, 4 - int(q.w_frac))
    assert q.act_format() == (3, 3 - int(q.a_frac), False)
    # eval: statistics and fractions frozen
    q.eval()
    frozen = (int(q.w_frac), int(q.a_frac), float(q.running_std))
    q(x * 100)
    with torch.no_grad():
        conv.weight.mul_(50)
    q(x)
    assert (int(q.w_frac), int(q.a_frac), float(q.running_std)) == frozen
    # training again re-records them
    q.train()
    q(x * 100)
    assert int(q.a_frac) != frozen[1] and int(q.w_frac) != frozen[0]


def test_qlinear_paper_matches_quantizers_and_errors():
    torch.manual_seed(0)
    lin = nn.Linear(6, 3).double()
    q = QLinear(lin, 2, 4, family="paper")
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    y = q(x)
    ref = F.linear(hwgq(x, 4), gaussian_weight(lin.weight, 2), lin.bias)
    assert torch.allclose(y, ref, atol=1e-12)
    assert torch.equal(q.quantized_weight(), gaussian_weight(lin.weight, 2).detach())
    with pytest.raises(SearchError, match="fixed"):
        q.weight_format()
    with pytest.raises(SearchError, match="1-bit"):
        QLinear(nn.Linear(3, 3), 1, 4, family="fixed")
    with pytest.raises(SearchError, match="signed"):
        QLinear(nn.Linear(3, 3), 2, 1, family="fixed", signed_input=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mask_sum_matches_explicit_masks_on_the_bounds(dtype):
    from search.layers import _mask_sum
    from search.quantizers import fixed_act_grid, hwgq_grid

    grids = (
        hwgq_grid(2),
        hwgq_grid(4),
        hwgq_grid(32),
        signed_grid(3, 0.25),
        fixed_act_grid(2, 1, False),
    )
    edges = [v for g in grids for v in (g.lo, g.hi) if abs(v) != float("inf")]
    x = torch.tensor(edges + [-0.0, 0.0, -1e-30, 1e-30, -5.0, 5.0, 1e6], dtype=dtype)
    x = torch.cat([x, torch.randn(200, dtype=dtype) * 2])
    p = torch.softmax(torch.randn(len(grids), dtype=dtype), 0)
    want = sum(p[k] * g.mask(x) for k, g in enumerate(grids))
    assert torch.allclose(
        _mask_sum(x, p, grids), want, atol=1e-6 if dtype == torch.float32 else 1e-12
    )
