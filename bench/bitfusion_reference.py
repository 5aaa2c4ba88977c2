"""hwsim's Bit Fusion model against the public Bit Fusion simulator, layer by layer.

Reference: the simulator released with Sharma et al., "Bit Fusion: Bit-Level Dynamically
Composable Architecture for Accelerating Deep Neural Networks", ISCA 2018
(https://github.com/hsharma35/bitfusion). For every layer its own tiling and loop-order search
(``optimizer.optimize_for_order``, then ``optimizer.get_stats_fast`` on the winner, exactly what
``Simulator.get_conv_cycles`` does) is run on the Eyeriss-comparison configuration
(``bf_e_conf.ini``, our ``accel_configs/bitfusion_eyeriss.yaml``), with the energy costs of
``Simulator.get_energy_cost`` (its cached CACTI sweep and synthesized core).

Networks: ResNet-18 (3x224x224), ResNet-20 (zoo ``resnet20``, 3x32x32) and ``fmnist_cnn``
(1x28x28), batch 1 and 16, at 9 bit pairs (w, a in {2, 4, 8}); the first conv runs im2col, a
linear layer is the simulator's ``get_FC_cycles`` (a 1x1 conv on a 1x1 output).

    python bench/bitfusion_reference.py                      # compare with the committed CSV
    python bench/bitfusion_reference.py --regen --bitfusion-src DIR [--sim-python PY]

``--regen`` reruns the simulator (DIR: a checkout of hsharma35/bitfusion; PY: a Python 3 with
pandas<2.2 and numpy, e.g. a venv) and rewrites ``bench/results/bitfusion_sim_reference.csv``.
The simulator is Python 2 code; its search runs under Python 3 once, at run time and in a
temporary copy of DIR, the py2-only ``simulator/pipeline.py`` import (unused by the search) is
stubbed, ``ConfigParser`` maps to ``configparser``, the unused ``dnnweaver2`` graph import is a
stub, ``namedtuple(verbose=...)`` is accepted and py2's ordering of dicts in an unused ``min`` is
tolerated. None of its code is kept in this repository.

Without ``--regen`` hwsim is compared with the committed reference: per network, batch and bit
pair the totals of cycles, DRAM traffic and energy (error in %), then the per-layer worst case,
and the energy saving of 4/4 and 2/2 over 8/8 from both. ``bench/results/bitfusion_vs_sim.csv``
gets every layer from both. Exit status 1 when a network total is outside the tolerances
(cycles 2%, DRAM 3%, energy 3%).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF_CSV = ROOT / "bench" / "results" / "bitfusion_sim_reference.csv"
CMP_CSV = ROOT / "bench" / "results" / "bitfusion_vs_sim.csv"
CONFIG = ROOT / "accel_configs" / "bitfusion_eyeriss.yaml"
NETWORKS = {"resnet18": (3, 224, 224), "resnet20": (3, 32, 32), "fmnist_cnn": (1, 28, 28)}
BATCHES = (1, 16)
BITS = (2, 4, 8)
TOL = {"cycles": 0.02, "dram_bits": 0.03, "energy_pj": 0.03}
KEY = ("network", "batch", "w_bits", "a_bits", "layer")
SHAPE = ("kernel", "out", "stride", "in_ch", "out_ch", "im2col")
SIM = (
    "sim_cycles",
    "sim_stall_cycles",
    "sim_dram_read_bits",
    "sim_dram_write_bits",
    "sim_energy_pj",
    "sim_tiling",
    "sim_order",
)


# ---------------------------------------------------------------------------------------------
# worker: runs inside the simulator's Python (no hwsim import)
# ---------------------------------------------------------------------------------------------
def _load_simulator(src: str):
    """Import the simulator from a temporary copy of ``src`` with the Python 3 shims above."""
    import builtins
    import collections
    import configparser
    import shutil
    import tempfile
    import types

    tmp = tempfile.mkdtemp(prefix="bitfusion_")
    dst = os.path.join(tmp, "bitfusion_repo")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".git"))
    sys.modules["ConfigParser"] = configparser
    for name in ("dnnweaver2", "dnnweaver2.tensorOps", "dnnweaver2.tensorOps.cnn"):
        sys.modules[name] = types.ModuleType(name)
    cnn = sys.modules["dnnweaver2.tensorOps.cnn"]
    cnn.Convolution = type("Convolution", (), {})
    cnn.MatMul = type("MatMul", (), {})

    class _Unused:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("bitfusion pipeline model (py2-only) is not used by the search")

    pipe = types.ModuleType("bitfusion.src.simulator.pipeline")
    pipe.PipeStage = pipe.Pipeline = _Unused
    sys.modules[pipe.__name__] = pipe
    real_nt = collections.namedtuple

    def namedtuple(*args, verbose=None, **kwargs):
        kwargs.setdefault("module", sys._getframe(1).f_globals["__name__"])
        return real_nt(*args, **kwargs)

    sys.path.insert(0, dst)
    os.chdir(dst)  # get_energy_cost reads ./results/systolic_array_synth.csv
    collections.namedtuple = namedtuple
    try:
        import bitfusion.src.optimizer.optimizer as opt
        from bitfusion.src.simulator.simulator import Simulator
    finally:
        collections.namedtuple = real_nt

    def py2_min(*args, **kwargs):  # its unused min() over tiling dicts relied on py2 ordering
        try:
            return builtins.min(*args, **kwargs)
        except TypeError:
            return list(args[0])[0]

    opt.min = py2_min
    return opt, Simulator


def worker(src: str, out_path: str) -> None:
    """Read jobs (JSON list) from stdin, run the simulator's search, write JSON results to
    ``out_path`` (its own prints go to stderr)."""
    import warnings

    warnings.simplefilter("ignore")
    jobs = json.load(sys.stdin)
    sys.stdout = sys.stderr  # the simulator prints (e.g. that no CACTI binary is present)
    opt, Simulator = _load_simulator(src)
    sim = Simulator(config_file="bf_e_conf.ini", verbose=False)
    costs = sim.get_energy_cost()
    out = []
    for i, j in enumerate(jobs):
        params = (sim.accelerator, j["kernel"], j["out"], j["stride"], j["in_ch"], j["out_ch"])
        params += (j["batch"], j["a_bits"], j["w_bits"], bool(j["im2col"]), costs)
        # Simulator.get_conv_cycles, keeping the winning tiling and order
        _, tiling, order = opt.optimize_for_order(params)
        st = opt.get_stats_fast(params, tiling, order)
        out.append(
            {
                "sim_cycles": st.total_cycles,
                "sim_stall_cycles": st.mem_stall_cycles,
                "sim_dram_read_bits": st.reads["dram"],
                "sim_dram_write_bits": st.writes["dram"],
                "sim_energy_pj": st.get_energy(costs) * 1e3,  # the simulator counts nJ
                "sim_tiling": " ".join(f"{k}={tiling[k][1]}" for k in sorted(tiling)),
                "sim_order": ">".join(order),
            }
        )
        print(f"  {i + 1}/{len(jobs)}", file=sys.stderr, flush=True)
    per_bit = {k: v * 1e3 for k, v in costs._asdict().items()}  # nJ -> pJ (per bit; core per cycle)
    with open(out_path, "w") as fh:
        json.dump({"energy_costs_pj": per_bit, "results": out}, fh)


# ---------------------------------------------------------------------------------------------
# hwsim side
# ---------------------------------------------------------------------------------------------
def workloads():
    """(network, batch) -> hwsim Workload traced from the search zoo."""
    sys.path.insert(0, str(ROOT))
    from search.trace import trace_workload
    from search.zoo import build_model

    out = {}
    for net, shape in NETWORKS.items():
        model = build_model(net)
        for b in BATCHES:
            out[net, b] = trace_workload(model, shape, batch=b, name=net)
    return out


def layer_shape(lyr, first: bool) -> dict[str, int]:
    """The simulator's view of a layer: square kernel K, square output O, stride S."""
    if lyr.kind == "linear":
        return {"kernel": 1, "out": 1, "stride": 1, "in_ch": lyr.in_channels,
                "out_ch": lyr.out_channels, "im2col": 0}  # fmt: skip
    kh, kw = lyr.kernel
    oh, ow = lyr.out_hw
    if kh != kw or oh != ow or lyr.stride[0] != lyr.stride[1] or lyr.groups != 1:
        raise SystemExit(f"layer {lyr.name}: the simulator takes square dense convolutions only")
    return {"kernel": kh, "out": oh, "stride": lyr.stride[0], "in_ch": lyr.in_channels,
            "out_ch": lyr.out_channels, "im2col": int(first)}  # fmt: skip


