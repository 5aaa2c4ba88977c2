"""The monotone view of the cost tables (``cost_tables(..., monotone=True)``) and the search's use
of it; the property tests over every shipped config are in ``tests/test_properties.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwsim import LayerSpec, Workload, cost_tables, load_config
from hwsim.tables import MODE_MAX_BITS, monotone_envelope
from search.cost import metric_tables

CONFIGS = Path(__file__).resolve().parents[1] / "accel_configs"


def _fc_workload() -> Workload:
    return Workload(
        "fc",
        [
            LayerSpec("conv0", "conv", 3, 8, kernel=(3, 3), in_hw=(8, 8)),
            LayerSpec("fc", "linear", 512, 1000, batch=1),
        ],
    )


def test_envelope_takes_a_cheaper_mode_outside_the_candidates() -> None:
    """On Bit Fusion the raw fc layer at 2-bit weights / 1-bit activations costs more cycles than
    some wider mode; the monotone table takes that mode even when it is not a candidate."""
    wl, cfg = _fc_workload(), load_config(CONFIGS / "bitfusion_eyeriss.yaml")
    bits = list(range(1, MODE_MAX_BITS + 1))
    raw_all = cost_tables(wl, cfg, bits, bits)["cycles"][1]
    raw = cost_tables(wl, cfg, [1, 2], [1, 2, 8])["cycles"][1]
    mono = cost_tables(wl, cfg, [1, 2], [1, 2, 8], monotone=True)["cycles"][1]
    assert mono[1, 0] < raw[1, 0]
    # the value is the cheapest raw value at or above (2, 1), and it is not a candidate pair
    # (over the native modes: Bit Fusion's widest is 8 bits)
    assert mono[1, 0] == raw_all[1:8, 0:8].min()
    assert mono[1, 0] not in raw
    # pairs that are already the cheapest at or above themselves keep their raw value
    for i, w in enumerate([1, 2]):
        for j, a in enumerate([1, 2, 8]):
            if raw_all[w - 1, a - 1] == raw_all[w - 1 :, a - 1 :].min():
                assert mono[i, j] == raw[i, j]


def test_multipass_widths_are_not_modes() -> None:
    """On Bit Fusion a 9-bit weight "mode" (two passes of 8 bits) of ResNet-50's layer4.1.conv1
    costs 7.5x less energy than any native mode at 8/6 on bitfusion_stripes_cmp -- its doubled
    compute time makes the fewest-cycles rule pick a tiling with less traffic. It is not a mode:
    the pair keeps the native envelope, whether or not wider candidates are asked for, and a
    multi-pass width costs at least the widest native mode it needs."""
    cfg = load_config(CONFIGS / "bitfusion_stripes_cmp.yaml")
    assert cfg.model.widest_mode() == 8
    r50 = Workload.load(CONFIGS.parent / "tests" / "data" / "resnet50_workload.yaml")
    wl = Workload("l", [x for x in r50.layers if x.name == "layer4.1.conv1"])
    bits = list(range(1, 17))
    raw = cost_tables(wl, cfg, bits, bits)["energy_pj"][0]
    assert raw[8:, 5:].min() < raw[7:8, 5:8].min() / 5  # the 9-16-bit artefact is there
    mono8 = cost_tables(wl, cfg, [8], [6], monotone=True)["energy_pj"][0, 0, 0]
    mono16 = cost_tables(wl, cfg, bits, bits, monotone=True)["energy_pj"][0]
    assert mono8 == raw[7:8, 5:8].min() == mono16[7, 5]
    # widths beyond 8 bits never undercut the native mode they need
    assert np.all(mono16[8:, :] >= mono16[7:8, :])
    assert np.all(mono16[:, 8:] >= mono16[:, 7:8])


def test_search_tables_are_the_monotone_ones() -> None:
    wl, cfg = _fc_workload(), load_config(CONFIGS / "bitfusion_eyeriss.yaml")
    got = metric_tables(wl, cfg, "latency", [1, 2], [1, 2, 8])["latency_s"]
    want = cost_tables(wl, cfg, [1, 2], [1, 2, 8], monotone=True)["latency_s"]
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, cost_tables(wl, cfg, [1, 2], [1, 2, 8])["latency_s"])


def test_groups_take_every_part_from_one_mode() -> None:
    """cycles = compute + stall and the energy parts come from the mode chosen by their total;
    standalone costs are their own suffix minimum; design descriptors stay raw."""
    rng = np.random.default_rng(0)
    shape = (3, 5, 4)
    compute, stall = rng.integers(1, 50, shape).astype(float), rng.integers(0, 50, shape) * 1.0
    t = {
        "compute_cycles": compute,
        "stall_cycles": stall,
        "cycles": compute + stall,
        "dram_bytes": rng.random(shape),
        "reuse_factor": rng.random(shape),
    }
    env = monotone_envelope(t)
    np.testing.assert_array_equal(env["cycles"], env["compute_cycles"] + env["stall_cycles"])
    np.testing.assert_array_equal(env["reuse_factor"], t["reuse_factor"])
    for key in ("cycles", "dram_bytes"):
        for i in range(shape[1]):
            for j in range(shape[2]):
                np.testing.assert_array_equal(
                    env[key][:, i, j], t[key][:, i:, j:].reshape(shape[0], -1).min(axis=1)
                )


def test_simulate_monotone_reports_the_search_view() -> None:
    from hwsim import Allocation, simulate

    wl, cfg = _fc_workload(), load_config(CONFIGS / "bitfusion_eyeriss.yaml")
    alloc = Allocation({"conv0": (8, 8), "fc": (2, 1)})
    raw, mono = simulate(wl, alloc, cfg), simulate(wl, alloc, cfg, monotone=True)
    t = cost_tables(wl, cfg, [2, 8], [1, 8], monotone=True)
    assert mono.rows[1]["cycles"] == t["cycles"][1, 0, 0] < raw.rows[1]["cycles"]
    assert mono.rows[0]["cycles"] == t["cycles"][0, 1, 1]
    assert mono.totals["cycles"] < raw.totals["cycles"]
    assert any("monotone" in n for n in mono.notes)
