"""ZigZag (KULeuven-MICAS/zigzag, pip ``zigzag-dse``) against hwsim's systolic model matched to it.

Runs ZigZag's own ``tpu_like`` hardware and mapping (shipped in the package under
``zigzag/inputs``) on five ResNet-18 layers (conv1, layer1.0.conv1, layer3.0.conv1,
layer4.1.conv2, fc; ImageNet 224x224, batch 1) at weight/activation bits 8/8, 4/4, 2/2, 8/4, 4/8
(LOMA temporal-mapping search, latency-optimal), in an isolated venv. Writes the reference
``bench/data/zigzag_reference.csv`` (ZigZag's latency_total2 cycles, ideal cycles, energy and its
MAC / memory parts in pJ) and ``bench/results/zigzag_tpu_like.csv`` (per layer and pair: ZigZag and
hwsim latency and energy relative to the layer's 8/8), and prints the table and the Spearman rank
correlations of the relative latency and energy over the 20 (layer, non-8/8 pair) points.
hwsim runs ``accel_configs/systolic_tpu_like_32x32.yaml``.

    python bench/zigzag_reference.py --force              # run ZigZag, regenerate both CSVs
    python bench/zigzag_reference.py --summary-only       # the comparison from the committed CSV

The venv (default /work/venvs/zigzag) is created with ``pip install zigzag-dse six`` if missing.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim import LayerSpec, Workload, cost_tables, load_config  # noqa: E402
from hwsim.errors import HwsimError  # noqa: E402
from hwsim.fileio import atomic_write_text  # noqa: E402

REFERENCE = ROOT / "bench" / "data" / "zigzag_reference.csv"
RESULTS = ROOT / "bench" / "results" / "zigzag_tpu_like.csv"
CONFIG = ROOT / "accel_configs" / "systolic_tpu_like_32x32.yaml"
PAIRS = ((8, 8), (4, 4), (2, 2), (8, 4), (4, 8))
PSUM_BITS = 16  # tpu_like's output register rf_2B holds 16 bits (ZigZag operand O)
GOALS = {"latency": 0.8, "energy": 0.9}

# ResNet-18 (He et al., CVPR 2016) layers, ImageNet 224x224, batch 1
LAYERS = (
    LayerSpec("conv1", "conv", 3, 64, kernel=7, stride=2, padding=3, in_hw=(224, 224)),
    LayerSpec("layer1.0.conv1", "conv", 64, 64, kernel=3, padding=1, in_hw=(56, 56)),
    LayerSpec("layer3.0.conv1", "conv", 128, 256, kernel=3, stride=2, padding=1, in_hw=(28, 28)),
    LayerSpec("layer4.1.conv2", "conv", 512, 512, kernel=3, padding=1, in_hw=(7, 7)),
    LayerSpec("fc", "linear", 512, 1000),
)

REF_COLUMNS = [
    "layer",
    "w_bits",
    "a_bits",
    "latency_cycles",
    "ideal_cycles",
    "energy_pj",
    "mac_energy_pj",
    "mem_energy_pj",
    "cpu_s",
]
RES_COLUMNS = [
    "layer",
    "w_bits",
    "a_bits",
    "zigzag_latency_rel",
    "hwsim_latency_rel",
    "zigzag_energy_rel",
    "hwsim_energy_rel",
    "zigzag_latency_cycles",
    "hwsim_cycles",
    "zigzag_energy_pj",
    "hwsim_energy_pj",
]

# runs inside the ZigZag venv: argv = jobs JSON; one JSON line per job on stdout
CHILD = r"""
import contextlib, io, json, logging, os, sys, tempfile, time
import zigzag
from zigzag.api import get_hardware_performance_zigzag
logging.disable(logging.CRITICAL)
base = os.path.join(os.path.dirname(zigzag.__file__), "inputs")
hw = os.path.join(base, "hardware", "tpu_like.yaml")
mp = os.path.join(base, "mapping", "tpu_like.yaml")
for job in json.loads(sys.argv[1]):
    t0 = time.process_time()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        energy, latency, cmes = get_hardware_performance_zigzag(
            [job["layer"]], hw, mp, opt="latency", dump_folder=tmp,
            pickle_filename=os.path.join(tmp, "cmes.pickle"), loma_show_progress_bar=False)
    cme = cmes[0][0]
    print(json.dumps({"key": job["key"], "latency_cycles": float(latency), "energy_pj": float(energy),
        "ideal_cycles": float(cme.ideal_cycle), "mac_energy_pj": float(cme.mac_energy),
        "mem_energy_pj": float(cme.mem_energy), "cpu_s": time.process_time() - t0}), flush=True)
