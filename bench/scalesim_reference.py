"""Reference cycle counts from SCALE-Sim 3.0.0 for the systolic model's validation.

Runs SCALE-Sim (pip ``scalesim==3.0.0``, in an isolated venv because it needs numpy < 2) on every
conv/linear layer of the hand-written workloads in ``bench/data/*.yaml`` for dataflows os/ws/is at
16x16 and 32x32 arrays, in CALC bandwidth mode (no stalls), one layer per topology file (SCALE-Sim
v3 keeps every layer's traces in RAM until a run ends). Writes ``bench/data/scalesim_reference.csv``
atomically: per layer and config SCALE-Sim's total / stall / compute cycles (from COMPUTE_REPORT:
compute = ``Total Cycles`` - ``Stall Cycles``), SRAM/DRAM access counts in words (from
DETAILED_ACCESS_REPORT) and the CPU seconds SCALE-Sim took for the layer and for the whole
network/config. Depthwise (``DP``) rows are split by SCALE-Sim into one sub-layer per channel; their
counts are summed.

    python bench/scalesim_reference.py --force            # regenerate the committed CSV
    python bench/scalesim_reference.py --out /tmp/x.csv   # elsewhere

``--mode user`` runs USER bandwidth mode (32x32, ``scalesim_user_reference.csv``) and prints
stall totals and DRAM words by operand against hwsim, split into SCALE-Sim's one-pass accounting
(im2col operand matrices with null padding, per-fold partial sums), its fold re-sweeps and the
rest; ``--mode user-fixed`` is the same with two artefacts of its prefetch window removed (an
ablation, ``scalesim_user_fixed_reference.csv``); ``--probe-refills`` instruments the window on
three layers; ``--summary-only`` reprints a mode's tables from its committed CSV.

``tests/test_systolic.py`` compares hwsim against the committed CSV (no SCALE-Sim needed).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.errors import HwsimError  # noqa: E402
from hwsim.fileio import atomic_write_text  # noqa: E402
from hwsim.scalesim_io import write_topology  # noqa: E402
from hwsim.workload import Workload  # noqa: E402

DATA = ROOT / "bench" / "data"
NETWORKS = ("cifar_small_cnn", "cifar_resnet20", "cifar_dw_tiny")
ARRAYS = ((16, 16), (32, 32))
USER_ARRAYS = ((32, 32),)
DATAFLOWS = ("os", "ws", "is")
SRAM_KB = 64  # each of the ifmap / filter / ofmap SRAMs (CALC mode: sizes only move DRAM counts)
SCALESIM_PIN = "scalesim==3.0.0"
# USER mode: DRAM bandwidth in words (bytes) per cycle for each of the ifmap, filter and ofmap
# interfaces (SCALE-Sim 3.0.0 takes ifmap/filter from the *SRAMBankBandwidth keys, ofmap from
# Bandwidth). CALC mode ignores it.
USER_BW_WORDS = 10
MODES = {"calc": "CALC", "user": "USER", "user-fixed": "USER"}

COLUMNS = [
    "network",
    "layer",
    "array_rows",
    "array_cols",
    "dataflow",
    "sram_kb",
    "sublayers",
    "total_cycles_incl_prefetch",
    "total_cycles",
    "stall_cycles",
    "compute_cycles",
    "ifmap_sram_reads",
    "filter_sram_reads",
    "ofmap_sram_writes",
    "ifmap_dram_reads",
    "filter_dram_reads",
    "ofmap_dram_writes",
    "layer_cpu_s",
    "config_cpu_s",
]

USER_COLUMNS = COLUMNS[:6] + ["mode", "dram_bw_words"] + COLUMNS[6:]
REFERENCE_CSV = {
    "calc": "scalesim_reference.csv",
    "user": "scalesim_user_reference.csv",
    "user-fixed": "scalesim_user_fixed_reference.csv",
}

CFG = """[general]
run_name = {run}

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {kb}
FilterSramSzkB : {kb}
OfmapSramSzkB : {kb}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {bw}
Dataflow : {df}
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : {bw}
IfmapSRAMBankNum : 10
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : {bw}
FilterSRAMBankNum : 10
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : {mode}
UseRamulatorTrace : False
"""

# Runs inside the SCALE-Sim venv: argv = cfg, layout, outdir, topo files...; prints one JSON line
# per topology file as soon as it finishes (the parent turns these into tqdm progress).
CHILD = r"""
import contextlib, csv, io, json, os, sys, time
from scalesim.scale_sim import scalesim

