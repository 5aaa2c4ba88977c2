"""Quantizer levels and STE gradients (paper: HWGQ / Gaussian; fixed: exact ap_fixed grids)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from search.errors import SearchError
from search.quantizers import (
    GAUSS_STEPS,
    HWGQ_STEPS,
    act_frac,
    fixed_act,
    fixed_weight,
    gaussian_step,
    gaussian_weight,
    hwgq,
    hwgq_step,
    optimal_uniform_step,
    weight_frac,
)

quantizers = pytest.importorskip("quantizers")  # ships with hls4ml


def _grid_points(lo: float, hi: float, n: int = 20001) -> torch.Tensor:
    return torch.linspace(lo, hi, n, dtype=torch.float64)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_hwgq_levels_and_clipped_relu_ste(bits):
    step = HWGQ_STEPS[bits]
    clip = (2**bits - 1) * step
    x = _grid_points(-2.0, clip + 2.0).requires_grad_()
    y = hwgq(x, bits)
    levels = torch.unique(y.detach())
    expected = torch.arange(2**bits, dtype=torch.float64) * step
    assert torch.allclose(levels, expected, atol=1e-12)
    # nearest level inside the clip range
    inside = (x.detach() >= 0) & (x.detach() <= clip)
    assert (y.detach()[inside] - x.detach()[inside]).abs().max() <= step / 2 + 1e-12
    y.sum().backward()
    assert torch.equal(x.grad, inside.to(torch.float64))


def test_hwgq_32_bits_is_relu():
    x = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    y = hwgq(x, 32)
    assert torch.equal(y.detach(), torch.relu(x.detach()))
    y.sum().backward()
    assert torch.equal(x.grad, (x.detach() >= 0).to(torch.float64))


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_gaussian_weight_midrise_levels_identity_ste(bits):
    torch.manual_seed(bits)
    w = (torch.randn(20000, dtype=torch.float64) * 0.3).requires_grad_()
    std = float(w.detach().std())
    y = gaussian_weight(w, bits)
    step = GAUSS_STEPS[bits] * std
    expected = (torch.arange(2**bits, dtype=torch.float64) - 2 ** (bits - 1) + 0.5) * step
    assert torch.allclose(torch.unique(y.detach()), expected, atol=1e-12)
    assert not (y.detach() == 0).any()  # mid-rise: no zero level
    g = torch.randn_like(w)
    (y * g).sum().backward()
    assert torch.equal(w.grad, g)  # identity STE, also outside the clip range


def test_steps_extension_reproduces_max_table():
    for bits, ref in {1: 1.596, 2: 0.9957, 3: 0.5860, 4: 0.3352}.items():
        assert optimal_uniform_step(bits, half=False) == pytest.approx(ref, abs=6e-4)
    steps = [gaussian_step(b) for b in range(1, 9)]
    assert all(a > b for a, b in zip(steps, steps[1:]))
    hsteps = [hwgq_step(b) for b in range(1, 9)]
    assert all(a > b for a, b in zip(hsteps, hsteps[1:]))
    assert hwgq_step(2) == 0.538 and gaussian_step(3) == 0.586


def _ap_fixed_ref(x: np.ndarray, bits: int, frac: int, signed: bool) -> np.ndarray:
    q = quantizers.get_fixed_quantizer_np("RND", "SAT")
    int_bits = bits - frac  # I of ap_fixed<W, I> (incl. sign)
    k = 1 if signed else 0
    return np.asarray(q(x, k, int_bits - k, frac), dtype=np.float64)


CASES = [(2, 1), (3, 2), (4, 3), (4, 6), (5, -1), (8, 4), (2, 3), (6, 0)]


def _test_values(step: float, bits: int) -> np.ndarray:
    rng = np.random.default_rng(bits)
    span = 2**bits * step
    x = rng.uniform(-1.5 * span, 1.5 * span, 5000)
    ties = (np.arange(-(2**bits) - 2, 2**bits + 2) + 0.5) * step  # exact halves: round half up
    return np.concatenate([x, ties, [0.0]])


@pytest.mark.parametrize("bits,frac", CASES)
def test_fixed_weight_matches_ap_fixed(bits, frac):
    step = 2.0**-frac
    x = _test_values(step, bits)
    ref = _ap_fixed_ref(x, bits, frac, signed=True)
    t = torch.tensor(x, requires_grad=True)
    y = fixed_weight(t, bits, frac)
    out = y.detach().numpy()
    assert np.array_equal(out, ref)
    k = out / step
    assert np.array_equal(k, np.round(k))
    assert k.min() >= -(2 ** (bits - 1)) and k.max() <= 2 ** (bits - 1) - 1
    # round half up, e.g. +0.5 step -> 1 step and -0.5 step -> 0
    assert float(fixed_weight(torch.tensor([0.5 * step, -0.5 * step]), bits, frac)[0]) == step
    assert float(fixed_weight(torch.tensor([-0.5 * step]), bits, frac)[0]) == 0.0
    y.sum().backward()
    assert torch.equal(t.grad, torch.ones_like(t))  # identity STE


@pytest.mark.parametrize("bits,frac", CASES + [(1, 0), (1, 3)])
@pytest.mark.parametrize("signed", [False, True])
def test_fixed_act_matches_ap_fixed_and_clipped_ste(bits, frac, signed):
    if signed and bits < 2:
        with pytest.raises(SearchError):
            fixed_act(torch.zeros(3), bits, frac, signed=True)
        return
    step = 2.0**-frac
    x = _test_values(step, bits)
    ref = _ap_fixed_ref(x, bits, frac, signed)
    t = torch.tensor(x, requires_grad=True)
    y = fixed_act(t, bits, frac, signed)
    assert np.array_equal(y.detach().numpy(), ref)
    lo = -(2 ** (bits - 1)) * step if signed else 0.0
    hi = (2 ** (bits - 1) - 1) * step if signed else (2**bits - 1) * step
    y.sum().backward()
    inside = (t.detach() >= lo) & (t.detach() <= hi)
    assert torch.equal(t.grad, inside.to(torch.float64))


def test_fixed_weight_one_bit_is_an_error():
    with pytest.raises(SearchError, match="1-bit"):
        fixed_weight(torch.zeros(4), 1, 0)


def test_frac_from_statistics():
    torch.manual_seed(0)
    w = torch.randn(50000) * 0.05
    std = float(w.std())
    for bits in (2, 3, 4, 6):
        expect = -math.floor(math.log2(gaussian_step(bits) * std) + 0.5)
        assert weight_frac(w, bits) == expect
        assert act_frac(std, bits) == -math.floor(math.log2(hwgq_step(bits) * std) + 0.5)
    # 4-bit weights with std 0.05: g*std = 0.0168 -> 2^-6
    assert weight_frac(0.05, 4) == 6
    assert act_frac(1.0, 2) == 1  # 0.538 -> 2^-1
