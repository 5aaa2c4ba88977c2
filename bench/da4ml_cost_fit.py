"""A small model of da4ml's adder-graph cost, fitted on random weights by running da4ml itself.

hls4ml 1.3.0's ``distributed_arithmetic`` strategy (Dense, Conv1D/2D at reuse factor 1) builds
the layer's constant matrix-vector product as a shift-and-add graph with da4ml
(``hls4ml/backends/vivado/passes/distributed_arithmetic.py``: ``comb_trace(inp, inp @ kernel)``)
and records the graph's cost (``da_kernel_cost``, da4ml's LUT count of its adders) on the layer.
That cost depends on the trained weights' digits, which the search does not have, so hwsim
estimates it with a power law fitted here on uniformly random weights of ``w_bits`` bits::

    LUT = c * n_in^p_in * n_out^p_out * w_bits^p_w * a_bits^p_a

(``n_in`` = non-zero inputs per output, i.e. density x kh*kw*C for a conv). The grid is every
(n_in, n_out, w_bits, a_bits) in GRID; the held-out points (larger layers, one pruned to 50 %)
check the fit outside it. The adder graph's depth (da4ml's output latency, in adder levels)
is compared with ``ceil(log2(n_in * w_bits))``, the depth hwsim schedules.

    python bench/da4ml_cost_fit.py     # ~1 min (244 da4ml traces); needs da4ml (pip install -e .[da])

writes ``bench/results/da4ml_cost/{points.csv,table.txt}``; the fitted coefficients go into the
FPGA config's ``distributed_arithmetic`` section (accel_configs/fpga_xc7z020.yaml).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.hls import da4ml_missing  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "da4ml_cost"
GRID = {
    "n_in": (8, 16, 32, 64),
    "n_out": (4, 8, 16, 32),
    "w_bits": (2, 3, 4, 6, 8),
    "a_bits": (4, 6, 8),
}
# (n_in, n_out, w_bits, a_bits, density): outside the grid
HELD_OUT = [(128, 16, 4, 6, 1.0), (96, 24, 6, 8, 1.0), (64, 64, 4, 4, 1.0), (64, 32, 6, 8, 0.5)]
COLUMNS = ["split", "n_in", "n_out", "w_bits", "a_bits", "density", "seed", "lut", "levels", "s"]


def da_cost(
    n_in: int, n_out: int, w_bits: int, a_bits: int, density: float = 1.0, seed: int = 0
) -> tuple[float, float]:
    """(da4ml's cost in LUTs, its adder depth) for random ``w_bits`` weights (a fraction
    ``density`` non-zero) times signed ``a_bits`` inputs, traced exactly as hls4ml 1.3.0 does."""
    from da4ml.trace import FixedVariableArray, HWConfig, comb_trace

    rng = np.random.default_rng(seed)
    half = 2 ** (w_bits - 1)
    w = rng.integers(-half, half, size=(n_in, n_out)).astype(np.float64)
    if density < 1.0:
        w *= rng.random((n_in, n_out)) < density
    w *= 2.0 ** -(w_bits - 1)
    k = np.ones(n_in, dtype=np.int16)
    i = np.ones(n_in, dtype=np.int16)
    f = np.full(n_in, a_bits - 2, dtype=np.int16)
    # hls4ml's options (DA_HARD_DC default 2)
    opts = {"hard_dc": 2, "search_all_decompose_dc": True}
    inp = FixedVariableArray.from_kif(k, i, f, HWConfig(1, -1, -1), solver_options=opts)
    sol = comb_trace(inp, inp @ w)
    return float(sol.cost), float(max(sol.out_latency))


def fit(rows: list[dict]) -> dict[str, float]:
    """Least squares on log LUT: c, p_in, p_out, p_w, p_a."""
    x = np.array(
        [
            [1.0, np.log(r["n_in"] * r["density"]), np.log(r["n_out"])]
            + [np.log(r["w_bits"]), np.log(r["a_bits"])]
            for r in rows
        ]
    )
    y = np.log([r["lut"] for r in rows])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    return {
        "lut_coef": float(np.exp(beta[0])),
        "n_in_exp": float(beta[1]),
        "n_out_exp": float(beta[2]),
        "w_bits_exp": float(beta[3]),
        "a_bits_exp": float(beta[4]),
    }


def estimate(c: dict[str, float], n_in, n_out, w_bits, a_bits, density=1.0) -> float:
    return (
        c["lut_coef"]
        * (n_in * density) ** c["n_in_exp"]
        * n_out ** c["n_out_exp"]
        * w_bits ** c["w_bits_exp"]
        * a_bits ** c["a_bits_exp"]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if da4ml_missing():
        print("error: da4ml is not installed (pip install -e .[da])", file=sys.stderr)
        return 2
    pts = [("fit", *p, 1.0) for p in itertools.product(*GRID.values())]
    pts += [("held_out", *p) for p in HELD_OUT]
    rows = []
    for seed, (split, n_in, n_out, wb, ab, dens) in enumerate(pts):
        t0 = time.time()
        lut, levels = da_cost(n_in, n_out, wb, ab, dens, seed)
        rows.append(
            dict(zip(COLUMNS, (split, n_in, n_out, wb, ab, dens, seed, lut, levels)))
            | {"s": round(time.time() - t0, 3)}
        )
    c = fit([r for r in rows if r["split"] == "fit"])
    lines = ["# python bench/da4ml_cost_fit.py", ""]
    lines.append(
        "fit: LUT = {lut_coef:.4g} * n_in^{n_in_exp:.3f} * n_out^{n_out_exp:.3f}"
        " * w_bits^{w_bits_exp:.3f} * a_bits^{a_bits_exp:.3f}".format(**c)
    )
    for split in ("fit", "held_out"):
        sub = [r for r in rows if r["split"] == split]
        err = np.array(
            [
                estimate(c, r["n_in"], r["n_out"], r["w_bits"], r["a_bits"], r["density"])
                / r["lut"]
                - 1.0
                for r in sub
            ]
        )
        depth = np.array(
            [np.ceil(np.log2(r["n_in"] * r["density"] * r["w_bits"])) - r["levels"] for r in sub]
        )
        lines.append(
            f"{split:<9} {len(sub):4d} points: median |LUT err| {np.median(np.abs(err)):6.1%},"
            f" max {np.max(np.abs(err)):6.1%}; depth ceil(log2(n_in*w)) - da4ml levels:"
            f" median {np.median(depth):+.0f}, range {depth.min():+.0f}..{depth.max():+.0f}"
        )
    lines += [
        "",
        f"{'split':<9} {'n_in':>5} {'n_out':>5} {'w':>2} {'a':>2} {'dens':>4} | "
        f"{'da4ml LUT':>9} {'fit':>9} {'err':>6} | {'levels':>6}",
    ]
    for r in rows:
        if r["split"] != "held_out" and not (r["n_out"] == 16 and r["a_bits"] == 8):
            continue  # the table shows the held-out points and one slice of the grid
        e = estimate(c, r["n_in"], r["n_out"], r["w_bits"], r["a_bits"], r["density"])
        lines.append(
            f"{r['split']:<9} {r['n_in']:5d} {r['n_out']:5d} {r['w_bits']:2d} {r['a_bits']:2d} "
            f"{r['density']:4.2f} | {r['lut']:9.0f} {e:9.0f} {e / r['lut'] - 1:+6.0%} | "
            f"{r['levels']:6.0f}"
        )
    lines.append(f"(all {len(rows)} points in points.csv)")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        from hwsim.fileio import atomic_write_text

        RESULTS.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        wr = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        wr.writeheader()
        wr.writerows(rows)
        atomic_write_text(RESULTS / "points.csv", buf.getvalue())
        atomic_write_text(RESULTS / "table.txt", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