cfg, layout, outdir, *topos = sys.argv[1:]

def rows(path):
    with open(path) as fh:
        r = [[c.strip() for c in line] for line in csv.reader(fh) if line]
    head = [h for h in r[0] if h]
    return [dict(zip(head, x)) for x in r[1:]]

for topo in topos:
    top = os.path.join(outdir, os.path.basename(topo)[:-4])
    os.makedirs(top, exist_ok=True)
    t0 = time.process_time()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout)
        sim.run_scale(top_path=top)
    cpu = time.process_time() - t0
    run = os.path.join(top, os.listdir(top)[0])
    comp, det = rows(os.path.join(run, "COMPUTE_REPORT.csv")), rows(os.path.join(run, "DETAILED_ACCESS_REPORT.csv"))
    del sim
    print(json.dumps({"topo": topo, "cpu_s": cpu, "compute": comp, "detail": det}), flush=True)
"""


# user-fixed: SCALE-Sim's read buffer with two of its prefetch-window artefacts removed, to
# measure what they cost (an ablation, not a reference): a demanded address is also found in the
# few lines just behind the window (one fold's R x C tile), so a fold that asks for its rows in
# another order than they were prefetched no longer sends the window round the whole matrix;
# and a refill is charged (in words and in cycles) the entries it brings, not a whole half
FIX_PATCH = r"""
import math
from scalesim.memory import read_buffer as _rb

_TILE = int(os.environ["SCALESIM_FOLD_TILE"])
_hit, _new = _rb.read_buffer.active_buffer_hit, _rb.read_buffer.new_prefetch

def _hit_fixed(self, addr):
    if _hit(self, addr):
        return True
    per_set = math.ceil(self.total_size_elems / 100)
    start = self.active_buffer_set_limits[0]
    for k in range(1, math.ceil(_TILE / per_set) + 2):
        if addr in self.hashed_buffer[(start - k) % self.num_lines]:
            return True
    return False

def _new_fixed(self):
    full = self.prefetch_buf_size  # sets both the words charged and the cycles a refill takes
    brought = self.num_prefetch_buf_lines * math.ceil(self.total_size_elems / 100)
    self.prefetch_buf_size = min(full, brought)
    try:
        _new(self)
    finally:
        self.prefetch_buf_size = full