"""


def zigzag_layer(lyr: LayerSpec, w: int, a: int) -> dict[str, object]:
    """One layer in ZigZag's workload format (as its ONNX conv/gemm parsers build them)."""
    prec = {"W": w, "I": a, "O": PSUM_BITS, "O_final": a}
    if lyr.kind == "linear":
        return {
            "id": 0,
            "name": lyr.name,
            "operator_type": "Gemm",
            "equation": "O[b][k]+=W[k][c]*I[b][c]",
            "loop_dims": ["B", "K", "C"],
            "loop_sizes": [lyr.batch, lyr.out_channels, lyr.in_channels],
            "operand_precision": prec,
            "operand_source": {"I": 0},
        }
    assert lyr.out_hw is not None
    return {
        "id": 0,
        "name": lyr.name,
        "operator_type": "Conv",
        "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
        "dimension_relations": [
            f"ix={lyr.stride[1]}*ox+1*fx",
            f"iy={lyr.stride[0]}*oy+1*fy",
        ],
        "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
        "loop_sizes": [
            lyr.batch,
            lyr.out_channels,
            lyr.in_channels,
            lyr.out_hw[0],
            lyr.out_hw[1],
            lyr.kernel[0],
            lyr.kernel[1],
        ],
        "operand_precision": prec,
        "operand_source": {"I": 0},
        "pr_loop_dims": ["IX", "IY"],
        "pr_loop_sizes": [lyr.in_hw[1], lyr.in_hw[0]],
        "padding": [[lyr.padding[1], lyr.padding[1]], [lyr.padding[0], lyr.padding[0]]],
    }


