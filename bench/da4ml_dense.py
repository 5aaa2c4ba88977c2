"""hls4ml's distributed-arithmetic strategy on a Dense layer: bit-exact C simulation and the LUT
figure of da4ml's adder graph beside hwsim's FPGA-model estimate (Latency strategy, RF 1).

hls4ml 1.3.0 emits a Dense/Conv layer with ``Strategy: distributed_arithmetic`` (RF 1) through
da4ml, which turns the constant matrix-vector product into a shift-and-add graph for the trained
weights and records its cost (``da_kernel_cost``, in LUTs of the adders) on the layer. Here a
``torch.nn.Linear`` with weights and bias on the fixed-point grid is converted with that
strategy, compiled with hls4ml's g++ C simulation and compared with the exact product on
random inputs on the input grid (the accumulator and output types are wide enough to be exact,
so bit-exact means equal). Needs ``da4ml`` (``pip install da4ml``; not a project dependency):

    python bench/da4ml_dense.py            # writes bench/results/da4ml_dense/table.txt

Beside da4ml's exact cost for these weights the table shows hwsim's two estimates for the same
layer (``basis: hls_estimate``, ``hls_tool: vitis_hls``): the distributed-arithmetic stage the
FPGA plan offers (``reuse.strategy: distributed_arithmetic`` or ``auto``; its LUTs are a fit of
da4ml's cost on random weights, ``bench/da4ml_cost_fit.py``) and the Latency-strategy design at
RF 1 (constant multiplications, adder tree).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.hls import da4ml_missing  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "da4ml_dense"
CFG = ROOT / "accel_configs" / "fpga_xc7z020.yaml"
# (n_in, n_out, weight bits, input bits)
LAYERS = [(16, 8, 6, 8), (32, 16, 4, 4)]


def run_layer(n_in: int, n_out: int, wb: int, ab: int, out_dir: Path, seed: int = 0) -> dict:
    """Emit, compile and check one Dense layer; return its figures."""
    import hls4ml
    import torch

    rng = np.random.default_rng(seed)
    w_frac, a_frac, b_frac = wb - 1, ab - 2, 3
    wq = rng.integers(-(2 ** (wb - 1)), 2 ** (wb - 1), size=(n_out, n_in)) * 2.0**-w_frac
    bq = rng.integers(-8, 8, size=n_out) * 2.0**-b_frac
    fc = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor(wq))
        fc.bias.copy_(torch.tensor(bq))
    model = torch.nn.Sequential(fc)
    cfg = hls4ml.utils.config_from_pytorch_model(
        model, input_shape=(n_in,), granularity="name", backend="Vitis"
    )
    cfg["LayerName"]["input_1"]["Precision"]["result"] = f"ap_fixed<{ab},2>"
    layer = cfg["LayerName"]["_0"]
    layer["Precision"].update(
        {
            "weight": f"ap_fixed<{wb},1>",
            "bias": "ap_fixed<8,5>",
            "accum": "ap_fixed<40,16>",
            "result": "ap_fixed<40,16>",
        }
    )
    layer["Strategy"] = "distributed_arithmetic"
    t0 = time.time()
    hm = hls4ml.converters.convert_from_pytorch_model(
        model, hls_config=cfg, output_dir=str(out_dir), backend="Vitis", io_type="io_parallel"
    )
    hm.compile()
    compile_s = time.time() - t0
    x = rng.integers(-(2 ** (ab - 1)), 2 ** (ab - 1), size=(200, n_in)) * 2.0**-a_frac
    y = np.asarray(hm.predict(np.ascontiguousarray(x))).reshape(200, n_out)
    ref = x @ wq.T + bq  # exact in float64 at these widths
    dense = [lyr for lyr in hm.get_layers() if lyr.class_name == "Dense"][0]
    return {
        "n_in": n_in,
        "n_out": n_out,
        "w_bits": wb,
        "a_bits": ab,
        "samples": len(x),
        "bit_exact": int(np.array_equal(y, ref)),
        "max_abs_diff": float(np.abs(y - ref).max()),
        "da4ml_lut": float(dense.attributes["da_kernel_cost"]),
        "compile_s": compile_s,
    }


def hwsim_estimate(n_in: int, n_out: int, wb: int, ab: int, da: bool = False) -> float:
    """hwsim's LUT estimate for the layer at RF 1 (HLS estimate): the Latency strategy, or with
    ``da`` the distributed-arithmetic stage."""
    import yaml

    from hwsim.models.fpga_dataflow import FpgaDataflowParams, stage_costs
    from hwsim.workload import LayerArrays, LayerSpec

    raw = copy.deepcopy(yaml.safe_load(CFG.read_text()))
    raw.pop("type")
    raw.update(basis="hls_estimate", hls_tool="vitis_hls", io_type="io_parallel")
    p = FpgaDataflowParams.model_validate(raw)
    L = LayerArrays.from_layers([LayerSpec("fc", "linear", n_in, n_out)])
    c = stage_costs(
        p,
        L,
        np.float64(wb),
        np.float64(ab),
        np.float64(1),
        np.bool_(False),
        "io_parallel",
        da=np.bool_(da),
    )
    return float(c["lut"][0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if da4ml_missing():
        print("error: da4ml is not installed (pip install -e .[da])", file=sys.stderr)
        return 2
    lines = [
        f"{'layer':<10} {'wxa':>5} | {'C-sim vs exact':<22} | {'da4ml LUT':>9} | "
        f"{'hwsim DA est.':>13} {'ratio':>5} | {'hwsim Latency':>13} {'ratio':>5} | "
        f"{'compile s':>9}"
    ]
    for n_in, n_out, wb, ab in LAYERS:
        with tempfile.TemporaryDirectory() as d:
            r = run_layer(n_in, n_out, wb, ab, Path(d) / "prj")
        est = hwsim_estimate(n_in, n_out, wb, ab)
        est_da = hwsim_estimate(n_in, n_out, wb, ab, da=True)
        ok = (
            f"{r['samples']}/{r['samples']} bit-exact"
            if r["bit_exact"]
            else f"max diff {r['max_abs_diff']:g}"
        )
        lines.append(
            f"{f'{n_in}->{n_out}':<10} {f'{wb}x{ab}':>5} | {ok:<22} | {r['da4ml_lut']:9.0f} | "
            f"{est_da:13.0f} {est_da / r['da4ml_lut']:5.2f} | "
            f"{est:13.0f} {est / r['da4ml_lut']:5.2f} | {r['compile_s']:9.0f}"
        )
        print(lines[-1], flush=True)
    text = "# python bench/da4ml_dense.py\n" + "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        from hwsim.fileio import atomic_write_text

        RESULTS.mkdir(parents=True, exist_ok=True)
        atomic_write_text(RESULTS / "table.txt", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
