"""Bit Fusion (accel_configs/bitfusion_eyeriss.yaml): what 4/4 and 2/2 buy over 8/8 on ResNet-18.

Prints, per layer and in total, the speed-up of total cycles and of compute cycles, and the
energy saving, of 4/4 and 2/2 over 8/8 at 3x224x224, batch 1, with the reason in words: the
Fusion Units' pf (4x at 4/4, 16x at 2/2) is only reached when the input channels fill the 16 rows
at pf (ceil(C/(16*pf))), and a layer whose DRAM traffic (192 bits/cycle) exceeds its compute is
bound by memory, which shrinks only linearly with bits.

Then times ``hwsim.cost_tables`` for ResNet-50 at 8 x 8 bit pairs against an exhaustive
evaluation of every tiling and all 120 loop orders (same numbers, checked), side by side.

Run: python bench/bitfusion_speedup.py [--no-timing]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from hwsim import LayerSpec, Workload, cost_tables, load_config
from hwsim.models.bitfusion import _ORDERS, _candidates

ROOT = Path(__file__).resolve().parents[1]


def resnet_workload(name: str) -> Workload:
    """ResNet-18/50 traced from the search zoo (torch), else a hand-built ResNet-18."""
    try:
        from search.trace import trace_workload
        from search.zoo import build_model

        return trace_workload(build_model(name, num_classes=1000), (3, 224, 224), name=name)
    except ImportError:
        if name != "resnet18":
            raise
    layers = [LayerSpec("conv1", "conv", 3, 64, kernel=7, stride=2, padding=3, in_hw=224)]
    cin, hw = 64, 56
    for stage, cout in enumerate((64, 128, 256, 512)):
        for blk in range(2):
            s = 2 if stage > 0 and blk == 0 else 1
            pre = f"layer{stage + 1}.{blk}"
            layers.append(
                LayerSpec(
                    f"{pre}.conv1", "conv", cin, cout, kernel=3, stride=s, padding=1, in_hw=hw
                )
            )
            out = (hw + 2 - 3) // s + 1
            layers.append(
                LayerSpec(f"{pre}.conv2", "conv", cout, cout, kernel=3, padding=1, in_hw=out)
            )
            if s == 2:
                layers.append(
                    LayerSpec(f"{pre}.downsample.0", "conv", cin, cout, stride=2, in_hw=hw)
                )
            cin, hw = cout, out
    layers.append(LayerSpec("fc", "linear", 512, 1000))
    return Workload("resnet18", layers)


def reason(lyr: LayerSpec, first: bool, cc: np.ndarray, st: np.ndarray) -> str:
    """Why a layer's 2/2 (index 0) compute/total gains over 8/8 (index 2) are what they are."""
    got = cc[2] / cc[0]
    red = lyr.in_channels // lyr.groups
    if first and lyr.kind == "conv":
        red *= lyr.kernel[0] * lyr.kernel[1]  # im2col: the rows reduce over kh*kw*C
    untiled = np.ceil(red / 16) / np.ceil(red / 256)  # closed form, one tile, 8/8 over 2/2
    if untiled >= 16:
        parts = ["pf 16x reached" if got >= 15.99 else f"tiling costs {16 / got:.2f}x"]
    elif got >= untiled * 0.999:
        parts = [f"rounding: ceil({red}/16)/ceil({red}/256) = {untiled:.0f}x"]
    else:
        parts = [f"rounding to {untiled:.0f}x, tiling {untiled / got:.2f}x"]
    if st[0] > cc[0]:
        parts.append("DRAM-bound")
    return ", ".join(parts)


