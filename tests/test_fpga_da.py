"""The distributed-arithmetic strategy in the FPGA model and plan (fast; no da4ml needed)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.allocation import Allocation
from hwsim.config import parse_config
from hwsim.errors import ConfigError
from hwsim.fpga_plan import FpgaPlan, make_plan
from hwsim.models.fpga_dataflow import DA, da_lut, stage_costs
from hwsim.simulate import simulate
from hwsim.workload import LayerArrays, LayerSpec, Workload


def cfg_with(raw: dict, **reuse):
    r = copy.deepcopy(raw)
    r["reuse"].update(reuse)
    return parse_config(r, source="test.yaml")


@pytest.fixture(scope="module")
def net() -> Workload:
    return Workload(
        "net",
        [
            LayerSpec("c0", "conv", 3, 8, kernel=3, in_hw=8),
            LayerSpec("dw", "conv", 8, 8, kernel=3, in_hw=6, groups=8),
            LayerSpec("fc", "linear", 8 * 4 * 4, 10),
        ],
    )


@settings(max_examples=80, deadline=None)
@given(
    n_in=st.integers(1, 4096),
    n_out=st.integers(1, 512),
    w=st.integers(1, 16),
    a=st.integers(1, 16),
    which=st.sampled_from(["n_in", "n_out", "w", "a"]),
)
def test_da_estimate_grows_with_every_argument(fpga_raw, n_in, n_out, w, a, which):
    c = parse_config(copy.deepcopy(fpga_raw), source="x").model.params.distributed_arithmetic
    args = {"n_in": n_in, "n_out": n_out, "w": w, "a": a}
    base = float(da_lut(c, **args))
    args[which] += 1
    assert base > 0 and float(da_lut(c, **args)) > base


def test_da_stage_has_no_dsp_and_the_estimate_as_lut(fpga_raw):
    r = copy.deepcopy(fpga_raw)
    r["basis"] = "synthesis"
    p = parse_config(r, source="x").model.params
    L = LayerArrays.from_layers([LayerSpec("fc", "linear", 64, 32, weight_density=0.5)])
    w, a = np.float64(8), np.float64(8)
    c = stage_costs(p, L, w, a, np.float64(4), np.bool_(True), "io_parallel", da=np.bool_(True))
    assert c["dsp"][0] == 0 and c["bram_18k"][0] == 0
    assert c["ii_cycles"][0] == 1  # RF 1 whatever was asked
    # da4ml's cost is LUTs as synthesised: no HLS-estimate factor, zeros fold away
    assert c["lut"][0] == pytest.approx(float(da_lut(p.distributed_arithmetic, 32, 32, 8, 8)))
    lat = stage_costs(p, L, w, a, np.float64(1), np.bool_(False), "io_parallel")
    assert lat["dsp"][0] > 0  # the Latency design of the same layer uses DSPs


def test_plan_offers_da_where_hls4ml_supports_it(fpga_raw, net):
    alloc = Allocation.uniform(net, 4, 4)
    plan = make_plan(net, alloc, cfg_with(fpga_raw, policy="fixed", strategy=DA))
    got = {lp.name: (lp.rf, lp.strategy) for lp in plan.layers}
    # depthwise convs have no DA kernel in hls4ml 1.3.0: Latency
    assert got == {"c0": (1, DA), "dw": (1, "Latency"), "fc": (1, DA)}
    assert all(lp.dsp == 0 for lp in plan.layers)
    # the plan round-trips and simulating its config reproduces it
    again = FpgaPlan.from_dict(plan.to_dict())
    assert [lp.strategy for lp in again.layers] == [lp.strategy for lp in plan.layers]
    cfg = cfg_with(fpga_raw, policy="fixed", strategy=DA)
    rep = simulate(net, alloc, plan.as_config(cfg))
    assert rep.totals["lut"] == pytest.approx(plan.totals()["lut"])
    assert rep.totals["ii_cycles"] == plan.totals()["ii_cycles"]


def test_auto_takes_da_when_cheaper_and_not_otherwise(fpga_raw, net):
    alloc4 = Allocation.uniform(net, 4, 4)
    # 4-bit constants: da4ml's adder graph is far below the Latency design's LUTs
    auto = make_plan(net, alloc4, cfg_with(fpga_raw, policy="fixed", strategy="auto"))
    lat = make_plan(net, alloc4, cfg_with(fpga_raw, policy="fixed", strategy="Latency"))
    assert auto.layer("fc").strategy == DA and auto.layer("c0").strategy == DA
    assert auto.totals()["lut"] < lat.totals()["lut"]
    # 16-bit products on a part with DSPs to spare: the Latency design (DSPs) is cheaper
    r = copy.deepcopy(fpga_raw)
    r["part"]["dsp"] = 100000
    r["reuse"].update(policy="fixed", strategy="auto")
    big = make_plan(net, Allocation.uniform(net, 16, 16), parse_config(r, source="x"))
    assert big.layer("fc").strategy == "Latency" and big.layer("fc").dsp > 0
    # under a loose II target, a reused Resource design beats RF 1 DA
    loose = make_plan(net, alloc4, cfg_with(fpga_raw, policy="target_ii", strategy="auto"), 5000)
    assert loose.layer("fc").strategy == "Resource" and loose.layer("fc").rf > 1
    # an override wins over auto
    pinned = make_plan(
        net,
        alloc4,
        cfg_with(fpga_raw, policy="fixed", strategy="auto", overrides={"fc": {"rf": 1}}),
    )
    assert pinned.layer("fc").strategy == "Latency"


def test_da_config_errors(fpga_raw):
    r = copy.deepcopy(fpga_raw)
    r["reuse"]["overrides"] = {"fc": {"rf": 4, "strategy": DA}}
    with pytest.raises(ConfigError, match="needs rf 1"):
        parse_config(r, source="x.yaml")
    r = copy.deepcopy(fpga_raw)
    del r["distributed_arithmetic"]
    r["reuse"]["strategy"] = "auto"
    with pytest.raises(ConfigError, match="distributed_arithmetic"):
        parse_config(r, source="x.yaml")