_rb.read_buffer.active_buffer_hit = _hit_fixed
_rb.read_buffer.new_prefetch = _new_fixed
"""


def parse_arrays(specs: list[str]) -> tuple[tuple[int, int], ...]:
    """``["16x16", "32x32"]`` -> ((16, 16), (32, 32)); a malformed one is a one-line error."""
    out = []
    for spec in specs:
        parts = spec.lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise HwsimError(f"--arrays: expected RxC such as 32x32, got {spec!r}")
        out.append((int(parts[0]), int(parts[1])))
    return tuple(out)


def ensure_venv(venv: Path) -> Path:
    """Python of a venv holding scalesim 3.0.0 and numpy < 2; created (pip) if missing."""
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import importlib.metadata as m; print(m.version('scalesim'))"]
    if py.exists():
        got = subprocess.run(check, capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == "3.0.0":
            return py
    print(f"creating {venv} with {SCALESIM_PIN} (numpy<2) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", SCALESIM_PIN, "numpy<2"], check=True)
    got = subprocess.run(check, capture_output=True, text=True)
    if got.returncode != 0 or got.stdout.strip() != "3.0.0":
        raise HwsimError(f"{venv}: scalesim 3.0.0 did not install ({got.stderr.strip()[-200:]})")
    return py


def _int(d: dict[str, str], key: str) -> int:
    return int(float(d[key]))


def run_config(
    py: Path,
    workload: Workload,
    rows: int,
    cols: int,
    df: str,
    work: Path,
    bar: tqdm,
    mode: str = "calc",
) -> list[dict[str, object]]:
    """SCALE-Sim on every layer of ``workload`` for one array/dataflow; one dict per layer."""
    tag = f"{workload.name}_{rows}x{cols}_{df}"
    d = work / tag
    d.mkdir(parents=True)
    cfg = d / "scalesim.cfg"
    cfg.write_text(
        CFG.format(
            run=tag, rows=rows, cols=cols, kb=SRAM_KB, df=df, mode=MODES[mode], bw=USER_BW_WORDS
        )
    )
    layout = d / "layout.csv"
    layout.write_text("Layer name, IFMAP Height, IFMAP Width, Channels,\n")  # header only
    topos = {}
    for i, lyr in enumerate(workload.layers):
        topo = d / f"l{i:03d}.csv"
        write_topology(Workload(name=lyr.name, layers=[lyr]), topo)
        topos[str(topo)] = lyr.name
    child = CHILD
    env = None
    if mode == "user-fixed":
        head, body = CHILD.split("from scalesim.scale_sim import scalesim\n", 1)
        child = head + "from scalesim.scale_sim import scalesim\n" + FIX_PATCH + body
        env = {**os.environ, "SCALESIM_FOLD_TILE": str(rows * cols)}
    cmd = [str(py), "-c", child, str(cfg), str(layout), str(d / "out"), *topos]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    results: list[dict[str, object]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        rec = json.loads(line)
        comp, det = rec["compute"], rec["detail"]
        total_incl = sum(_int(c, "Total Cycles (incl. prefetch)") for c in comp)
        total = sum(_int(c, "Total Cycles") for c in comp)
        stall = sum(_int(c, "Stall Cycles") for c in comp)

        def det_sum(key: str, det: list[dict[str, str]] = det) -> int:
            return sum(_int(x, key) for x in det)

        results.append(
            {
                "network": workload.name,
                "layer": topos[rec["topo"]],
                "array_rows": rows,
                "array_cols": cols,
                "dataflow": df,
                "sram_kb": SRAM_KB,
                **({"mode": mode, "dram_bw_words": USER_BW_WORDS} if mode != "calc" else {}),
                "sublayers": len(comp),
                "total_cycles_incl_prefetch": total_incl,
                "total_cycles": total,
                "stall_cycles": stall,
                "compute_cycles": total - stall,
                "ifmap_sram_reads": det_sum("SRAM IFMAP Reads"),
                "filter_sram_reads": det_sum("SRAM Filter Reads"),
                "ofmap_sram_writes": det_sum("SRAM OFMAP Writes"),
                "ifmap_dram_reads": det_sum("DRAM IFMAP Reads"),
                "filter_dram_reads": det_sum("DRAM Filter Reads"),
                "ofmap_dram_writes": det_sum("DRAM OFMAP Writes"),
                "layer_cpu_s": round(rec["cpu_s"], 3),
            }
        )
        bar.set_description(tag)
        bar.update(1)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0 or len(results) != len(topos):
        raise HwsimError(f"SCALE-Sim failed on {tag}: {err.strip()[-500:]}")
    cpu = round(sum(float(r["layer_cpu_s"]) for r in results), 3)  # type: ignore[arg-type]
    for r in results:
        r["config_cpu_s"] = cpu
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", type=Path, default=Path("/tmp/scalesim-venv"))
    ap.add_argument("--out", type=Path, default=None, help="default: the mode's committed CSV")
    ap.add_argument(
        "--mode",
        choices=sorted(MODES),
        default="calc",
        help="calc: CALC bandwidth (no stalls, scalesim_reference.csv); user: USER bandwidth of"
        f" {USER_BW_WORDS} words/cycle per interface (scalesim_user_reference.csv); user-fixed:"
        " USER with two prefetch-window artefacts of its read buffer removed, an ablation"
        " (scalesim_user_fixed_reference.csv)",
    )
    ap.add_argument("--networks", nargs="+", default=list(NETWORKS), help="names in bench/data")
    ap.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    ap.add_argument(
        "--arrays",
        nargs="+",
        default=None,
        help="RxC array sizes (default: 16x16 32x32 for calc, 32x32 for user: USER mode is"
        " 2-5x slower and 16x16 runs take an hour on a loaded 2-core machine)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="SCALE-Sim processes run at once")
    ap.add_argument(
        "--summary-only",
        action="store_true",
        help="print the SCALE-Sim vs hwsim table for the existing --out CSV and exit",
    )
    ap.add_argument(
        "--probe-refills",
        action="store_true",
        help="run SCALE-Sim USER mode (ws) on two layers with its read buffers instrumented and"
        " print where its DRAM words come from (refills, wrap-arounds); writes nothing",
    )
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = DATA / REFERENCE_CSV[args.mode]
    if args.probe_refills:
        return probe_refills(args.venv)
    if args.summary_only and args.mode != "calc":
        return user_summary(args.out, args.networks, USER_RESULTS[args.mode])
    if args.summary_only:
        return summary_only(args.out, args.networks)
    try:
        if args.out.exists() and not args.force:
            raise HwsimError(f"{args.out}: already exists (use --force to overwrite)")
        nets = [Workload.load(DATA / f"{n}.yaml") for n in args.networks]
        py = ensure_venv(args.venv)
        arrays = parse_arrays(args.arrays) if args.arrays else USER_ARRAYS
        if args.mode == "calc" and not args.arrays:
            arrays = ARRAYS
        configs = [(r, c, df) for (r, c) in arrays for df in DATAFLOWS]
        t0 = time.perf_counter()
        rows: list[dict[str, object]] = []
        with (
            tempfile.TemporaryDirectory(prefix="scalesim-ref-") as tmp,
            tqdm(total=sum(len(w) for w in nets) * len(configs), unit="layer") as bar,
            ThreadPoolExecutor(max(1, args.jobs)) as pool,
        ):
            jobs = [
                pool.submit(run_config, py, w, r, c, df, Path(tmp), bar, args.mode)
                for w in nets
                for r, c, df in configs
            ]
            for job in jobs:  # submission order: the CSV is deterministic
                rows += job.result()
        buf = io.StringIO()
        cols = COLUMNS if args.mode == "calc" else USER_COLUMNS
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(args.out, buf.getvalue())
    except HwsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    print(f"wrote {args.out}: {len(rows)} rows in {wall:.0f} s wall")
    if args.mode != "calc":
        return user_summary(args.out, args.networks, USER_RESULTS[args.mode])
    summarize(rows, nets)
    return 0


def summarize(rows: list[dict[str, object]], nets: list[Workload]) -> None:
    """Side-by-side table: SCALE-Sim vs hwsim compute cycles, and the time each took.

    SCALE-Sim's time is its CPU seconds for the network/config; hwsim's is the time of one
    ``cost_tables`` call over all layers at 8/8 bits (best of 20). Ratios, not absolute seconds,
    are the claim (the machine is shared).
    """
    import yaml

    from hwsim.config import parse_config
    from hwsim.tables import cost_tables

    raw = yaml.safe_load((ROOT / "accel_configs" / "systolic_int8_32x32_ws.yaml").read_text())
    print(
        f"{'network':16s} {'array':>5s} {'df':>2s} {'layers':>6s} {'scalesim_cycles':>15s}"
        f" {'hwsim_cycles':>12s} {'exact':>5s} {'scalesim_cpu_s':>14s} {'hwsim_s':>9s} {'ratio':>9s}"
    )
    for w in nets:
        for r, c, df in [(r, c, df) for (r, c) in ARRAYS for df in DATAFLOWS]:
            sel = {
                str(x["layer"]): x
                for x in rows
                if x["network"] == w.name and int(x["array_rows"]) == r and x["dataflow"] == df  # type: ignore[call-overload]
            }
            if not sel:
                continue
            cfg = parse_config({**raw, "array": {"rows": r, "cols": c, "dataflow": df}})
            best = float("inf")
            for _ in range(20):
                t0 = time.perf_counter()
                got = cost_tables(w, cfg, [8], [8])["compute_cycles"][:, 0, 0]
                best = min(best, time.perf_counter() - t0)
            ref = [int(sel[n]["compute_cycles"]) for n in w.names]  # type: ignore[call-overload]
            exact = sum(int(g) == x for g, x in zip(got, ref))
            cpu = float(next(iter(sel.values()))["config_cpu_s"])  # type: ignore[arg-type]
            print(
                f"{w.name:16s} {r:>2d}x{c:<2d} {df:>2s} {len(ref):6d} {sum(ref):15d}"
                f" {int(got.sum()):12d} {exact:>2d}/{len(ref):<2d} {cpu:14.2f} {best:9.2e}"
                f" {cpu / best:9.0f}x"
            )


USER_RESULTS = {
    "user": ROOT / "bench" / "results" / "scalesim_user.csv",
    "user-fixed": ROOT / "bench" / "results" / "scalesim_user_fixed.csv",
}
STALL_GOAL = 0.20


def user_config(rows: int, cols: int, df: str):
    """hwsim systolic config matched to the SCALE-Sim USER runs: the array and dataflow, 1-byte
    words (8-bit operands and partial sums), three double-buffered SRAMs of ``SRAM_KB`` and one
    DRAM interface of ``USER_BW_WORDS`` bytes/cycle per operand."""
    import yaml

    from hwsim.config import parse_config

    raw = yaml.safe_load((ROOT / "accel_configs" / "systolic_int8_32x32_ws.yaml").read_text())
    mem = dict(raw["memory"])
    for buf in ("weight_buffer", "input_buffer", "output_buffer"):
        mem[buf] = {**mem[buf], "size_kib": SRAM_KB, "double_buffered": True}
    mem["dram"] = {**mem["dram"], "bw_bits_per_cycle": 8 * USER_BW_WORDS}
    mem.update(psum_bits=8, output_bits="a", overlap="max")
    raw.update(
        array={"rows": rows, "cols": cols, "dataflow": df}, memory=mem, dram_ports="per_operand"
    )
    return parse_config(raw, source=f"scalesim-user {rows}x{cols} {df}")


# Runs inside the SCALE-Sim venv: argv = cfg, layout, outdir, topo; SCALE-Sim's read buffer
# instrumented: every refill (new_prefetch) is logged with the demand request that missed, so an
# episode of several refills for one request is the window going round the whole matrix
PROBE_CHILD = r"""
import contextlib, io, json, math, sys
from scalesim.memory import read_buffer as rb
from scalesim.scale_sim import scalesim

