"""Property tests (hypothesis) for every accelerator config shipped in ``accel_configs/``.

For random valid layers (conv incl. grouped and depthwise, linear; strides, padding, batch) and
bit pairs 1..8: metrics are finite and non-negative, cycles = compute + stall, the energy parts
sum to the total, utilization is in [0, 1], ``cost_tables`` equals ``simulate`` layer by layer
exactly, and on bit-serial engines cycles never fall when either width rises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim import Allocation, LayerSpec, Workload, cost_tables, load_config, simulate
from hwsim.tables import runs_in_modes

CONFIG_DIR = Path(__file__).resolve().parents[1] / "accel_configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
BITS = list(range(1, 9))
ENERGY_PARTS = ("energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_static_pj")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv_layers(draw: st.DrawFn, name: str) -> LayerSpec:
    """A conv layer: plain, grouped or depthwise, with a kernel that fits its padded input."""
    mode = draw(st.sampled_from(["plain", "grouped", "depthwise"]))
    if mode == "depthwise":
        groups = draw(st.integers(1, 64))
        cin, cout = groups, groups * draw(st.integers(1, 2))
    elif mode == "grouped":
        groups = draw(st.integers(2, 8))
        cin, cout = groups * draw(st.integers(1, 16)), groups * draw(st.integers(1, 16))
    else:
        groups = 1
        cin, cout = draw(st.integers(1, 256)), draw(st.integers(1, 256))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), 40))
    w = draw(st.integers(max(1, kw - 2 * pw), 40))
    return LayerSpec(
        name,
        "conv",
        cin,
        cout,
        kernel=(kh, kw),
        stride=(sh, sw),
        padding=(ph, pw),
        groups=groups,
        in_hw=(h, w),
        batch=draw(st.integers(1, 8)),
    )


@st.composite
def linear_layers(draw: st.DrawFn, name: str) -> LayerSpec:
    return LayerSpec(
        name,
        "linear",
        draw(st.integers(1, 4096)),
        draw(st.integers(1, 4096)),
        batch=draw(st.integers(1, 64)),
    )


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    n = draw(st.integers(1, 3))
    layers = [draw(st.one_of(conv_layers(f"l{i}"), linear_layers(f"l{i}"))) for i in range(n)]
    return Workload("random", layers)


bit_pairs = st.tuples(st.integers(1, 8), st.integers(1, 8))


@pytest.fixture(scope="module", params=CONFIGS, ids=[p.stem for p in CONFIGS])
def config(request: pytest.FixtureRequest):
    return load_config(request.param)


def test_every_shipped_config_is_covered() -> None:
    assert len(CONFIGS) >= 5, CONFIGS  # systolic + the four bit-serial configs at least


@SETTINGS
@given(wl=workloads())
def test_tables_are_sane(config, wl: Workload) -> None:
    t = cost_tables(wl, config, BITS, BITS)
    for key, arr in t.items():
        assert arr.shape == (len(wl), len(BITS), len(BITS)), key
        assert np.all(np.isfinite(arr)), key
        assert np.all(arr >= 0), key
    np.testing.assert_array_equal(t["cycles"], t["compute_cycles"] + t["stall_cycles"])
    parts = sum(t[p] for p in ENERGY_PARTS)
    np.testing.assert_allclose(t["energy_pj"], parts, rtol=1e-9, atol=1e-9)
    assert np.all(t["utilization"] <= 1.0 + 1e-12)
    if config.type == "bitserial":
        # cycles never fall when either bit-width rises
        assert np.all(np.diff(t["cycles"], axis=1) >= 0)
        assert np.all(np.diff(t["cycles"], axis=2) >= 0)


@SETTINGS
@given(wl=workloads(), data=st.data())
def test_tables_equal_simulate(config, wl: Workload, data: st.DataObject) -> None:
    bits = {lyr.name: data.draw(bit_pairs) for lyr in wl.layers}
    rep = simulate(wl, Allocation(bits), config)
    t = cost_tables(wl, config, BITS, BITS)
    for i, lyr in enumerate(wl.layers):
        w, a = bits[lyr.name]
        row = rep.rows[i]
        assert row["name"] == lyr.name
        for key, arr in t.items():
            assert row[key] == arr[i, w - 1, a - 1], (lyr.name, key, row[key], arr[i, w - 1, a - 1])


# ---- the cost the search uses is monotone in each operand width ----------------------------

WIDE_BITS = list(range(1, 17))
# not costs, or parts of a total taken with it from one mode (a cheaper mode may stall more while
# computing less): these need not be monotone themselves, their totals are
NOT_MONOTONE = (
    "utilization",
    "reuse_factor",
    "resource_strategy",
    "compute_cycles",
    "stall_cycles",
    *ENERGY_PARTS,
)


@SETTINGS
@given(wl=workloads())
def test_monotone_tables_never_fall_when_a_width_rises(config, wl: Workload) -> None:
    """Zero violations over widths 1..16 in every cost, including a width the config does not
    run natively (costed at the model's padded value, or for a width beyond its widest native
    mode at least that mode's cost, which is how it would run).
    FPGA dataflow designs are generated per width and keep their raw table (see
    ``hwsim.tables.runs_in_modes``)."""
    raw = cost_tables(wl, config, WIDE_BITS, WIDE_BITS)
    mono = cost_tables(wl, config, WIDE_BITS, WIDE_BITS, monotone=True)
    assert set(mono) == set(raw)
    if not runs_in_modes(config):
        # an FPGA design is generated for its exact widths: no wider mode, the raw table stays
        for key, t in mono.items():
            np.testing.assert_array_equal(t, raw[key])
        return
    native = config.model.widest_mode() or len(WIDE_BITS)
    for key, t in mono.items():
        assert t.shape == raw[key].shape
        if key in NOT_MONOTONE:
            continue
        assert np.all(np.diff(t, axis=1) >= 0), key
        assert np.all(np.diff(t, axis=2) >= 0), key
        # never above the raw value, except a width beyond the widest native mode, which costs
        # at least that mode (several passes of it, see hwsim.tables.floor_multipass)
        assert np.all((t <= raw[key])[:, :native, :native]), key
    # the latency and energy parts come from one mode each, so they still add up
    np.testing.assert_array_equal(mono["cycles"], mono["compute_cycles"] + mono["stall_cycles"])
    parts = sum(mono[p] for p in ENERGY_PARTS)
    np.testing.assert_allclose(mono["energy_pj"], parts, rtol=1e-9, atol=1e-9)
    edp = mono["energy_pj"] * mono["latency_s"]
    assert np.all(np.diff(edp, axis=1) >= 0) and np.all(np.diff(edp, axis=2) >= 0)


@SETTINGS
@given(wl=workloads(), data=st.data())
def test_search_cost_is_monotone_for_any_candidates(config, wl: Workload, data: st.DataObject):
    """The search's tables (``search.cost.metric_tables``) at any candidate subset of 1..16 equal
    the monotone table over all widths 1..16 (the envelope over every mode, not over the
    candidates only): a pair's cost does not depend on which other candidates are asked for."""
    from search.cost import METRICS, metric_tables

    ws = sorted(data.draw(st.sets(st.integers(1, 16), min_size=1, max_size=4)))
    as_ = sorted(data.draw(st.sets(st.integers(1, 16), min_size=1, max_size=4)))
    full = cost_tables(wl, config, WIDE_BITS, WIDE_BITS, monotone=True)
    iw, ja = np.array(ws) - 1, np.array(as_) - 1
    for metric, spec in METRICS.items():
        if spec.accel_free is not None or any(k not in full for k in spec.keys):
            continue
        tabs = metric_tables(wl, config, metric, ws, as_)
        for k, t in tabs.items():
            np.testing.assert_array_equal(t, full[k][:, iw][:, :, ja])
            if runs_in_modes(config):
                assert np.all(np.diff(t, axis=1) >= 0) and np.all(np.diff(t, axis=2) >= 0), k