def rows_for(wls) -> list[dict]:
    rows = []
    for (net, b), wl in wls.items():
        first = wl.arrays().is_first
        for w in BITS:
            for a in BITS:
                for k, lyr in enumerate(wl.layers):
                    rows.append({"network": net, "batch": b, "w_bits": w, "a_bits": a,
                                 "layer": lyr.name, **layer_shape(lyr, bool(first[k]))})  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        wr.writeheader()
        wr.writerows(rows)
    os.replace(tmp, path)


def regen(src: str, sim_python: str) -> None:
    rows = rows_for(workloads())
    jkey = ("batch", "w_bits", "a_bits", *SHAPE)
    uniq = sorted({tuple(r[k] for k in jkey) for r in rows})
    jobs = [dict(zip(jkey, u)) for u in uniq]
    print(f"running the Bit Fusion simulator on {len(jobs)} distinct layer/batch/bit cases")
    with tempfile.TemporaryDirectory() as tmp:
        res_path = Path(tmp, "results.json")
        cmd = [sim_python, str(Path(__file__).resolve()), "--worker", str(Path(src).resolve())]
        proc = subprocess.run(
            [*cmd, "--worker-out", str(res_path)],
            input=json.dumps(jobs),
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        if proc.returncode != 0 or not res_path.is_file():
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"bitfusion simulator worker failed (exit {proc.returncode})")
        got = json.loads(res_path.read_text())
    res = dict(zip(uniq, got["results"]))
    for r in rows:
        r.update(res[tuple(r[k] for k in jkey)])
    write_csv(REF_CSV, rows, [*KEY, *SHAPE, *SIM])
    print("simulator energy costs (pJ per bit; core pJ per cycle):")
    for k, v in got["energy_costs_pj"].items():
        print(f"  {k:<22}{v!r}")
    print(f"wrote {REF_CSV.relative_to(ROOT)} ({len(rows)} rows)")


