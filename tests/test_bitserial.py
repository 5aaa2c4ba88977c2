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
