"""The metric registry (``hwsim.metrics``): one entry per metric, read by every consumer."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from edmips.cmd_pareto import register as register_pareto
from edmips.cmd_search import register as register_search
from edmips.report import totals_shown
from hwsim import Allocation, LayerSpec, Workload, cost_tables, load_config, metrics, simulate
from hwsim.cli import comparison_table
from hwsim.components import assemble
from hwsim.metrics import REGISTRY, Metric, bitops
from search.budget import format_cost, parse_target, repair
from search.cost import HardwareCost, metric_tables
from search.errors import SearchError

CONFIGS = Path(__file__).resolve().parents[1] / "accel_configs"
BITS = [2, 4, 8]


def toy() -> Workload:
    return Workload(
        "toy",
        [
            LayerSpec("c0", "conv", 1, 8, kernel=3, padding=1, in_hw=(8, 8)),
            LayerSpec("c1", "conv", 8, 16, kernel=3, padding=1, in_hw=(8, 8)),
            LayerSpec("c2", "conv", 16, 16, kernel=3, stride=2, padding=1, in_hw=(8, 8)),
            LayerSpec("fc", "linear", 256, 10),
        ],
    )


SRAM = Metric(
    "sram",
    ("sram_bits",),
    "bits",
    "sram_bits",
    "bits",
    "on-chip SRAM traffic",
    label="SRAM (bits)",
    compare=("SRAM (Mbit)", 1e-6),
    target_units={"b": 1.0, "kb": 1e3, "Mb": 1e6},
    print_units=(("Mb", 1e6), ("kb", 1e3)),
)


def _parser(register) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="cmd"))
    return parser


def test_a_new_metric_is_one_entry(monkeypatch):
    """Registering ``sram`` (an existing per-layer table key) is all it takes for the target
    parser, the search budget and repair, the simulate totals and side-by-side table, the run
    report's table and the --metric choices to accept it."""
    monkeypatch.setitem(REGISTRY, "sram", SRAM)
    # target parser
    t = parse_target("sram=2Mb")
    assert (t.metric, t.value, t.relative) == ("sram", 2e6, False)
    assert parse_target("sram=0.5x").relative
    with pytest.raises(SearchError, match="unit 'GB'"):
        parse_target("sram=1GB")
    assert format_cost("sram", 2.5e6) == "2.5 Mb"
    # the search's budget: tables, expected cost, relative budget and the exact repair
    wl = toy()
    cfg = load_config(CONFIGS / "systolic_int8_32x32_ws.yaml")
    cost = HardwareCost.from_workload(wl, cfg, "sram", ["c1", "c2"], BITS, BITS)
    raw = cost_tables(wl, cfg, BITS, BITS, monotone=True)["sram_bits"]
    assert cost.keys == ["sram_bits"] and cost.aggregate == "sum"
    assert cost.uniform(2, 2) == pytest.approx(raw[:, 2, 2].sum(), rel=1e-12)
    onehot = [(torch.eye(3)[0], torch.eye(3)[1])] * 2
    assert float(cost(onehot)) == pytest.approx(cost.discrete(np.array([[0, 1], [0, 1]])))
    rng = np.random.default_rng(0)
    lpw = np.log(rng.dirichlet(np.ones(3), size=2))
    lpa = np.log(rng.dirichlet(np.ones(3), size=2))
    budget = parse_target("sram=0.8x").resolve(cost)
    _, got = repair(cost, lpw, lpa, budget)
    assert got <= budget * (1 + 1e-9)
    # simulate: a network total, printed in the side-by-side table
    alloc = Allocation.uniform(wl, 4, 4)
    reps = [
        simulate(wl, alloc, load_config(CONFIGS / f"{c}.yaml"))
        for c in ("systolic_int8_32x32_ws", "stripes")
    ]
    for rep in reps:
        assert rep.totals["sram_bits"] == pytest.approx(sum(r["sram_bits"] for r in rep.rows))
    table = comparison_table(reps)
    assert "SRAM (Mbit)" in table
    assert f"{reps[1].totals['sram_bits'] * 1e-6:.4g}" in table
    # the run report's simulation table
    assert ("sram_bits", "SRAM (bits)") in totals_shown()
    # the CLIs: edmips search --metric sram is a valid choice; pareto too (universal, hardware)
    ns = _parser(register_search).parse_args(["search", "--metric", "sram", "--lambda", "1"])
    assert ns.metric == "sram"
    ns = _parser(register_pareto).parse_args(
        ["pareto", "--accel", "x.yaml", "--metric", "sram", "--out", "o"]
    )
    assert ns.metric == "sram"


