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

``tests/test_systolic.py`` compares hwsim against the committed CSV (no SCALE-Sim needed).
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
MODES = {"calc": "CALC", "user": "USER"}

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
REFERENCE_CSV = {"calc": "scalesim_reference.csv", "user": "scalesim_user_reference.csv"}

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
    cmd = [str(py), "-c", CHILD, str(cfg), str(layout), str(d / "out"), *topos]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
        f" {USER_BW_WORDS} words/cycle per interface (scalesim_user_reference.csv)",
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
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = DATA / REFERENCE_CSV[args.mode]
    if args.summary_only and args.mode == "user":
        return user_summary(args.out, args.networks)
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
    if args.mode == "user":
        return user_summary(args.out, args.networks)
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


USER_RESULTS = ROOT / "bench" / "results" / "scalesim_user.csv"
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


def user_summary(path: Path, names: list[str]) -> int:
    """USER mode: SCALE-Sim vs hwsim stall and compute cycles per network and config (8/8).

    Prints the table, writes ``bench/results/scalesim_user.csv``. The claim is the stall total
    per network (over its layers and configs) within ``STALL_GOAL``, compute cycles exact.
    """
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
    refetch: list[tuple] = []
    for name in names:
        w = Workload.load(DATA / f"{name}.yaml")
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
            ss = np.array([int(sel[n]["stall_cycles"]) for n in w.names], dtype=float)
            sc = np.array([int(sel[n]["compute_cycles"]) for n in w.names], dtype=float)

            def words(
                key: str, sel: dict[str, dict[str, str]] = sel, names: list[str] = w.names
            ) -> np.ndarray:
                return np.array([int(sel[n][key]) for n in names], dtype=float)

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
            ss_words = sum(
                words(k).sum()
                for k in ("ifmap_dram_reads", "filter_dram_reads", "ofmap_dram_writes")
            )
            # SCALE-Sim's read buffers prefetch their operand matrix (im2col-expanded for the
            # ifmap) as a circular sequence; when it does not fit they re-fetch whole windows,
            # more than the array ever reads from SRAM
            for op in ("ifmap", "filter"):
                d, s_ = words(f"{op}_dram_reads"), words(f"{op}_sram_reads")
                k = int(np.argmax(d / np.maximum(s_, 1)))
                refetch.append((name, df, op, d.sum() / max(s_.sum(), 1), w.names[k], d[k], s_[k]))
            hw_words = t["dram_bytes"][:, 0, 0].sum()  # 8-bit words = bytes
            exact = int(np.sum(comp == sc))
            acc = per_net.setdefault(name, [0.0] * 6)
            for j, v in enumerate((ss.sum(), stall.sum(), given.sum(), exact, len(sc), 0)):
                acc[j] += v
            print(
                f"{name:16s} {r_:>2d}x{c_:<2d} {df:>2s} {ss.sum():14.0f} {stall.sum():11.0f}"
                f" {given.sum():14.0f} {ss_words:12.0f} {hw_words:11.0f} {exact:>6d}/{len(sc):<6d}"
            )
            for i, n in enumerate(w.names):
                out.append(
                    {
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
                )
    print()
    for name, (ss_tot, hw_tot, given_tot, exact, n, _) in per_net.items():

        def rel(x: float, ss_tot: float = ss_tot) -> str:
            return f"{x / ss_tot - 1:+.1%}" if ss_tot else "n/a"

        good = ss_tot > 0 and abs(given_tot / ss_tot - 1) <= STALL_GOAL and exact == n
        print(
            f"{name:16s} stall total: SCALE-Sim {ss_tot:.0f}; hwsim {hw_tot:.0f} ({rel(hw_tot)});"
            f" hwsim timing on SCALE-Sim's traffic {given_tot:.0f} ({rel(given_tot)},"
            f" {'within' if good else 'not within'} {STALL_GOAL:.0%});"
            f" compute exact on {exact:.0f}/{n:.0f} layer-configs"
        )
    print()
    print("SCALE-Sim's DRAM reads over its own SRAM reads (USER mode; > 1: re-fetched windows)")
    for name, df, op, ratio, worst, d, s_ in refetch:
        print(
            f"{name:16s} {df:>2s} {op:<6s} total {ratio:5.2f}x; worst layer {worst}:"
            f" {d:.0f} DRAM vs {s_:.0f} SRAM words ({d / max(s_, 1):.1f}x)"
        )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(out[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(out)
    atomic_write_text(USER_RESULTS, buf.getvalue())
    print(f"wrote {USER_RESULTS}")
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