def ensure_venv(venv: Path) -> Path:
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import zigzag.api"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return py
    print(f"creating {venv} with zigzag-dse ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "zigzag-dse", "six"], check=True)
    got = subprocess.run(check, capture_output=True, text=True)
    if got.returncode != 0:
        raise HwsimError(f"{venv}: zigzag-dse did not install ({got.stderr.strip()[-200:]})")
    return py


def run_zigzag(py: Path) -> list[dict[str, object]]:
    jobs = [
        {"key": [lyr.name, w, a], "layer": zigzag_layer(lyr, w, a)}
        for lyr in LAYERS
        for w, a in PAIRS
    ]
    with tempfile.TemporaryDirectory(prefix="zigzag-ref-") as tmp:
        proc = subprocess.Popen(
            [str(py), "-c", CHILD, json.dumps(jobs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp,
        )
        rows = []
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            name, w, a = rec.pop("key")
            rows.append({"layer": name, "w_bits": w, "a_bits": a, **rec})
            print(f"  {name:16s} {w}/{a}: {rec['latency_cycles']:.0f} cycles", file=sys.stderr)
        err = proc.stderr.read() if proc.stderr else ""
        if proc.wait() != 0 or len(rows) != len(jobs):
            raise HwsimError(f"ZigZag failed: {err.strip()[-800:]}")
    for r in rows:
        r["cpu_s"] = round(float(r["cpu_s"]), 2)  # type: ignore[arg-type]
    return rows


def _csv_text(rows: list[dict[str, object]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def compare(ref: list[dict[str, str]]) -> tuple[list[dict[str, object]], dict[str, float]]:
    """Relative (to each layer's 8/8) latency and energy, ZigZag vs hwsim, and the correlations."""
    cfg = load_config(CONFIG)
    wl = Workload("resnet18_layers", list(LAYERS))
    bits = sorted({b for p in PAIRS for b in p})
    t = cost_tables(wl, cfg, bits, bits)
    z = {(r["layer"], int(r["w_bits"]), int(r["a_bits"])): r for r in ref}
    rows: list[dict[str, object]] = []
    for i, lyr in enumerate(LAYERS):
        base = z[(lyr.name, 8, 8)]
        hb = (
            t["cycles"][i, bits.index(8), bits.index(8)],
            t["energy_pj"][i, bits.index(8), bits.index(8)],
        )
        for w, a in PAIRS:
            r = z[(lyr.name, w, a)]
            hc = t["cycles"][i, bits.index(w), bits.index(a)]
            he = t["energy_pj"][i, bits.index(w), bits.index(a)]
            rows.append(
                {
                    "layer": lyr.name,
                    "w_bits": w,
                    "a_bits": a,
                    "zigzag_latency_rel": round(
                        float(r["latency_cycles"]) / float(base["latency_cycles"]), 4
                    ),
                    "hwsim_latency_rel": round(float(hc / hb[0]), 4),
                    "zigzag_energy_rel": round(float(r["energy_pj"]) / float(base["energy_pj"]), 4),
                    "hwsim_energy_rel": round(float(he / hb[1]), 4),
                    "zigzag_latency_cycles": round(float(r["latency_cycles"])),
                    "hwsim_cycles": round(float(hc)),
                    "zigzag_energy_pj": round(float(r["energy_pj"])),
                    "hwsim_energy_pj": round(float(he)),
                }
            )
    pts = [r for r in rows if (r["w_bits"], r["a_bits"]) != (8, 8)]
    corr = {
        m: spearman(
            np.array([r[f"zigzag_{m}_rel"] for r in pts], dtype=float),
            np.array([r[f"hwsim_{m}_rel"] for r in pts], dtype=float),
        )
        for m in ("latency", "energy")
    }
    return rows, corr


def print_table(rows: list[dict[str, object]], corr: dict[str, float]) -> None:
    print(
        f"{'layer':16s} {'w/a':>5s} {'zz_lat':>8s} {'hw_lat':>8s} {'zz_E':>8s} {'hw_E':>8s}"
        f" {'zz_cycles':>10s} {'hw_cycles':>10s}   (latency/energy relative to the layer's 8/8)"
    )
    for r in rows:
        print(
            f"{r['layer']:16s} {str(r['w_bits']) + '/' + str(r['a_bits']):>5s}"
            f" {r['zigzag_latency_rel']:8.3f} {r['hwsim_latency_rel']:8.3f}"
            f" {r['zigzag_energy_rel']:8.3f} {r['hwsim_energy_rel']:8.3f}"
            f" {r['zigzag_latency_cycles']:10d} {r['hwsim_cycles']:10d}"
        )
    for m, v in corr.items():
        goal = GOALS[m]
        print(
            f"Spearman rank correlation, {m} relative to 8/8 (20 points): {v:.3f}"
            f" (goal >= {goal}: {'met' if v >= goal else 'MISSED'})"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=Path("/work/venvs/zigzag"))
    ap.add_argument("--force", action="store_true", help="overwrite the reference CSV")
    ap.add_argument("--summary-only", action="store_true", help="compare the committed CSV only")
    args = ap.parse_args(argv)
    try:
        if not args.summary_only:
            if REFERENCE.exists() and not args.force:
                raise HwsimError(f"{REFERENCE}: already exists (use --force to overwrite)")
            t0 = time.perf_counter()
            ref_rows = run_zigzag(ensure_venv(args.venv))
            atomic_write_text(REFERENCE, _csv_text(ref_rows, REF_COLUMNS))
            print(f"wrote {REFERENCE} ({len(ref_rows)} runs, {time.perf_counter() - t0:.0f} s)")
        if not REFERENCE.is_file():
            raise HwsimError(f"{REFERENCE}: file not found (run without --summary-only)")
        with REFERENCE.open() as fh:
            ref = list(csv.DictReader(fh))
        rows, corr = compare(ref)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(RESULTS, _csv_text(rows, RES_COLUMNS))
    except HwsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_table(rows, corr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
