"""The FPGA plan: one design computed by hwsim, equal to what the search's cost tables cost and to
what ``simulate`` reports, stored with the allocation (old files still load), and overridable
only explicitly (then the difference is stated)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hwsim import Allocation, cost_tables, load_config, simulate
from hwsim.errors import AllocationError
from hwsim.fpga_plan import FpgaPlan, PlanError, diff_totals, make_plan, with_target

ROOT = Path(__file__).resolve().parents[1]
FPGA = ROOT / "accel_configs" / "fpga_xc7z020.yaml"


def _workload(name: str):
    from search.trace import trace_workload
    from search.zoo import MODELS, build_model

    return trace_workload(build_model(name), MODELS[name].input_shape, batch=1, name=name)


def _mixed(wl) -> Allocation:
    rng = np.random.default_rng(0)
    names = wl.names
    bits = {n: (int(rng.choice([2, 3, 4])), int(rng.choice([2, 3, 4]))) for n in names}
    bits[names[0]] = bits[names[-1]] = (8, 8)
    return Allocation(bits, [names[0], names[-1]])


@pytest.fixture(scope="module", params=["digits_cnn", "resnet20_fm"])
def case(request):
    wl = _workload(request.param)
    return wl, _mixed(wl), load_config(FPGA)


def test_plan_is_what_simulate_reports(case):
    wl, alloc, cfg = case
    plan = make_plan(wl, alloc, cfg)
    rep = simulate(wl, alloc, cfg)
    rows = {r["name"]: r for r in rep.rows}
    for lp in plan.layers:
        r = rows[lp.name]
        assert (lp.rf, lp.strategy == "Resource") == (
            r["reuse_factor"],
            bool(r["resource_strategy"]),
        )
        for k in ("ii_cycles", "lut", "dsp", "bram_18k"):
            assert getattr(lp, k) == r[k], (lp.name, k)
        assert (lp.w_bits, lp.a_bits) == alloc.bits[lp.name]
    t = plan.totals()
    for k in ("lut", "dsp", "bram_18k", "ii_cycles"):
        assert t[k] == rep.totals[k]
    assert t["latency_cycles"] == rep.totals["cycles"]  # batch 1: one image on the critical path
    # applying the plan (policy fixed, one override per layer) reproduces it exactly
    rep2 = simulate(wl, alloc, plan.as_config(cfg))
    assert rep2.totals == rep.totals
    assert plan.io_type == cfg.model.params.io_type
    assert plan.target_ii_cycles == cfg.model.params.reuse.target_ii_cycles


def test_plan_is_what_the_search_costs(case):
    """The search's cost tables at the allocation's widths give the plan's per-layer numbers."""
    wl, alloc, cfg = case
    plan = make_plan(wl, alloc, cfg)
    bits = sorted({b for pair in alloc.bits.values() for b in pair})
    tab = cost_tables(wl, cfg, bits, bits)
    for i, lp in enumerate(plan.layers):
        wi, ai = bits.index(lp.w_bits), bits.index(lp.a_bits)
        assert tab["reuse_factor"][i, wi, ai] == lp.rf
        for k in ("lut", "dsp", "bram_18k", "ii_cycles"):
            assert tab[k][i, wi, ai] == getattr(lp, k)


def test_float_layers_are_planned_at_their_allocation_width(case):
    wl, alloc, cfg = case
    plan = make_plan(wl, alloc, cfg)
    first = plan.layers[0]
    assert first.float_layer and (first.w_bits, first.a_bits) == (8, 8)
    assert not plan.layers[1].float_layer


def test_stream_depths_are_hls4ml_defaults():
    wl = _workload("digits_cnn")
    plan = make_plan(wl, _mixed(wl), load_config(FPGA))
    depths = {lp.name: lp.stream_depth for lp in plan.layers}
    for lyr in wl.layers:
        want = 1 if lyr.kind == "linear" else lyr.out_hw[0] * lyr.out_hw[1]
        assert depths[lyr.name] == want


def test_plan_round_trips_with_the_allocation(tmp_path):
    wl = _workload("digits_cnn")
    alloc = _mixed(wl)
    plan = make_plan(wl, alloc, load_config(FPGA))
    stored = alloc.with_plan(plan)
    for ext in ("yaml", "json"):
        p = tmp_path / f"a.{ext}"
        stored.save(p)
        back = Allocation.load(p)
        assert back.fpga_plans == {plan.accel: plan}
        assert back.bits == alloc.bits
    # a version-1 file (no plans) still loads
    p = tmp_path / "v1.yaml"
    raw = alloc.to_dict()
    raw["version"] = 1
    p.write_text(yaml.safe_dump(raw))
    assert Allocation.load(p).fpga_plans == {}


def test_bad_stored_plans_name_the_key(tmp_path):
    wl = _workload("digits_cnn")
    alloc = _mixed(wl)
    raw = alloc.with_plan(make_plan(wl, alloc, load_config(FPGA))).to_dict()
    name = wl.names[1]
    raw["fpga_plans"]["fpga_xc7z020"]["layers"][name]["rf"] = 0
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(AllocationError, match=rf"fpga_plans.fpga_xc7z020.*layers.{name}.rf"):
        Allocation.load(p)
    raw["fpga_plans"]["fpga_xc7z020"]["layers"][name]["rf"] = 1
    raw["layers"][name] = {"w": 7, "a": 7}
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(AllocationError, match=rf"layer '{name}' planned at .* allocation has 7/7"):
        Allocation.load(p)


def test_explicit_override_is_a_different_design_and_says_how():
    wl = _workload("digits_cnn")
    alloc = _mixed(wl)
    cfg = load_config(FPGA)
    plan = make_plan(wl, alloc, cfg)
    assert diff_totals(plan, plan) == []
    fast = make_plan(wl, alloc, cfg, target_ii_cycles=1000, io_type="io_parallel")
    assert fast.io_type == "io_parallel" and fast.target_ii_cycles == 1000
    d = diff_totals(plan, fast)
    assert "io type io_stream -> io_parallel" in d
    assert any(s.startswith("LUT ") for s in d)
    assert fast.totals()["lut"] > plan.totals()["lut"]
    with pytest.raises(PlanError, match="target_ii_cycles"):
        with_target(cfg, target_ii_cycles=-1)
    with pytest.raises(PlanError, match="io_type"):
        with_target(cfg, io_type="io_fast")


def test_plan_needs_an_fpga_config():
    wl = _workload("digits_cnn")
    with pytest.raises(PlanError, match="fpga_dataflow"):
        make_plan(wl, _mixed(wl), load_config(ROOT / "accel_configs" / "stripes.yaml"))


def test_from_dict_rejects_garbage():
    with pytest.raises(PlanError, match="version"):
        FpgaPlan.from_dict({"version": 9})
    with pytest.raises(PlanError, match="expected a mapping"):
        FpgaPlan.from_dict([1, 2])
