"""What Bit Fusion's widths above 8 bits did to the search's monotone view, and what is left.

Bit Fusion runs an operand wider than its Fusion Unit (8 bits) as several passes of the 8-bit
mode. The monotone view (``hwsim.cost_tables(..., monotone=True)``) used to take every width up
to 16 bits as a mode; it now stops at the widest native mode (``hwsim/tables.py``). For each
network and Bit Fusion config this prints how many monotone entries at widths 1..8 the old
envelope (over widths 1..16) set lower than the envelope over the native widths, per metric, and
the largest such undercut, with one layer shown in full.

    python bench/bitfusion_multipass.py     # writes bench/results/bitfusion_multipass.txt
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hwsim  # noqa: E402
from hwsim.fileio import atomic_write_text  # noqa: E402
from hwsim.tables import monotone_envelope  # noqa: E402
from search.trace import trace_workload  # noqa: E402
from search.zoo import build_model  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "bitfusion_multipass.txt"
NETWORKS = {
    "resnet50": (3, 224, 224),
    "resnet20_fm_w8": (1, 28, 28),
    "mobilenetv2_fm": (1, 28, 28),
    "fmnist_cnn": (1, 28, 28),
    "digits_cnn": (1, 8, 8),
}
CONFIGS = ("bitfusion_eyeriss", "bitfusion_stripes_cmp")
NATIVE = 8
WIDE = 16


def main() -> int:
    lines: list[str] = []

    def out(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    out("# python bench/bitfusion_multipass.py")
    out(
        "entries at widths 1..8 that the envelope over 1..16 (old) set below the envelope over the"
        " native 1..8 (now), per metric; worst = largest now/old ratio"
    )
    out(f"{'network':<16}{'config':<24}{'entries':>8}  changed (worst now/old)")
    # (now/old ratio, network, config, layer, w index, a index, workload, raw tables)
    worst_case: tuple[Any, ...] | None = None
    grid = np.arange(1, WIDE + 1, dtype=np.float64)
    for net, shape in NETWORKS.items():
        wl = trace_workload(build_model(net), shape, name=net)
        for name in CONFIGS:
            cfg = hwsim.load_config(ROOT / "accel_configs" / f"{name}.yaml")
            raw = hwsim.cost_tables(wl, cfg, grid, grid)
            old = monotone_envelope(raw)
            now = monotone_envelope({k: v[:, :NATIVE, :NATIVE] for k, v in raw.items()})
            changed = []
            for k in sorted(now):
                o, n = old[k][:, :NATIVE, :NATIVE], now[k]
                d = o < n
                if d.any():
                    ratio = float((n[d] / np.maximum(o[d], 1e-300)).max())
                    changed.append(f"{k} {int(d.sum())} ({ratio:.2f}x)")
                    if k == "energy_pj":
                        idx = np.unravel_index(np.argmax(np.where(d, n / o, 0.0)), d.shape)
                        if worst_case is None or ratio > worst_case[0]:
                            worst_case = (ratio, net, name, *map(int, idx), wl, raw)
            size = now["cycles"].size
            out(f"{net:<16}{name:<24}{size:>8}  {'; '.join(changed) or 'none'}")
    if worst_case is not None:
        ratio, net, name, li, i, j, wl, raw = worst_case
        e, c, dram = raw["energy_pj"][li], raw["cycles"][li], raw["dram_bytes"][li]
        sub = e[i:, j:]
        wi, aj = np.unravel_index(np.argmin(sub), sub.shape)
        wm, am = i + wi, j + aj
        nat = e[i:NATIVE, j:NATIVE]
        ni, nj = np.unravel_index(np.argmin(nat), nat.shape)
        ni, nj = i + ni, j + nj
        native_min = e[ni, nj]
        out()
        out(
            f"largest energy undercut: {net} {wl.layers[li].name} on {name} at {i + 1}/{j + 1}"
            f" bits: every native mode >= {native_min / 1e9:.3f} mJ; the {wm + 1}/{am + 1}-bit run"
            f" {e[wm, am] / 1e9:.3f} mJ ({native_min / e[wm, am]:.1f}x less) in {c[wm, am]:.0f}"
            f" cycles with {dram[wm, am] / 1e6:.2f} MB of DRAM traffic, against the cheapest native"
            f" mode {ni + 1}/{nj + 1}: {c[ni, nj]:.0f} cycles, {dram[ni, nj] / 1e6:.2f} MB"
        )
    atomic_write_text(RESULTS, "\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
