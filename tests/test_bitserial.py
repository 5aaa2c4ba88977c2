"""Bit-serial models (``type: bitserial``): hand-checked cycles for Stripes, Loom, UNPU and BISMO,
their published scaling laws (hwsim-models.md §4-§6) and HAQ's BISMO-style latency LUT (§7)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hwsim import Allocation, LayerSpec, Workload, cost_tables, load_config, parse_config, simulate
from hwsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "accel_configs"
HAQ_DIR = ROOT / "bench" / "data" / "haq"
HAQ_LUT = HAQ_DIR / "haq_qmobilenetv2_cloud_batch16_latency_lut.csv"
BITSERIAL = ("stripes", "loom", "unpu", "bismo_pynq_z1", "bismo_vu9p_cloud")
BITS = list(range(1, 17))

CONV = LayerSpec("conv", "conv", 64, 128, kernel=3, padding=1, in_hw=(56, 56))
FC = LayerSpec("fc", "linear", 1024, 1000)


def _raw(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())


def _cfg(name: str):
    return load_config(CONFIGS / f"{name}.yaml")


def _tables(name: str, layers: list[LayerSpec], cfg=None) -> dict[str, np.ndarray]:
    wl = Workload("t", layers)
    return cost_tables(wl, cfg if cfg is not None else _cfg(name), BITS, BITS)


def _at(t: dict[str, np.ndarray], key: str, layer: int, w: int, a: int) -> float:
    return float(t[key][layer, w - 1, a - 1])


# ---------------------------------------------------------------------------------------------
# hand-checked compute cycles


def test_stripes_conv_hand_checked() -> None:
    t = _tables("stripes", [CONV])
    # ceil(56*56/16 windows)=196 * ceil(128/(16*16) filters)=1 * 3*3*ceil(64/16 terms)=36 * Pa
    for a in (1, 5, 8, 16):
        assert _at(t, "compute_cycles", 0, 8, a) == 196 * 36 * a
    # weights are 16-bit parallel: no gain below 16, a second pass above
    assert _at(t, "compute_cycles", 0, 3, 5) == _at(t, "compute_cycles", 0, 16, 5)
    cfg = _cfg("stripes")
    wl = Workload("t", [CONV])
    t17 = cost_tables(wl, cfg, [16, 17], [5])
    assert t17["compute_cycles"][0, 1, 0] == 2 * t17["compute_cycles"][0, 0, 0]
    assert cfg.model.supports(16, 16) and not cfg.model.supports(17, 8)


def test_stripes_is_dadn_times_pa_over_16_on_conv() -> None:
    t = _tables("stripes", [CONV])
    dadn = 56 * 56 * 1 * 3 * 3 * 4  # DaDN: one window at a time, 256 filters x 16 terms per cycle
    for a in BITS:
        assert _at(t, "compute_cycles", 0, 8, a) == pytest.approx(dadn * a / 16)


def test_stripes_fc_runs_at_baseline_speed() -> None:
    t = _tables("stripes", [FC])
    # ceil(1000/256)=4 filter groups * ceil(1024/16)=64 bricks, whatever the precision up to 16
    c = t["compute_cycles"][0]
    assert np.all(c == 4 * 64)
    # the same layer as a 1x1 conv would get window parallelism, not the FC path
    conv_like = LayerSpec("c", "conv", 1024, 1000, kernel=1, in_hw=(4, 4))
    t2 = _tables("stripes", [conv_like])
    assert _at(t2, "compute_cycles", 0, 8, 4) == 1 * 4 * 64 * 4  # 16 pixels in one window group


def test_loom_conv_hand_checked_and_wa_over_256() -> None:
    t = _tables("loom", [CONV])
    # ceil(3136/16)=196 * ceil(128/128)=1 * 36 * w * a
    assert _at(t, "compute_cycles", 0, 3, 5) == 196 * 36 * 15
    base = CONV.macs / 128  # bit-parallel engine of 128 16b x 16b MACs/cycle (§4)
    for w in range(1, 9):
        for a in range(1, 9):
            assert _at(t, "compute_cycles", 0, w, a) == pytest.approx(base * w * a / 256)
            # memory never dominates this layer: total within 2 % of compute
            assert _at(t, "cycles", 0, w, a) <= 1.02 * base * w * a / 256 + 1


def test_loom_fc_scales_with_pw_over_16() -> None:
    t = _tables("loom", [FC])
    base = FC.macs / 128
    for w in range(1, 17):
        for a in (1, 8, 16):
            # 8 filter groups (ceil(1000/128)) * 64 bricks * w; the 16 window columns take the
            # activation bits in parallel
            assert _at(t, "compute_cycles", 0, w, a) == 8 * 64 * w
            assert _at(t, "compute_cycles", 0, w, a) == pytest.approx(base * w / 16, rel=0.03)


def test_loom_two_bit_variant() -> None:
    raw = _raw("loom")
    raw["bits_per_cycle"] = {"w": 1, "a": 2}
    t = _tables("loom", [CONV], parse_config(raw, "loom2.yaml"))
    for a in range(1, 9):
        assert _at(t, "compute_cycles", 0, 4, a) == 196 * 36 * 4 * -(-a // 2)
    raw["bits_per_cycle"] = 4  # scalar shorthand: both operands
    t4 = _tables("loom", [CONV], parse_config(raw, "loom4.yaml"))
    assert _at(t4, "compute_cycles", 0, 5, 5) == 196 * 36 * 2 * 2


def test_unpu_weight_serial_hand_checked() -> None:
    t = _tables("unpu", [CONV])
    # ceil(3136/9 windows)=349 * ceil(128/96 filters)=2 * 36 * Pw; activations parallel up to 16
    for w in (1, 4, 16):
        for a in (1, 8, 16):
            assert _at(t, "compute_cycles", 0, w, a) == 349 * 2 * 36 * w
    # peak: 13,824 lanes / 16 steps = 864 16b MACs/cycle = 345.6 GOPS at 200 MHz (§6)
    cfg = _cfg("unpu")
    assert cfg.model.peak_lanes / 16 * 2 * cfg.freq_hz == pytest.approx(345.6e9)


def test_bismo_hand_checked() -> None:
    t = _tables("bismo_pynq_z1", [CONV])
    fill = _cfg("bismo_pynq_z1").model.params.fill_cycles
    # ceil(128/8)=16 * ceil(3136/8)=392 * ceil(576/256)=3 binary products per bit pair, + fill
    for w, a in ((1, 1), (2, 3), (8, 8)):
        assert _at(t, "compute_cycles", 0, w, a) == 16 * 392 * 3 * w * a + fill


def test_bismo_binary_throughput_is_peak_on_a_large_layer() -> None:
    cfg = _cfg("bismo_pynq_z1")
    d = cfg.model.params.dpa
    peak = 2 * d.dm * d.dn * d.dk * cfg.freq_hz
    assert peak == pytest.approx(6.5536e12)  # the published 6.5 binary TOPS (§5)
    big = LayerSpec("big", "conv", 512, 512, kernel=3, padding=1, in_hw=(28, 28))
    t = cost_tables(Workload("t", [big]), cfg, [1], [1])
    ops = 2 * big.macs
    fill = cfg.model.params.fill_cycles
    compute = float(t["compute_cycles"][0, 0, 0])
    # execute stage alone: exactly the peak rate once the pipeline fill is taken out
    assert ops / ((compute - fill) / cfg.freq_hz) == pytest.approx(peak)
    # end to end, with the first tile's fetch and the fill: within 10 % of peak, never above
    achieved = ops / float(t["latency_s"][0, 0, 0])
    assert 0.9 * peak <= achieved <= peak


# ---------------------------------------------------------------------------------------------
# behaviour shared by every bit-serial config


@pytest.mark.parametrize("name", BITSERIAL)
def test_cycles_never_fall_when_bits_rise(name: str) -> None:
    layers = [
        CONV,
        FC,
        LayerSpec(
            "dw", "conv", 96, 96, kernel=3, stride=2, padding=1, groups=96, in_hw=(28, 28), batch=4
        ),
        LayerSpec("fcb", "linear", 1280, 100, batch=16),
    ]
    t = _tables(name, layers)
    for key in ("cycles", "compute_cycles"):
        assert np.all(np.diff(t[key], axis=1) >= 0), key
        assert np.all(np.diff(t[key], axis=2) >= 0), key


@pytest.mark.parametrize("name", BITSERIAL)
def test_energy_is_per_cycle(name: str) -> None:
    cfg = _cfg(name)
    t = _tables(name, [CONV, FC], cfg)
    per_cycle = cfg.model.params.energy.mac.array_pj_per_cycle
    np.testing.assert_allclose(t["energy_mac_pj"], t["compute_cycles"] * per_cycle)
    parts = t["energy_mac_pj"] + t["energy_sram_pj"] + t["energy_dram_pj"] + t["energy_static_pj"]
    np.testing.assert_allclose(t["energy_pj"], parts)
    # fewer serial cycles, less arithmetic energy
    assert t["energy_mac_pj"][0, 1, 1] < t["energy_mac_pj"][0, 7, 7]


@pytest.mark.parametrize("name", BITSERIAL)
def test_simulate_matches_tables(name: str) -> None:
    cfg = _cfg(name)
    wl = Workload("t", [CONV, FC])
    alloc = Allocation({"conv": (3, 5), "fc": (7, 2)})
    rep = simulate(wl, alloc, cfg)
    t = cost_tables(wl, cfg, BITS, BITS)
    for i, (w, a) in enumerate(((3, 5), (7, 2))):
        for key, arr in t.items():
            assert rep.rows[i][key] == arr[i, w - 1, a - 1], key


def test_bitserial_config_errors_are_one_line(tmp_path: Path) -> None:
    cases = [
        (lambda r: r.update(dpa={"dm": 8, "dn": 8, "dk": 256}), "exactly one array geometry"),
        (lambda r: r.update(fc_mode="serial_w"), "key 'fc_mode'"),
        (lambda r: r.update(serial="ab"), "key 'serial'"),
        (lambda r: r["lanes"].update(windows=0), "key 'lanes.windows'"),
        (lambda r: r.update(bits_per_cycle=0), "key 'bits_per_cycle.w'"),
    ]
    for i, (mutate, expected) in enumerate(cases):
        raw = _raw("stripes")
        mutate(raw)
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(ConfigError) as info:
            load_config(path)
        msg = str(info.value)
        assert msg.startswith(f"{path}: ") and "\n" not in msg and expected in msg, msg
    raw = _raw("bismo_pynq_z1")
    raw["dpa"]["feed_bits_per_cycle"] = 0
    path = tmp_path / "badfeed.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="key 'dpa.feed_bits_per_cycle'"):
        load_config(path)
    raw = _raw("bismo_pynq_z1")
    raw["fc_mode"] = "parallel"
    with pytest.raises(ConfigError, match="fc_mode"):
        parse_config(raw, "bismo.yaml")


# ---------------------------------------------------------------------------------------------
# HAQ's published BISMO-style latency LUT (MobileNetV2, batch 16): 8/8 : 2/2 ratios


def _haq_lut() -> np.ndarray:
    lut = np.zeros((53, 8, 8))
    with HAQ_LUT.open() as fh:
        for row in csv.DictReader(fh):
            lut[int(row["quant_layer_index"]), int(row["w_bits"]) - 1, int(row["a_bits"]) - 1] = (
                float(row["latency"])
            )
    return lut


def test_bismo_scaling_matches_haq_lut() -> None:
    lut = _haq_lut()
    haq = lut[:, 7, 7] / lut[:, 1, 1]
    assert haq.min() == pytest.approx(4.0, abs=0.05) and haq.max() == pytest.approx(15.6, abs=0.05)
    # HAQ's last layer (the FC, weight-memory-bound) follows w only; its 3x3 depthwise layers
    # (activation-memory-bound) follow a only
    assert lut[52, 7, 7] / lut[52, 7, 1] == pytest.approx(1.0, abs=0.05)
    assert lut[1, 7, 7] / lut[1, 1, 7] == pytest.approx(1.0, abs=0.05)

    b = 16
    layers = [
        LayerSpec("expand", "conv", 320, 1280, kernel=1, in_hw=(7, 7), batch=b),  # compute-bound
        LayerSpec("conv3x3", "conv", 64, 64, kernel=3, padding=1, in_hw=(28, 28), batch=b),
        LayerSpec(
            "project", "conv", 144, 24, kernel=1, in_hw=(56, 56), batch=b
        ),  # activation-bound
        LayerSpec("fc", "linear", 1280, 100, batch=b),  # weight-bound
    ]
    t = cost_tables(Workload("mbv2_like", layers), _cfg("bismo_pynq_z1"), [2, 8], [2, 8])["cycles"]
    ratio = t[:, 1, 1] / t[:, 0, 0]
    # compute-bound layers follow w*a, up to HAQ's largest ratio (ideal 16)
    assert ratio[0] >= haq.max() * 0.95 and ratio[1] >= haq.max() * 0.95
    assert np.all(ratio <= 16.0 + 1e-9)
    # memory-bound layers scale ~linearly in bits moved: near HAQ's smallest ratio, 4
    assert ratio[2] == pytest.approx(haq.min(), rel=0.4)
    assert ratio[3] == pytest.approx(haq.min(), rel=0.15)
    # ... and with the operand that dominates traffic, as in HAQ's LUT
    assert t[2, 1, 1] / t[2, 0, 1] < 1.5  # activation-bound: weights barely matter
    assert t[3, 1, 1] / t[3, 1, 0] < 1.25  # weight-bound: activations barely matter


# ---------------------------------------------------------------------------------------------
# HAQ's cloud BISMO table (bench/haq_bismo_reference.py): per-layer rank correlation and totals


def _haq_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "haq_bismo_reference", ROOT / "bench" / "haq_bismo_reference.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bismo_cloud_follows_haq_table() -> None:
    bench = _haq_bench()
    wl = Workload.load(bench.WORKLOAD)
    lut = bench.load_lut()
    assert len(wl) == lut.shape[0] == 53
    assert all(lyr.batch == 16 for lyr in wl.layers)
    res = bench.compare(wl, _cfg("bismo_vu9p_cloud"), lut)
    rho = res["rho"]
    assert np.median(rho) >= 0.9 and rho.min() >= 0.8, (np.median(rho), rho.min())
    hw, haq = next((hw, hq) for hi, lo, hw, hq in res["ratios"] if (hi, lo) == ((8, 8), (2, 2)))
    assert haq == pytest.approx(5.61, abs=0.01)
    assert 1 / 1.5 <= hw / haq <= 1.5, (hw, haq)
    # HAQ's a-only layers (all 17 depthwise, the first conv) come out a-only here too
    cyc = res["cycles"]
    a_only = [i for i in range(53) if wl.layers[i].is_depthwise] + [0]
    assert len(a_only) == 18
    for i in a_only:
        assert cyc[i, 7, :].max() / cyc[i, 0, :].min() < 8.1  # w barely matters ...
        assert cyc[i, 0, 7] / cyc[i, 0, 0] > 7.8  # ... a does
        assert cyc[i, 7, 0] / cyc[i, 0, 0] < 1.2
    # without the fetch-stage feed the same layers scale with w * a (the model before)
    nofeed = bench.compare(wl, bench.configs()["bismo_vu9p_cloud_nofeed"], lut)
    assert nofeed["rho"].min() < 0.8
    assert nofeed["cycles"][1, 7, 0] / nofeed["cycles"][1, 0, 0] > 7.5


def test_haq_bench_results_are_current() -> None:
    """The committed bench/results/haq_bismo tables are what the code gives now."""
    bench = _haq_bench()
    wl = Workload.load(bench.WORKLOAD)
    lut = bench.load_lut()
    results = {label: bench.compare(wl, cfg, lut) for label, cfg in bench.configs().items()}
    with (bench.RESULTS / "per_layer.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(wl)
    for label, r in results.items():
        got = np.array([float(row[f"rho_{label}"]) for row in rows])
        np.testing.assert_allclose(got, r["rho"], atol=1e-4, err_msg=label)
    with (bench.RESULTS / "summary.csv").open() as fh:
        summary = {(row["config"], row["statistic"]): row for row in csv.DictReader(fh)}
    for label, r in results.items():
        assert float(summary[(label, "rho_median")]["hwsim"]) == pytest.approx(
            float(np.median(r["rho"])), abs=1e-4
        )
        for hi, lo, hw, _ in r["ratios"]:
            key = (label, f"total_w{hi[0]}a{hi[1]}_over_w{lo[0]}a{lo[1]}")
            assert float(summary[key]["hwsim"]) == pytest.approx(hw, abs=1e-4), key


@pytest.mark.slow
def test_haq_workload_is_the_zoo_mobilenet_v2() -> None:
    bench = _haq_bench()
    assert bench.trace_workload().to_dict() == Workload.load(bench.WORKLOAD).to_dict()


# ---------------------------------------------------------------------------------------------
# BISMO's fetch stage: padded bit-planes fed one Dk-bit word per cycle


def test_bismo_depthwise_waits_on_the_activation_feed() -> None:
    cfg = _cfg("bismo_vu9p_cloud")
    dw = LayerSpec("dw", "conv", 32, 32, kernel=3, padding=1, groups=32, in_hw=(112, 112), batch=16)
    t = _tables("bismo_vu9p_cloud", [dw], cfg)
    n = 16 * 112 * 112  # columns: one 9-bit window per output pixel, padded to a 256-bit word
    for w in (1, 4, 8, 16):
        for a in (1, 3, 8):
            # per group: 16 weight rows (Dm, one used) x 1 word x w planes + n columns x a planes
            feed = 32 * (16 * w + n * a)
            execute = 32 * 1 * (n // 16) * 1 * w * a + 16
            assert _at(t, "compute_cycles", 0, w, a) == execute
            assert _at(t, "cycles", 0, w, a) == max(execute, feed)
    # one weight row of Dm: the execute stage only catches up with the feed at w = Dm = 16
    assert _at(t, "cycles", 0, 8, 5) / _at(t, "cycles", 0, 1, 5) < 1.001
    assert _at(t, "cycles", 0, 16, 5) / _at(t, "cycles", 0, 1, 5) == pytest.approx(1.0, abs=0.01)
    assert _at(t, "compute_cycles", 0, 16, 5) >= 0.99 * _at(t, "cycles", 0, 16, 5)


def test_bismo_feed_does_not_slow_a_layer_that_fills_the_array() -> None:
    cfg = _cfg("bismo_vu9p_cloud")
    big = LayerSpec("big", "conv", 512, 512, kernel=3, padding=1, in_hw=(14, 14), batch=16)
    t = _tables("bismo_vu9p_cloud", [big], cfg)
    for w, a in ((1, 1), (2, 3), (8, 8)):
        # 32 row blocks x 196 column blocks x 18 Dk blocks per bit pair: compute-bound
        assert _at(t, "compute_cycles", 0, w, a) == 32 * 196 * 18 * w * a + 16
        assert _at(t, "cycles", 0, w, a) <= 1.02 * _at(t, "compute_cycles", 0, w, a)


# ---------------------------------------------------------------------------------------------
# buffers: inputs a strided 1x1 conv skips, partial sums that overflow the output buffer


def test_strided_1x1_reads_only_the_pixels_it_uses() -> None:
    ds = LayerSpec("ds", "conv", 64, 128, kernel=1, stride=2, in_hw=(28, 28))
    full = LayerSpec("full", "conv", 64, 128, kernel=1, stride=1, in_hw=(14, 14))
    for name in BITSERIAL:
        t = _tables(name, [ds, full])
        # the same reads as a stride-1 conv on the 14x14 pixels it touches, a quarter of 28x28
        np.testing.assert_array_equal(t["dram_bytes"][0], t["dram_bytes"][1], err_msg=name)
    t = _tables("stripes", [ds])
    w, a = 16, 8  # everything fits its buffer: compulsory traffic only
    expected_bits = 64 * 128 * w + 64 * 14 * 14 * a + 128 * 14 * 14 * a
    assert _at(t, "dram_bytes", 0, w, a) == expected_bits / 8
    # a 3x3 stride-2 conv still reads every input pixel
    s2 = LayerSpec("s2", "conv", 64, 128, kernel=3, stride=2, padding=1, in_hw=(28, 28))
    t = _tables("stripes", [s2])
    assert _at(t, "dram_bytes", 0, w, a) == (64 * 128 * 9 * w + 64 * 784 * a + 128 * 196 * a) / 8


def test_partial_sums_spill_when_the_output_buffer_is_small() -> None:
    layer = LayerSpec("c", "conv", 256, 64, kernel=3, padding=1, in_hw=(14, 14))
    raw = _raw("bismo_pynq_z1")
    raw["memory"]["weight_buffer"]["size_kib"] = 16  # tiles of 65,536 bits
    raw["memory"]["input_buffer"]["size_kib"] = 16
    spill_bits = {}
    for out_kib in (1, 64):
        raw["memory"]["output_buffer"]["size_kib"] = out_kib
        t = _tables("bismo_pynq_z1", [layer], parse_config(raw, f"o{out_kib}.yaml"))
        spill_bits[out_kib] = _at(t, "dram_bytes", 0, 8, 8) * 8
    wb, ib, ofmap = 2304 * 64 * 8, 256 * 196 * 8, 64 * 196
    # weights outer (18 weight tiles, inputs re-read each time) beats inputs outer (7 tiles)
    base = wb + 18 * ib + ofmap * 8
    assert spill_bits[64] == base  # 8 filters x 196 pixels of 32-bit psums fit 32 KiB
    # 8 rows x 2304 x 8 bits = 2.25 weight tiles: the reduction is split in 3 and the partial sums
    # (8 x 196 x 32 bits) do not fit a 512-byte half buffer: written and read back twice
    assert spill_bits[1] == base + 2 * (2 * ofmap * 32)