def speedup_table(wl: Workload, cfg) -> None:
    bits = [2, 4, 8]
    t = cost_tables(wl, cfg, bits, bits)
    first = wl.arrays().is_first
    cy, cc, st, en = (
        t[k][:, [0, 1, 2], [0, 1, 2]]
        for k in ("cycles", "compute_cycles", "stall_cycles", "energy_pj")
    )
    # columns: index 0 = 2/2, 1 = 4/4, 2 = 8/8
    head = (
        f"{'layer':<22}{'C':>5}{'M':>5}{'out':>5} {'8/8 cyc':>9}{'stall%':>7}"
        f" | {'4/4 tot':>7}{'cmp':>6}{'E-sav':>6} | {'2/2 tot':>7}{'cmp':>6}{'E-sav':>6} | why (2/2)"
    )
    print(head)
    print("-" * len(head))
    for k, lyr in enumerate(wl.layers):
        print(
            f"{lyr.name[:22]:<22}{lyr.in_channels:>5}{lyr.out_channels:>5}{lyr.out_hw[0]:>5}"
            f" {cy[k, 2]:>9.0f}{100 * st[k, 2] / cy[k, 2]:>6.0f}%"
            f" | {cy[k, 2] / cy[k, 1]:>6.2f}x{cc[k, 2] / cc[k, 1]:>5.1f}x{1 - en[k, 1] / en[k, 2]:>6.0%}"
            f" | {cy[k, 2] / cy[k, 0]:>6.2f}x{cc[k, 2] / cc[k, 0]:>5.1f}x{1 - en[k, 0] / en[k, 2]:>6.0%}"
            f" | {reason(lyr, bool(first[k]), cc[k], st[k])}"
        )
    T = {k: v.sum(axis=0) for k, v in (("cy", cy), ("cc", cc), ("st", st), ("en", en))}
    print("-" * len(head))
    print(
        f"{'TOTAL':<37} {T['cy'][2]:>9.0f}{100 * T['st'][2] / T['cy'][2]:>6.0f}%"
        f" | {T['cy'][2] / T['cy'][1]:>6.2f}x{T['cc'][2] / T['cc'][1]:>5.1f}x{1 - T['en'][1] / T['en'][2]:>6.0%}"
        f" | {T['cy'][2] / T['cy'][0]:>6.2f}x{T['cc'][2] / T['cc'][0]:>5.1f}x{1 - T['en'][0] / T['en'][2]:>6.0%}"
    )
    e_split = {
        k: t[k][:, [0, 1, 2], [0, 1, 2]].sum(axis=0)
        for k in ("energy_mac_pj", "energy_sram_pj", "energy_dram_pj")
    }
    print()
    print(
        "energy split (core / buffers / DRAM) at 8/8, 4/4, 2/2: "
        + "; ".join(
            "/".join(f"{100 * e_split[k][i] / T['en'][i]:.0f}%" for k in e_split) for i in (2, 1, 0)
        )
    )
    print(
        "stall share of total cycles at 8/8, 4/4, 2/2: "
        + ", ".join(f"{100 * T['st'][i] / T['cy'][i]:.0f}%" for i in (2, 1, 0))
    )


def exhaustive(model, wl: Workload, wv: np.ndarray, av: np.ndarray) -> np.ndarray:
    """Total cycles per (w, a) from every tiling x all 120 loop orders, no pruning."""
    p = model.params
    L = wl.arrays()
    total = np.zeros((wv.size, av.size))
    nO = len(_ORDERS)
    for i, lyr in enumerate(wl.layers):
        g = lyr.groups
        key = (
            lyr.batch,
            *lyr.out_hw,
            *lyr.kernel,
            *lyr.stride,
            lyr.in_channels // g,
            lyr.out_channels // g,
        )
        im2 = bool(L.is_first[i]) and lyr.kind == "conv"
        c = _candidates(
            key, im2, p.array.cols, p.memory.output_buffer.tile_bits, p.memory.psum_bits
        )
        cat = c._asdict()
        R = c.red.size
        r = np.repeat(np.arange(R), nO)
        o = np.tile(np.arange(nO), R)
        for iw, w in enumerate(wv):
            for ia, a in enumerate(av):
                pf, passes = model.perf_factor(w, a)
                cyc = model._metrics(cat, r, w, a, pf, passes, o, full=False)["cycles"]
                total[iw, ia] += cyc.min() * g
    return total


def timing(cfg) -> None:
    wl = resnet_workload("resnet50")
    bits = list(range(1, 9))
    v = np.asarray(bits, dtype=np.float64)
    fast, slow = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        tab = cost_tables(wl, cfg, bits, bits)
        fast.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = exhaustive(cfg.model, wl, v, v)
    slow.append(time.perf_counter() - t0)
    same = np.array_equal(tab["cycles"].sum(axis=0), ref)
    f, s = float(np.median(fast)), float(np.median(slow))
    print()
    print(f"ResNet-50 ({len(wl)} layers), 8 x 8 bit pairs, cost tables of every metric:")
    print(f"{'method':<44}{'median ms':>10}{'ratio':>8}")
    print(f"{'hwsim.cost_tables (pruned exact search)':<44}{1e3 * f:>10.1f}{1.0:>8.2f}")
    print(f"{'exhaustive tilings x 120 orders (cycles)':<44}{1e3 * s:>10.1f}{s / f:>8.2f}")
    print(f"same total cycles for all 64 pairs: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-timing", action="store_true", help="skip the ResNet-50 timing comparison")
    args = ap.parse_args()
    cfg = load_config(ROOT / "accel_configs" / "bitfusion_eyeriss.yaml")
    wl = resnet_workload("resnet18")
    print(
        f"Bit Fusion {cfg.name}: ResNet-18 3x224x224 batch 1, {len(wl)} layers; speed-up = 8/8 cycles / x/x cycles"
    )
    print(
        "tot = total cycles, cmp = compute cycles, E-sav = energy saving; why: pf reached or channel"
    )
    print(
        "rounding ceil(C/(16*pf)) limits compute; DRAM-bound = stall > compute at 2/2 (192 bit/cycle)"
    )
    print()
    speedup_table(wl, cfg)
    if not args.no_timing:
        timing(cfg)


if __name__ == "__main__":
    main()
