import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from hwsim import LayerSpec, Workload, load_config
from search.cost import HardwareCost, bitops_table, supported_candidates
from search.errors import SearchError

CFG = str(Path(__file__).resolve().parents[1] / "accel_configs" / "systolic_int8_32x32_ws.yaml")


def small_workload() -> Workload:
    return Workload(
        "toy",
        [
            LayerSpec("c0", "conv", 1, 8, kernel=3, padding=1, in_hw=(8, 8)),
            LayerSpec("c1", "conv", 8, 16, kernel=3, padding=1, in_hw=(8, 8)),
            LayerSpec("c2", "conv", 16, 16, kernel=3, stride=2, padding=1, in_hw=(8, 8)),
            LayerSpec("fc", "linear", 256, 10),
        ],
    )


def brute(cost: HardwareCost, pw, pa, agg_max=False):
    """Expectation by enumerating every joint allocation (product of per-layer probabilities)."""
    L, nW, nA = cost.shape
    pairs = list(itertools.product(range(nW), range(nA)))
    total = 0.0
    for combo in itertools.product(pairs, repeat=L):
        p = np.prod([pw[k][i] * pa[k][j] for k, (i, j) in enumerate(combo)])
        total += p * cost.discrete(np.array(combo))
    return total


@pytest.mark.parametrize("metric", ["bitops", "latency", "energy", "dram"])
def test_expectation_equals_brute_force(metric):
    wl = small_workload()
    cfg = load_config(CFG)
    cost = HardwareCost.from_workload(wl, cfg, metric, ["c1", "c2"], [1, 2, 4], [2, 3])
    g = torch.Generator().manual_seed(0)
    probs = [
        (
            torch.softmax(torch.randn(3, generator=g, dtype=torch.float64), 0),
            torch.softmax(torch.randn(2, generator=g, dtype=torch.float64), 0),
        )
        for _ in range(2)
    ]
    got = float(cost(probs))
    want = brute(cost, [p[0].numpy() for p in probs], [p[1].numpy() for p in probs])
    assert got == pytest.approx(want, rel=1e-9)
    # one-hot probabilities give the discrete cost, float layers included at 8/8
    onehot = [(torch.eye(3)[1], torch.eye(2)[0]), (torch.eye(3)[2], torch.eye(2)[1])]
    assert float(cost(onehot)) == pytest.approx(
        cost.discrete(np.array([[1, 0], [2, 1]])), rel=1e-12
    )


def test_bitops_and_scale():
    wl = small_workload()
    cost = HardwareCost.from_workload(wl, None, "bitops", ["c1", "c2"], [1, 2], [2, 4])
    t = bitops_table(wl, [1, 2], [2, 4])
    assert t[1, 1, 1] == wl.layers[1].macs * 2 * 4
    const = (wl.layers[0].macs + wl.layers[3].macs) * 64
    assert cost.discrete(np.array([[0, 0], [0, 0]])) == pytest.approx(
        const + 2 * (wl.layers[1].macs + wl.layers[2].macs)
    )
    assert cost.scale == pytest.approx(64 * wl.total_macs)


def test_gradient_flows_and_smoothmax_bounds():
    wl = small_workload()
    cost = HardwareCost.from_workload(wl, None, "bitops", ["c1", "c2"], [1, 2, 4], [2, 4])
    cost_max = HardwareCost(
        cost.np_tables, "bitops", cost.layer_names, "smoothmax", cost.scale, cost.np_constant
    )
    aw = torch.zeros(2, 3, requires_grad=True)
    aa = torch.zeros(2, 2, requires_grad=True)
    probs = [(torch.softmax(aw[i], 0), torch.softmax(aa[i], 0)) for i in range(2)]
    val = cost(probs)
    val.backward()
    assert aw.grad is not None and torch.all(aw.grad[:, 0] < 0)  # fewer bits -> cheaper
    idx = np.array([[2, 1], [2, 1]])
    hard = cost_max.discrete(idx)
    onehot = [(torch.eye(3)[2], torch.eye(2)[1])] * 2
    soft = float(cost_max(onehot))
    assert hard <= soft <= hard + cost_max.tau * cost_max.scale * np.log(4) + 1e-6


def test_unsupported_bits_removed_or_error(capsys):
    cfg = load_config(CFG)  # int8 systolic: native up to 8 bits
    assert supported_candidates(cfg, [2, 4, 16], [4, 8]) == ([2, 4], [4, 8])
    assert "removed from the candidates" in capsys.readouterr().out
    with pytest.raises(SearchError, match="supports none"):
        supported_candidates(cfg, [16, 32], [4])