cfg, layout, outdir, topo = sys.argv[1:]
stats = {}
orig_new, orig_hit = rb.read_buffer.new_prefetch, rb.read_buffer.active_buffer_hit

def hit(self, addr):
    ok = orig_hit(self, addr)
    if ok:
        self._last = None
    elif getattr(self, "_last", None) != addr:  # a new episode: another address missed
        self._miss, self._last = getattr(self, "_miss", 0) + 1, addr
    return ok

def new_prefetch(self):
    s = stats.setdefault(id(self), {"episodes": {}, "lines": self.num_lines, "brought": 0})
    s["episodes"][self._miss] = s["episodes"].get(self._miss, 0) + 1
    per_set = math.ceil(self.total_size_elems / 100)
    s["brought"] += self.num_prefetch_buf_lines * per_set
    s["charge"] = math.ceil(self.prefetch_buf_size / self.req_gen_bandwidth) * self.req_gen_bandwidth
    return orig_new(self)

rb.read_buffer.active_buffer_hit = hit
rb.read_buffer.new_prefetch = new_prefetch
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout)
    sim.run_scale(top_path=outdir)
    bufs = sim.runner.single_layer_sim_object_list[0].memory_system
names = {id(bufs.ifmap_buf): "ifmap", id(bufs.filter_buf): "filter"}
out = {}
for k, s in stats.items():
    eps = list(s["episodes"].values())
    out[names.get(k, str(k))] = {
        "refills": sum(eps), "wrap_refills": sum(e for e in eps if e > 1),
        "charged_per_refill": s["charge"], "brought": s["brought"],
        "lines": s["lines"],
    }
