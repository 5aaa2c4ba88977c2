import itertools
from pathlib import Path

import numpy as np
import pytest

from search.budget import LambdaController, parse_target, repair
from search.cost import HardwareCost
from search.errors import SearchError

SYSTOLIC_YAML = (
    Path(__file__).resolve().parents[1] / "accel_configs" / "systolic_int8_32x32_ws.yaml"
)


@pytest.mark.parametrize(
    "text,metric,value,rel",
    [
        ("latency=0.5x", "latency", 0.5, True),
        ("latency=2ms", "latency", 2e-3, False),
        ("latency=30us", "latency", 30e-6, False),
        ("energy=3mJ", "energy", 3e9, False),
        ("energy=12pJ", "energy", 12.0, False),
        ("lut=60000", "lut", 60000.0, False),
        ("bitops=1.5G", "bitops", 1.5e9, False),
        ("dram=2MB", "dram", 2e6, False),
        ("dram=1KiB", "dram", 1024.0, False),
    ],
)
def test_parse_target(text, metric, value, rel):
    t = parse_target(text)
    assert (t.metric, t.relative) == (metric, rel)
    assert t.value == pytest.approx(value)


@pytest.mark.parametrize(
    "bad", ["latency", "speed=1x", "latency=2kg", "energy=-1mJ", "lut=5ms", "latency=x"]
)
def test_parse_target_errors(bad):
    with pytest.raises(SearchError, match="--target"):
        parse_target(bad)


def random_cost(rng, L=4, nW=3, nA=2, agg="sum"):
    t = rng.uniform(1.0, 10.0, size=(L, nW, nA))
    return HardwareCost(
        {"bitops": t}, "bitops", [f"l{i}" for i in range(L)], agg, 20.0, {"bitops": np.array([3.0])}
    )


def brute_best(cost, lpw, lpa, budget, per_layer=False):
    L, nW, nA = cost.shape
    best, best_sc = None, -np.inf
    for combo in itertools.product(itertools.product(range(nW), range(nA)), repeat=L):
        idx = np.array(combo)
        c = cost.discrete(idx)
        if c > budget:
            continue
        sc = sum(lpw[k, i] + lpa[k, j] for k, (i, j) in enumerate(combo))
        if sc > best_sc:
            best, best_sc = idx, sc
    return best, best_sc


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("agg", ["sum", "smoothmax"])
def test_repair_is_optimal(seed, agg):
    rng = np.random.default_rng(seed)
    cost = random_cost(rng, agg=agg)
    lpw = np.log(rng.dirichlet(np.ones(3), size=4))
    lpa = np.log(rng.dirichlet(np.ones(2), size=4))
    lo, hi = cost.minimum(), cost.uniform(2, 1)
    budget = lo + rng.uniform(0.2, 0.8) * (hi - lo)
    idx, c = repair(cost, lpw, lpa, budget, fill=0)
    _, want = brute_best(cost, lpw, lpa, budget)
    got = sum(lpw[k, i] + lpa[k, j] for k, (i, j) in enumerate(idx))
    assert c <= budget * (1 + 1e-9)
    assert got == pytest.approx(want, abs=1e-7)


def test_repair_infeasible_names_minimum():
    cost = random_cost(np.random.default_rng(1))
    with pytest.raises(SearchError, match="infeasible: the cheapest allocation costs"):
        repair(cost, np.zeros((4, 3)), np.zeros((4, 2)), cost.minimum() * 0.99)


def test_lambda_controller_moves_towards_target():
    ctl = LambdaController(lam=1.0, target=1.0, interval=1)
    for _ in range(5):
        ctl.update(2.0)  # over budget -> lambda grows
    assert ctl.lam > 1.0
    hi = ctl.lam
    for _ in range(20):
        ctl.update(0.5)
    assert ctl.lam < hi
    fixed = LambdaController(lam=0.3, fixed=True)
    assert fixed.update(100.0) == 0.3
    state = ctl.state_dict()
    other = LambdaController()
    other.load_state_dict(state)
    assert other.lam == ctl.lam


def test_edp_repair_meets_budget():
    from hwsim import LayerSpec, Workload, load_config

    wl = Workload(
        "toy",
        [
            LayerSpec("c0", "conv", 3, 16, kernel=3, padding=1, in_hw=(16, 16)),
            LayerSpec("c1", "conv", 16, 32, kernel=3, padding=1, in_hw=(16, 16)),
            LayerSpec("c2", "conv", 32, 32, kernel=3, padding=1, in_hw=(16, 16)),
            LayerSpec("fc", "linear", 32, 10),
        ],
    )
    cost = HardwareCost.from_workload(
        wl,
        load_config(str(SYSTOLIC_YAML)),
        "edp",
        ["c1", "c2"],
        [2, 4],
        [2, 4],
    )
    budget = 0.5 * (cost.minimum() + cost.uniform(1, 1))
    rng = np.random.default_rng(0)
    lpw, lpa = np.log(rng.dirichlet(np.ones(2), 2)), np.log(rng.dirichlet(np.ones(2), 2))
    idx, c = repair(cost, lpw, lpa, budget)
    assert c <= budget
    # exhaustive check: no feasible allocation has a higher score than the one found
    _, want = brute_best(cost, lpw, lpa, budget)
    got = sum(lpw[k, i] + lpa[k, j] for k, (i, j) in enumerate(idx))
    assert got == pytest.approx(want, abs=1e-9)