def read_reference() -> list[dict]:
    with REF_CSV.open() as fh:
        return list(csv.DictReader(fh))


def hwsim_costs(wls) -> dict[tuple, dict[str, float]]:
    """(network, batch, w, a, layer) -> hwsim cycles, DRAM bits, energy (pJ)."""
    import hwsim

    cfg = hwsim.load_config(CONFIG)
    out = {}
    for (net, b), wl in wls.items():
        t = hwsim.cost_tables(wl, cfg, list(BITS), list(BITS))
        for i, w in enumerate(BITS):
            for j, a in enumerate(BITS):
                for k, lyr in enumerate(wl.layers):
                    out[net, b, w, a, lyr.name] = {
                        "cycles": float(t["cycles"][k, i, j]),
                        "dram_bits": float(t["dram_bytes"][k, i, j]) * 8.0,
                        "energy_pj": float(t["energy_pj"][k, i, j]),
                    }
    return out


def compare() -> int:
    ref = read_reference()
    hw = hwsim_costs(workloads())
    rows, groups = [], {}
    for r in ref:
        key = (r["network"], int(r["batch"]), int(r["w_bits"]), int(r["a_bits"]), r["layer"])
        h = hw[key]
        s = {
            "cycles": float(r["sim_cycles"]),
            "dram_bits": float(r["sim_dram_read_bits"]) + float(r["sim_dram_write_bits"]),
            "energy_pj": float(r["sim_energy_pj"]),
        }
        row = {k: r[k] for k in KEY}
        for m in TOL:
            row[f"sim_{m}"] = f"{s[m]:.6g}"
            row[f"hwsim_{m}"] = f"{h[m]:.6g}"
            row[f"err_{m}_pct"] = f"{100 * (h[m] / s[m] - 1):.3f}"
        rows.append(row)
        groups.setdefault(key[:4], []).append((key[4], s, h))
    fields = [*KEY] + [f"{p}_{m}" for m in TOL for p in ("sim", "hwsim")]
    fields += [f"err_{m}_pct" for m in TOL]
    write_csv(CMP_CSV, rows, fields)

    print("Bit Fusion (bitfusion_eyeriss) vs the public simulator: network totals, hwsim/sim - 1")
    head = f"{'network':<11}{'B':>3}{'w/a':>6}{'cycles':>9}{'DRAM':>9}{'energy':>9}   worst layer"
    print(head)
    print("-" * (len(head) + 40))
    worst_tot = dict.fromkeys(TOL, (0.0, None))
    worst_lyr = dict.fromkeys(TOL, (0.0, None))
    fails = 0
    totals = {}
    for g, items in groups.items():
        tot = {m: (sum(s[m] for _, s, _ in items), sum(h[m] for _, _, h in items)) for m in TOL}
        totals[g] = tot
        err = {m: tot[m][1] / tot[m][0] - 1 for m in TOL}
        lw = max(
            ((abs(h[m] / s[m] - 1), m, n, h[m] / s[m] - 1) for n, s, h in items for m in TOL),
            key=lambda x: x[0],
        )
        for m in TOL:
            if worst_tot[m][1] is None or abs(err[m]) > abs(worst_tot[m][0]):
                worst_tot[m] = (err[m], g)
            for n, s, h in items:
                e = h[m] / s[m] - 1
                if worst_lyr[m][1] is None or abs(e) > abs(worst_lyr[m][0]):
                    worst_lyr[m] = (e, (*g, n))
        bad = any(abs(err[m]) > TOL[m] for m in TOL)
        fails += bad
        print(
            f"{g[0]:<11}{g[1]:>3}{g[2]:>4}/{g[3]}"
            + "".join(f"{100 * err[m]:>+8.2f}%" for m in TOL)
            + f"   {lw[2]} {lw[1]} {100 * lw[3]:+.1f}%"
            + ("   OUT OF TOLERANCE" if bad else "")
        )
    print()
    for m in TOL:
        e, g = worst_tot[m]
        el, gl = worst_lyr[m]
        print(
            f"{m:<10} worst network total {100 * e:+.2f}% ({g[0]} B{g[1]} {g[2]}/{g[3]}),"
            f" tolerance {100 * TOL[m]:.0f}%; worst layer {100 * el:+.1f}%"
            f" ({gl[0]} B{gl[1]} {gl[2]}/{gl[3]} {gl[4]})"
        )
    same = {m: sum(float(r[f"hwsim_{m}"]) == float(r[f"sim_{m}"]) for r in rows) for m in TOL}
    rel = max(abs(float(r["err_energy_pj_pct"])) for r in rows)
    print(
        f"layers equal to the simulator: cycles {same['cycles']}/{len(rows)},"
        f" DRAM bits {same['dram_bits']}/{len(rows)}; largest energy difference {rel:.1e}%"
    )
    print()
    print("energy saving over 8/8 (network totals), simulator vs hwsim")
    for net in NETWORKS:
        for b in BATCHES:
            base = totals[net, b, 8, 8]["energy_pj"]
            parts = []
            for q in (4, 2):
                t = totals[net, b, q, q]["energy_pj"]
                parts.append(
                    f"{q}/{q}: {100 * (1 - t[0] / base[0]):5.1f}% vs {100 * (1 - t[1] / base[1]):5.1f}%"
                )
            print(f"  {net:<11} B{b:<3} " + "   ".join(parts))
    print(f"\nwrote {CMP_CSV.relative_to(ROOT)}; {fails} of {len(groups)} totals out of tolerance")
    return 1 if fails else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--regen", action="store_true", help="rerun the simulator, rewrite the CSV")
    ap.add_argument("--bitfusion-src", help="checkout of hsharma35/bitfusion (for --regen)")
    ap.add_argument("--sim-python", default=sys.executable, help="Python that runs it")
    ap.add_argument("--worker", metavar="SRC", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.worker_out)
        return 0
    if args.regen:
        if not args.bitfusion_src or not Path(args.bitfusion_src, "bf_e_conf.ini").is_file():
            print("--regen needs --bitfusion-src DIR (a hsharma35/bitfusion checkout)")
            return 2
        regen(args.bitfusion_src, args.sim_python)
    return compare()


if __name__ == "__main__":
    sys.exit(main())