for k, b in names.items():
    buf = getattr(bufs, b + "_buf")
    rec = out.setdefault(b, {"refills": 0, "wrap_refills": 0})
    rec.update(dram_words=buf.get_num_accesses(), entries=int((buf.fetch_matrix != -1).sum()))
print(json.dumps(out))
"""

PROBE_LAYERS = (
    ("cifar_small_cnn", "fc1"),
    ("cifar_resnet20", "layer1.0.conv1"),
    ("cifar_resnet20", "layer3.0.conv2"),
)


def probe_refills(venv: Path) -> int:
    """SCALE-Sim USER mode, 32x32 ws, on ``PROBE_LAYERS`` with its read buffers instrumented.

    Prints per operand: its DRAM words, the entries of its operand matrix, the refills of the
    circular prefetch window, how many of those came in episodes where one demanded address made
    the window go round the matrix (the address lay just behind the window: a fold asks for its
    rows in another order than they were prefetched), and the words a refill is charged against
    the new entries it brings.
    """
    try:
        py = ensure_venv(venv)
    except HwsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{'layer':30s} {'operand':7s} {'dram_words':>10s} {'entries':>8s} {'refills':>7s}"
        f" {'wrap_refills':>12s} {'charged/refill':>14s} {'new/refill':>10s}"
    )
    with tempfile.TemporaryDirectory(prefix="scalesim-probe-") as tmp:
        for net, layer in PROBE_LAYERS:
            w = Workload.load(DATA / f"{net}.yaml")
            lyr = w.layers[w.names.index(layer)]
            d = Path(tmp) / f"{net}_{layer}"
            d.mkdir()
            cfg = d / "scalesim.cfg"
            cfg.write_text(
                CFG.format(
                    run="probe",
                    rows=32,
                    cols=32,
                    kb=SRAM_KB,
                    df="ws",
                    mode="USER",
                    bw=USER_BW_WORDS,
                )
            )
            layout = d / "layout.csv"
            layout.write_text("Layer name, IFMAP Height, IFMAP Width, Channels,\n")
            topo = d / "t.csv"
            write_topology(Workload(name=layer, layers=[lyr]), topo)
            got = subprocess.run(
                [str(py), "-c", PROBE_CHILD, str(cfg), str(layout), str(d / "out"), str(topo)],
                capture_output=True,
                text=True,
            )
            if got.returncode != 0:
                print(f"error: SCALE-Sim probe failed on {layer}: {got.stderr.strip()[-300:]}")
                return 2
            rec = json.loads(got.stdout.strip().splitlines()[-1])
            for op in ("ifmap", "filter"):
                r = rec[op]
                n = max(r["refills"], 1)
                print(
                    f"{net + ':' + layer:30s} {op:7s} {r['dram_words']:10d} {r.get('entries', 0):8d}"
                    f" {r['refills']:7d} {r['wrap_refills']:12d}"
                    f" {r.get('charged_per_refill', 0):14d} {r.get('brought', 0) / n:10.0f}"
                )
    return 0


def scalesim_accounting(L, df: str, rows: int, cols: int) -> dict[str, np.ndarray]:
    """What SCALE-Sim 3.0.0's USER mode counts for one pass over a layer (words per layer).

    Its read buffers fetch the operand *matrices* the array demands, fold by fold, null entries
    of partial folds included (``compute/systolic_compute_{os,ws,is}.py``,
    ``create_*_prefetch_mat``): ``ifmap_matrix`` and ``filter_matrix`` are those matrices'
    entries (im2col-expanded, duplicates counted), which is what one pass costs it. Its ofmap
    write buffer sends every row fold's partial sums to DRAM (ws, is): ``ofmap_writes``.
    ``*_sweeps``: passes its fold order needs when a matrix exceeds the active half of its
    buffer (the re-fetch mechanism hwsim models, on SCALE-Sim's matrix sizes).
    """
    from hwsim.models.systolic import gemm_mapping

    sr, sc, t = gemm_mapping(L, df)
    fr, fc, g = np.ceil(sr / rows), np.ceil(sc / cols), L.groups
    if df == "ws":  # ifmap: T x (Fr R); filter: (Fc K) x C
        mats = (t * fr * rows, fc * sr * cols)
    elif df == "os":  # ifmap: (Fr K) x R; filter: (Fc K) x C
        mats = (fr * t * rows, fc * t * cols)
    else:  # is: ifmap: (Fc K) x C; filter: (Fr M) x R
        mats = (fc * sr * cols, fr * t * rows)
    # its fold order is column fold outer, row fold inner: the streamed matrix (ws, os: ifmap;
    # is: filter) is swept once per column fold, and re-fetched each time when it exceeds the
    # active half of its buffer; an os filter column fold (K x C) is re-fetched per row fold
    # when it exceeds it
    half = SRAM_KB * 1024 * 0.5  # words (1 byte) in the active half
    i_sweeps = np.where(mats[0] / g > half, fc, 1.0) if df != "is" else 1.0 + 0 * fc
    f_sweeps = np.where(mats[1] / g > half, fc, 1.0) if df == "is" else 1.0 + 0 * fc
    if df == "os":
        f_sweeps = np.where(mats[1] / g / fc > half, fr, 1.0)
    return {
        "ifmap_matrix": g * mats[0],
        "filter_matrix": g * mats[1],
        "ofmap_writes": L.ofmap * (fr if df != "os" else 1.0),
        "ifmap_sweeps": i_sweeps,
        "filter_sweeps": f_sweeps,
    }


def user_summary(path: Path, names: list[str], results: Path = USER_RESULTS["user"]) -> int:
    """USER mode: SCALE-Sim vs hwsim stall and compute cycles and DRAM words (8/8).

    Prints the tables, writes ``results`` (``bench/results/scalesim_user{,_fixed}.csv``). The goal is the stall total
    per network (over its layers and configs) within ``STALL_GOAL``, compute cycles exact; the
    DRAM words are split into what hwsim models and the parts of SCALE-Sim's count that no
    buffer policy produces (see :func:`scalesim_accounting`).
    """
    from hwsim.models.systolic import dram_bits, ifmap_read_elements
    from hwsim.tables import cost_tables

    if not path.is_file():
        print(f"error: {path}: file not found", file=sys.stderr)
        return 2
    with path.open() as fh:
        ref = list(csv.DictReader(fh))
    out: list[dict[str, object]] = []
    print(
        f"{'network':16s} {'array':>5s} {'df':>2s} {'scalesim_stall':>14s} {'hwsim_stall':>11s}"
        f" {'hwsim_given_ss':>14s} {'ss_dram_wds':>12s} {'hw_dram_wds':>11s} {'compute_exact':>13s}"
    )
    per_net: dict[str, list[float]] = {}
    ops: list[tuple] = []
    for name in names:
        w = Workload.load(DATA / f"{name}.yaml")
        L = w.arrays()
        keys = sorted(
            {
                (int(r["array_rows"]), int(r["array_cols"]), r["dataflow"])
                for r in ref
                if r["network"] == name
            }
        )
        for r_, c_, df in keys:
            sel = {
                x["layer"]: x
                for x in ref
                if x["network"] == name
                and int(x["array_rows"]) == r_
                and int(x["array_cols"]) == c_
                and x["dataflow"] == df
            }
            cfg = user_config(r_, c_, df)
            t = cost_tables(w, cfg, [8], [8])
            stall = t["stall_cycles"][:, 0, 0]
            comp = t["compute_cycles"][:, 0, 0]

            def words(
                key: str, sel: dict[str, dict[str, str]] = sel, names: list[str] = w.names
            ) -> np.ndarray:
                return np.array([int(sel[n][key]) for n in names], dtype=float)

            ss, sc = words("stall_cycles"), words("compute_cycles")
            # hwsim's timing model fed SCALE-Sim's own DRAM traffic (8-bit words); SCALE-Sim
            # prefetches the first buffer load before cycle 0, so no fill term
            given = cfg.model.stall_from_traffic(
                sc,
                {
                    "weight_rd": 8 * words("filter_dram_reads"),
                    "ifmap_rd": 8 * words("ifmap_dram_reads"),
                    "psum_rd": np.zeros(len(sc)),
                    "ofmap_wr": 8 * words("ofmap_dram_writes"),
                    "fill": np.zeros(len(sc)),
                },
            )
            # hwsim's DRAM words per operand (8-bit words) and SCALE-Sim's accounting
            d = dram_bits(L, np.float64(8), np.float64(8), cfg.model.params.memory, r_, c_, df)
            acc = scalesim_accounting(L, df, r_, c_)
            hw = {
                "ifmap": d["ifmap_rd"] / 8,
                "filter": d["weight_rd"] / 8,
                "ofmap": (d["ofmap_wr"] + d["psum_rd"]) / 8,
            }
            unique = {"ifmap": ifmap_read_elements(L), "filter": L.weights, "ofmap": L.ofmap}
            ssw = {
                "ifmap": words("ifmap_dram_reads"),
                "filter": words("filter_dram_reads"),
                "ofmap": words("ofmap_dram_writes"),
            }
            one_pass = {
                "ifmap": acc["ifmap_matrix"],
                "filter": acc["filter_matrix"],
                "ofmap": acc["ofmap_writes"],
            }
            sweeps = {
                "ifmap": acc["ifmap_sweeps"] * one_pass["ifmap"],
                "filter": acc["filter_sweeps"] * one_pass["filter"],
                "ofmap": one_pass["ofmap"],
            }
            for op in ("ifmap", "filter", "ofmap"):
                sums = tuple(x[op].sum() for x in (unique, hw, one_pass, sweeps, ssw))
                ops.append((name, df, op, *sums))
            ss_words = sum(v.sum() for v in ssw.values())
            hw_words = t["dram_bytes"][:, 0, 0].sum()  # 8-bit words = bytes
            exact = int(np.sum(comp == sc))
            tot = per_net.setdefault(name, [0.0] * 5)
            for j, v in enumerate((ss.sum(), stall.sum(), given.sum(), exact, len(sc))):
                tot[j] += v
            print(
                f"{name:16s} {r_:>2d}x{c_:<2d} {df:>2s} {ss.sum():14.0f} {stall.sum():11.0f}"
                f" {given.sum():14.0f} {ss_words:12.0f} {hw_words:11.0f} {exact:>6d}/{len(sc):<6d}"
            )
            for i, n in enumerate(w.names):
                row: dict[str, object] = {
                    "network": name,
                    "layer": n,
                    "array_rows": r_,
                    "array_cols": c_,
                    "dataflow": df,
                    "scalesim_stall_cycles": int(ss[i]),
                    "hwsim_stall_cycles": int(stall[i]),
                    "hwsim_stall_given_scalesim_traffic": int(given[i]),
                    "scalesim_compute_cycles": int(sc[i]),
                    "hwsim_compute_cycles": int(comp[i]),
                }
                for op in ("ifmap", "filter", "ofmap"):
                    row[f"{op}_unique_words"] = int(unique[op][i])
                    row[f"{op}_hwsim_words"] = int(round(hw[op][i]))
                    row[f"{op}_scalesim_one_pass_words"] = int(one_pass[op][i])
                    row[f"{op}_scalesim_fold_sweeps_words"] = int(sweeps[op][i])
                    row[f"{op}_scalesim_words"] = int(ssw[op][i])
                out.append(row)
    print()
    for name, (ss_tot, hw_tot, given_tot, exact, n) in per_net.items():

        def rel(x: float, ss_tot: float = ss_tot) -> str:
            return f"{x / ss_tot - 1:+.1%}" if ss_tot else "n/a"

        def verdict(x: float, ss_tot: float = ss_tot, exact: float = exact, n: float = n) -> str:
            ok = ss_tot > 0 and abs(x / ss_tot - 1) <= STALL_GOAL and exact == n
            return "within" if ok else "not within"

        print(
            f"{name:16s} stall total: SCALE-Sim {ss_tot:.0f}; hwsim {hw_tot:.0f} ({rel(hw_tot)},"
            f" {verdict(hw_tot)} {STALL_GOAL:.0%}); hwsim timing on SCALE-Sim's traffic"
            f" {given_tot:.0f} ({rel(given_tot)}, {verdict(given_tot)} {STALL_GOAL:.0%});"
            f" compute exact on {exact:.0f}/{n:.0f} layer-configs"
        )
    print()
    print(
        "DRAM words by operand (8/8). unique: each element once (inputs: the pixels the kernel"
        " touches); hwsim: with its capacity-driven re-fetch; ss_1pass: what one pass costs"
        " SCALE-Sim (ifmap/filter: its im2col operand matrix with null padding; ofmap: every"
        " row fold's partial sums); ss_fold: ss_1pass x the sweeps its fold order needs when the"
        " matrix exceeds the active half-buffer; scalesim: its count; rest: scalesim / ss_fold"
    )
    print(
        f"{'network':16s} {'df':>2s} {'operand':7s} {'unique':>9s} {'hwsim':>9s} {'ss_1pass':>9s}"
        f" {'ss_fold':>9s} {'scalesim':>9s} {'hw/uniq':>7s} {'1pass/uniq':>10s} {'rest':>6s}"
    )
    for name, df, op, u, h, p1, sw, s_ in ops:
        print(
            f"{name:16s} {df:>2s} {op:7s} {u:9.0f} {h:9.0f} {p1:9.0f} {sw:9.0f} {s_:9.0f}"
            f" {h / u:7.2f} {p1 / u:10.2f} {s_ / sw:6.2f}"
        )
    print()
    for name in per_net:
        sel_ops = [x for x in ops if x[0] == name]
        u, h, p1, sw, s_ = (sum(x[k] for x in sel_ops) for k in range(3, 8))
        print(
            f"{name:16s} all dataflows: SCALE-Sim {s_:.0f} words = unique {u:.0f}"
            f" + one-pass accounting (im2col, null padding, per-fold partial sums) {p1 - u:.0f}"
            f" + fold re-sweeps of matrices over the active half {sw - p1:.0f}"
            f" + the rest (refills charged a whole half, wrap-arounds) {s_ - sw:.0f};"
            f" hwsim {h:.0f} (its re-fetch {h - u:.0f})"
        )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(out[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(out)
    atomic_write_text(results, buf.getvalue())
    print(f"wrote {results}")
    return 0


def summary_only(path: Path, names: list[str]) -> int:
    """Print the comparison table for an existing reference CSV (no SCALE-Sim run)."""
    if not path.is_file():
        print(f"error: {path}: file not found", file=sys.stderr)
        return 2
    with path.open() as fh:
        rows: list[dict[str, object]] = list(csv.DictReader(fh))
    summarize(rows, [Workload.load(DATA / f"{n}.yaml") for n in names])
    return 0


if __name__ == "__main__":
    sys.exit(main())