def test_a_new_composite_metric(monkeypatch):
    """A composite is the product of its parts' network figures, in the search and in reports."""
    monkeypatch.setitem(
        REGISTRY,
        "ddp",
        Metric(
            "ddp",
            ("dram_bytes", "latency_s"),
            "B*s",
            "ddp_bs",
            "B*s",
            "DRAM-delay product",
            aggregate="product",
            parts=("dram", "latency"),
            label="DDP (B*s)",
        ),
    )
    wl = toy()
    cfg = load_config(CONFIGS / "stripes.yaml")
    cost = HardwareCost.from_workload(wl, cfg, "ddp", ["c1", "c2"], BITS, BITS)
    tab = cost_tables(wl, cfg, BITS, BITS, monotone=True)
    idx = np.array([[0, 2], [1, 1]])
    rows = [(0, 2, 2), (1, 0, 2), (2, 1, 1), (3, 2, 2)]  # (layer, i, j); float layers at 8/8
    dram = sum(tab["dram_bytes"][li, i, j] for li, i, j in rows)
    lat = sum(tab["latency_s"][li, i, j] for li, i, j in rows)
    assert cost.discrete(idx) == pytest.approx(dram * lat, rel=1e-12)
    budget = cost.from_relative(0.6)
    got_idx, got = repair(cost, np.zeros((2, 3)), np.zeros((2, 3)), budget)
    assert got <= budget * (1 + 1e-9) and got == cost.discrete(got_idx)
    with pytest.raises(SearchError, match="layer-by-layer"):
        HardwareCost(cost.np_tables, "ddp", ["c1", "c2"], "smoothmax")
    rep = simulate(wl, Allocation.uniform(wl, 4, 4), cfg)
    assert rep.totals["ddp_bs"] == rep.totals["dram_bytes"] * rep.totals["latency_s"]


def test_edp_is_the_product_of_the_totals():
    """EDP: network energy x network latency (not the per-layer products summed)."""
    wl = toy()
    cfg = load_config(CONFIGS / "systolic_int8_32x32_ws.yaml")
    cost = HardwareCost.from_workload(wl, cfg, "edp", ["c1", "c2"], BITS, BITS)
    tab = cost_tables(wl, cfg, BITS, BITS, monotone=True)
    e, t = tab["energy_pj"][:, 1, 1].sum(), tab["latency_s"][:, 1, 1].sum()
    # c0 and fc are float layers at 8/8 (index 2)
    e += tab["energy_pj"][[0, 3], 2, 2].sum() - tab["energy_pj"][[0, 3], 1, 1].sum()
    t += tab["latency_s"][[0, 3], 2, 2].sum() - tab["latency_s"][[0, 3], 1, 1].sum()
    assert cost.uniform(1, 1) == pytest.approx(e * t, rel=1e-12)
    per_layer = (tab["energy_pj"] * tab["latency_s"])[:, 1, 1].sum()
    assert cost.uniform(1, 1) != pytest.approx(per_layer, rel=1e-3)
    rep = simulate(wl, Allocation.uniform(wl, 4, 4), cfg)
    want = rep.totals["energy_per_inference_pj"] * 1e-12 * rep.totals["latency_s"]
    assert rep.totals["edp_js"] == want


def test_bitops_is_computed_in_one_place():
    wl = toy()
    w, a = np.float64(3), np.float64(5)
    L = wl.arrays()
    cfg = load_config(CONFIGS / "stripes.yaml")
    out = cfg.model.evaluate(L, w, a)
    np.testing.assert_array_equal(out["bitops"], bitops(L.macs, w, a))
    tab = metric_tables(wl, None, "bitops", [1, 3], [5, 7])["bitops"]
    np.testing.assert_array_equal(tab[:, 1, 0], bitops(L.macs, w, a))
    np.testing.assert_array_equal(tab, metrics.bitops_table(wl, [1, 3], [5, 7]))
    assert assemble.__module__ == "hwsim.components"  # the models' standard dict uses it


def test_registry_is_consistent():
    """Every budgetable metric has a unit, a report total, keys some accelerator reports (or an
    accelerator-free rule), and composites name registered parts."""
    wl = toy()
    keys: set[str] = set()
    for name in ("stripes", "fpga_xc7z020", "bitfusion_eyeriss", "systolic_int8_32x32_ws"):
        keys |= set(cost_tables(wl, load_config(CONFIGS / f"{name}.yaml"), [4], [4]))
    totals: set[str] = set()
    for name in ("stripes", "fpga_xc7z020"):
        cfg = load_config(CONFIGS / f"{name}.yaml")
        totals |= set(simulate(wl, Allocation.uniform(wl, 4, 4), cfg).totals)
    for name, m in REGISTRY.items():
        assert m.name == name and m.unit and m.total_unit
        assert m.total in totals, name
        if m.composite:
            assert all(p in REGISTRY for p in m.parts), name
            assert set(m.keys) == {k for p in m.parts for k in REGISTRY[p].keys}, name
        elif m.budget:
            assert m.accel_free is not None or set(m.keys) <= keys, name
    assert "throughput" not in metrics.COSTS  # a figure of merit, not a budget
    with pytest.raises(SearchError, match="unknown metric 'throughput'"):
        parse_target("throughput=0.5x")
    assert metrics.cost_names(hardware=True, universal=True) == ["latency", "energy", "edp", "dram"]
