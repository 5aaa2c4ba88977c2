"""hwsim's BISMO model against HAQ's released BISMO latency table (MobileNetV2, cloud, batch 16).

HAQ (Wang et al., CVPR 2019; mit-han-lab/haq) publishes one hardware-feedback table: the latency of
each of MobileNetV2's 53 quantizable layers at every (w_bits, a_bits) in 1..8 on its 'cloud' BISMO
accelerator at batch 16 (``bench/data/haq/``, MIT licence). Its simulator is not published and its
units are not stated, so this compares *scaling*: per layer, the Spearman rank correlation of
latency over the 64 bit pairs, and whole-network ratios (8/8 : 2/2 etc.).

The workload is the zoo's ``mobilenet_v2`` (3x224x224, torchvision layout) traced at batch 16 and
committed as ``bench/data/haq/mobilenet_v2_b16.yaml`` (``--retrace`` regenerates it; needs torch).
Configs compared: ``bismo_vu9p_cloud`` (HAQ's cloud setting), the same without its fetch-stage
feed limit (the model before it, for contrast) and ``bismo_pynq_z1``.

    python bench/haq_bismo_reference.py            # print the tables, rewrite bench/results/haq_bismo/
    python bench/haq_bismo_reference.py --retrace  # also re-trace the workload from search.zoo

Writes ``bench/results/haq_bismo/per_layer.csv`` and ``summary.csv`` atomically;
``tests/test_bitserial.py`` recomputes them and checks the goals (median rho >= 0.9, min >= 0.8,
8/8 : 2/2 within 1.5x of the table's).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim import Workload, cost_tables, load_config, parse_config  # noqa: E402
from hwsim.config import AccelConfig  # noqa: E402
from hwsim.fileio import atomic_write_text  # noqa: E402

DATA = ROOT / "bench" / "data" / "haq"
LUT_CSV = DATA / "haq_qmobilenetv2_cloud_batch16_latency_lut.csv"
WORKLOAD = DATA / "mobilenet_v2_b16.yaml"
RESULTS = ROOT / "bench" / "results" / "haq_bismo"
BITS = list(range(1, 9))
BATCH = 16
PRIMARY = "bismo_vu9p_cloud"
# whole-network ratios reported: (w, a) of the slower point, (w, a) of the faster one
RATIOS = (((8, 8), (2, 2)), ((8, 8), (4, 4)), ((8, 8), (1, 1)), ((8, 8), (8, 4)), ((8, 8), (4, 8)))


def load_lut(path: Path = LUT_CSV) -> np.ndarray:
    """HAQ's table as ``lut[layer, w_bits-1, a_bits-1]`` (53 x 8 x 8)."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    n = 1 + max(int(r["quant_layer_index"]) for r in rows)
    lut = np.zeros((n, 8, 8))
    for r in rows:
        lut[int(r["quant_layer_index"]), int(r["w_bits"]) - 1, int(r["a_bits"]) - 1] = float(
            r["latency"]
        )
    return lut


def trace_workload() -> Workload:
    """The zoo's MobileNetV2 traced at 3x224x224, batch set to 16 (needs torch)."""
    import dataclasses

    from search.trace import trace_workload as trace
    from search.zoo import build_model

    wl = trace(build_model("mobilenet_v2"), (3, 224, 224), name="mobilenet_v2_b16")
    return Workload(wl.name, [dataclasses.replace(lyr, batch=BATCH) for lyr in wl.layers])


def configs() -> dict[str, AccelConfig]:
    """The configs compared, by label."""
    import yaml

    raw = yaml.safe_load((ROOT / "accel_configs" / f"{PRIMARY}.yaml").read_text())
    raw["dpa"].pop("feed_bits_per_cycle")
    raw["name"] = f"{PRIMARY}_nofeed"
    return {
        PRIMARY: load_config(ROOT / "accel_configs" / f"{PRIMARY}.yaml"),
        f"{PRIMARY}_nofeed": parse_config(raw, f"{PRIMARY}_nofeed.yaml"),
        "bismo_pynq_z1": load_config(ROOT / "accel_configs" / "bismo_pynq_z1.yaml"),
    }


def layer_kind(wl: Workload, i: int) -> str:
    lyr = wl.layers[i]
    if lyr.kind == "linear":
        return "fc"
    if lyr.is_depthwise:
        return "dw"
    return "pw" if lyr.kernel == (1, 1) else "conv"


def compare(wl: Workload, cfg: AccelConfig, lut: np.ndarray) -> dict[str, object]:
    """Per-layer rank correlations and whole-network ratios of ``cfg`` against ``lut``."""
    if len(wl) != lut.shape[0]:
        raise ValueError(f"workload has {len(wl)} layers, HAQ's table {lut.shape[0]}")
    cyc = cost_tables(wl, cfg, BITS, BITS)["cycles"]
    rho = np.array([spearmanr(cyc[i].ravel(), lut[i].ravel()).statistic for i in range(len(wl))])
    hw_tot, haq_tot = cyc.sum(axis=0), lut.sum(axis=0)

    def ratio(t: np.ndarray, hi: tuple[int, int], lo: tuple[int, int]) -> float:
        return float(t[hi[0] - 1, hi[1] - 1] / t[lo[0] - 1, lo[1] - 1])

    return {
        "cycles": cyc,
        "rho": rho,
        "ratios": [(hi, lo, ratio(hw_tot, hi, lo), ratio(haq_tot, hi, lo)) for hi, lo in RATIOS],
    }


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--retrace", action="store_true", help="re-trace the workload (needs torch)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = ap.parse_args(argv)

    if args.retrace or not WORKLOAD.exists():
        trace_workload().save(WORKLOAD)
    wl = Workload.load(WORKLOAD)
    lut = load_lut()
    results = {label: compare(wl, cfg, lut) for label, cfg in configs().items()}
    prim = results[PRIMARY]
    cyc = prim["cycles"]

    per_layer: list[list[object]] = [
        [
            "layer_index",
            "layer",
            "kind",
            "out_channels_per_group",
            "reduction",
            "columns",
            *(f"rho_{label}" for label in results),
            "hwsim_88_over_22",
            "haq_88_over_22",
            "hwsim_w8a1_over_w1a1",
            "haq_w8a1_over_w1a1",
            "hwsim_w1a8_over_w1a1",
            "haq_w1a8_over_w1a1",
        ]
    ]
    print(f"HAQ BISMO table vs hwsim {PRIMARY} (MobileNetV2, batch {BATCH}), per layer:")
    print(
        f"{'#':>2} {'layer':<22} {'kind':<4} {'M_g':>5} {'K':>5} {'rho':>6} {'rho_nofeed':>10}"
        f" {'88/22 hw':>8} {'haq':>6} {'w8a1/11 hw':>10} {'haq':>6} {'w1a8/11 hw':>10} {'haq':>6}"
    )
    for i, lyr in enumerate(wl.layers):
        c, h = cyc[i], lut[i]
        vals = [
            c[7, 7] / c[1, 1],
            h[7, 7] / h[1, 1],
            c[7, 0] / c[0, 0],
            h[7, 0] / h[0, 0],
            c[0, 7] / c[0, 0],
            h[0, 7] / h[0, 0],
        ]
        per_layer.append(
            [
                i,
                lyr.name,
                layer_kind(wl, i),
                lyr.out_channels // lyr.groups,
                lyr.reduction,
                lyr.batch * lyr.out_pixels,
                *(_fmt(r["rho"][i]) for r in results.values()),
                *(_fmt(v) for v in vals),
            ]
        )
        print(
            f"{i:>2} {lyr.name[-22:]:<22} {layer_kind(wl, i):<4} {lyr.out_channels // lyr.groups:>5}"
            f" {lyr.reduction:>5} {prim['rho'][i]:>6.3f}"
            f" {results[f'{PRIMARY}_nofeed']['rho'][i]:>10.3f}"
            f" {vals[0]:>8.2f} {vals[1]:>6.2f} {vals[2]:>10.2f} {vals[3]:>6.2f}"
            f" {vals[4]:>10.2f} {vals[5]:>6.2f}"
        )

    summary: list[list[object]] = [
        ["config", "statistic", "hwsim", "haq", "hwsim_over_haq", "goal", "met"]
    ]
    print("\nSummary (goals: median rho >= 0.9, min rho >= 0.8, 8/8:2/2 within 1.5x of HAQ's):")
    print(f"{'config':<24} {'statistic':<22} {'hwsim':>8} {'haq':>8} {'ratio':>7}  goal")
    for label, r in results.items():
        rho = r["rho"]
        rows = [
            ("rho_median", float(np.median(rho)), "", ">= 0.9", float(np.median(rho)) >= 0.9),
            ("rho_min", float(rho.min()), "", ">= 0.8", float(rho.min()) >= 0.8),
        ]
        for hi, lo, hw, hq in r["ratios"]:
            name = f"total_w{hi[0]}a{hi[1]}_over_w{lo[0]}a{lo[1]}"
            goal = "within 1.5x" if (hi, lo) == ((8, 8), (2, 2)) else ""
            met = (1 / 1.5 <= hw / hq <= 1.5) if goal else ""
            rows.append((name, hw, hq, goal, met))
        for name, hw, hq, goal, met in rows:
            rel = _fmt(hw / hq) if hq != "" else ""
            summary.append([label, name, _fmt(hw), "" if hq == "" else _fmt(hq), rel, goal, met])
            hq_s = "" if hq == "" else f"{hq:>8.3f}"
            rel_s = "" if hq == "" else f"{hw / hq:>7.3f}"
            print(f"{label:<24} {name:<22} {hw:>8.3f} {hq_s:>8} {rel_s:>7}  {goal} {met}")

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "per_layer.csv", _csv(per_layer))
    atomic_write_text(args.out / "summary.csv", _csv(summary))
    print(f"\nwrote {args.out / 'per_layer.csv'} and {args.out / 'summary.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
