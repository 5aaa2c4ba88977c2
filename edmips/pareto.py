"""Accuracy against hardware cost over several accelerators: searches, baselines, Pareto fronts.

:func:`run_pareto` runs, for every accelerator and every relative target, an EdMIPS search
against that accelerator followed by the final training of its allocation; trains the uniform
baselines once (their accuracy does not depend on the accelerator); optionally runs BitOps-targeted
searches (the paper's hardware-agnostic cost) at the same relative targets; then simulates EVERY
trained allocation on EVERY accelerator with :func:`hwsim.simulate`.

Outputs in ``out``: ``pareto.md`` / ``pareto.csv`` / ``pareto.json`` (one row per trained
allocation: kind, allocation, top-1, latency in s and energy per inference in pJ on each
accelerator), ``crosscheck.md`` / ``crosscheck.csv`` (on each accelerator B and target, B's own
searched allocation next to the allocations searched for the other accelerators and for BitOps),
and per accelerator ``<accel>_acc_vs_latency.png`` / ``<accel>_acc_vs_energy.png`` with the
Pareto front. Sub-runs live in ``out/runs/<name>/{search,train}``; finished ones are skipped when
the command is run again (an interrupted search resumes from its checkpoint).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from tqdm import tqdm

from hwsim import Allocation, load_config, parse_bits, simulate
from hwsim.errors import HwsimError
from hwsim.fileio import atomic_write_text
from hwsim.metrics import COSTS, bitops
from search.api import search, train
from search.config import (
    BitList,
    DeviceFields,
    NetworkConfig,
    PositiveInt,
    SearchConfig,
    TrainConfig,
)
from search.convert import LayerPolicy, convert_for_search, mixed_layers
from search.cost import HardwareCost, supported_candidates
from search.data import load_dataset
from search.models import resolve_model
from search.trace import trace_workload
from search.train import uniform_allocation

from .experiment import accel_key
from .plots import Point, plot_accuracy_vs_cost

CONFIG_FILE = "pareto_config.json"
# keys of ParetoConfig whose change makes finished sub-runs of an output folder stale
SAME_KEYS = (
    "model",
    "model_args",
    "data",
    "data_dir",
    "metric",
    "family",
    "first",
    "last",
    "search_epochs",
    "train_epochs",
    "train_subset",
    "batch_size",
    "seed",
)


class ParetoError(HwsimError):
    """A user mistake in the input of ``edmips pareto`` (printed as one line, exit 2)."""


class ParetoConfig(NetworkConfig, DeviceFields):
    """One accuracy-vs-cost study: the network fields of :class:`search.config.NetworkConfig`
    (model, data, family, layer policy, train subset, batch size, seed: passed unchanged to every
    search and training, see :meth:`search_config` / :meth:`train_config`) plus the study's own.
    Targets are fractions (``"0.5x"``) of the searched layers' cost at uniform 8/8 on each
    accelerator, as ``edmips search --target latency=0.5x`` reads them (float first/last layers
    are a constant outside the fraction); a target that an accelerator cannot reach is skipped
    there. Epochs are counts; ``train_subset`` is a number of training images."""

    accels: list[str] = Field(
        description="accelerator config; repeat for each accelerator (e.g."
        " accel_configs/stripes.yaml)"
    )
    metric: str = Field("latency", description="hardware cost the searches target")
    targets: list[str] = Field(
        default_factory=lambda: ["0.4x", "0.6x"],
        description="relative targets: fractions of the searched layers' cost at uniform 8/8 on"
        " each accelerator, as 'edmips search --target' reads them; a target an accelerator"
        " cannot reach is skipped there",
    )
    accel_targets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per-accelerator relative targets replacing --targets on that accelerator"
        " (its config file's stem), for one whose cost moves little with bits; e.g."
        " bitfusion_eyeriss=0.92x,0.96x",
    )
    uniform: list[str] = Field(
        default_factory=lambda: ["2/2", "4/4", "8/8"],
        description="uniform W/A baselines, trained once",
    )
    bitops: bool = Field(
        False,
        description="also search against BitOps (MACs x w x a, the paper's cost) at the same targets",
    )
    w_bits: BitList | None = Field(
        None, description="candidate weight bit-widths of every search (default: edmips search's)"
    )
    a_bits: BitList | None = Field(
        None,
        description="candidate activation bit-widths of every search (default: edmips search's)",
    )
    search_epochs: PositiveInt = Field(6, description="epochs per search")
    train_epochs: PositiveInt = Field(6, description="epochs per final training")
    out: str = Field("runs/pareto", description="output folder")
    force: bool = Field(False, description="start over: delete the sub-runs already in OUT")
    progress: bool = True

    def targets_for(self, key: str) -> list[str]:
        """The relative targets searched on the accelerator ``key`` (``accel_targets`` there,
        else ``targets``)."""
        return list(self.accel_targets.get(key, self.targets))

    def all_targets(self) -> list[str]:
        """Every target some accelerator is searched at, in first-seen order."""
        seen: dict[str, None] = {}
        for a in self.accels:
            seen.update(dict.fromkeys(self.targets_for(accel_key(a))))
        return list(seen)

    def search_config(self, **kw: Any) -> SearchConfig:
        """A sub-run's search: this study's network fields, candidates and search epochs (the
        learning rate steps two thirds of the way through), plus ``kw``."""
        bits = {k: list(v) for k, v in (("w_bits", self.w_bits), ("a_bits", self.a_bits)) if v}
        return SearchConfig(
            **self.network_fields(),
            **self.device_fields(),
            **bits,
            epochs=self.search_epochs,
            step_epoch=_step(self.search_epochs),
            progress=self.progress,
            **kw,
        )

    def train_config(self, **kw: Any) -> TrainConfig:
        """A sub-run's final training (network fields, train epochs), plus ``kw``."""
        return TrainConfig(
            **self.network_fields(),
            **self.device_fields(),
            epochs=self.train_epochs,
            step_epoch=_step(self.train_epochs),
            progress=self.progress,
            **kw,
        )


@dataclass
class SubRun:
    """One trained network of the study: where it lives and how it was obtained."""

    name: str
    kind: str  # "searched-for-<accel>" | "bitops" | "uniform"
    target: str | None  # relative target such as "0.4x" (None for uniform)
    accel: str | None  # accelerator key it was searched for (None: bitops / uniform)
    accel_file: str | None
    bits: str | None = None  # uniform W/A


def _step(epochs: int) -> int:
    """Learning-rate step epoch: two thirds of the way through (at least 1)."""
    return max(1, (2 * epochs + 2) // 3)


def _validate(cfg: ParetoConfig) -> None:
    if not cfg.accels:
        raise ParetoError("give at least one --accel FILE")
    keys = [accel_key(a) for a in cfg.accels]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ParetoError(f"--accel: two files share the name '{dup[0]}' (rename one)")
    for a in cfg.accels:
        if not Path(a).is_file():
            raise ParetoError(f"--accel {a}: file not found")
        load_config(a)  # a bad config raises ConfigError naming the file and key
    if cfg.metric in COSTS and COSTS[cfg.metric].accel_free is not None:
        raise ParetoError(
            f"--metric {cfg.metric}: use --bitops for BitOps searches; --metric is hardware"
        )
    keys = set(keys)
    for k in cfg.accel_targets:
        if k not in keys:
            raise ParetoError(
                f"--accel-targets {k}: no --accel file named '{k}' (names: {', '.join(sorted(keys))})"
            )
    lists = [("--targets", cfg.targets)]
    lists += [(f"--accel-targets {k}", ts) for k, ts in cfg.accel_targets.items()]
    for opt, ts in lists:
        if not ts:
            raise ParetoError(f"{opt}: give at least one relative target such as 0.5x")
        for t in ts:
            try:
                ok = t.endswith("x") and 0 < float(t[:-1]) < float("inf")
            except ValueError:
                ok = False
            if not ok:
                raise ParetoError(
                    f"{opt} '{t}': expected a positive fraction such as 0.5x (of the searched"
                    " layers' cost at uniform 8/8, as in 'edmips search --target latency=0.5x')"
                )
        if len(set(ts)) != len(ts):
            raise ParetoError(f"{opt} {','.join(ts)}: a target is repeated")
    for b in cfg.uniform:
        try:
            parse_bits(b)
        except HwsimError as exc:
            raise ParetoError(f"--uniform '{b}': {exc}") from None


def check_feasible(cfg: ParetoConfig) -> tuple[dict[tuple[str, str], float], Any]:
    """Before any training: which (accelerator key, target) pairs cannot be met (the cheapest
    allocation costs more); returns them with that cheapest relative cost, and the network's
    workload. A target met on no accelerator raises :class:`ParetoError`."""
    defaults = cfg.search_config()
    _, _, info = load_dataset(cfg.data, cfg.data_dir, split_seed=0)
    shape = tuple(info["input_shape"])
    bad: dict[tuple[str, str], float] = {}
    plain = resolve_model(cfg.model, cfg.model_args, info["num_classes"], shape)
    workload = trace_workload(plain, shape, batch=1, name=cfg.model)
    for path in cfg.accels:
        metric = cfg.metric
        acc = load_config(path)
        w, a = supported_candidates(acc, defaults.w_bits, defaults.a_bits, quiet=True)
        model = resolve_model(cfg.model, cfg.model_args, info["num_classes"], shape)
        wl = trace_workload(model, shape, batch=1, name=cfg.model)
        convert_for_search(model, w, a, cfg.family, LayerPolicy(cfg.first, cfg.last))
        mixed = mixed_layers(model)
        searched = [n for n in wl.names if n in mixed]
        cost = HardwareCost.from_workload(wl, acc, metric, searched, w, a)
        low = cost.to_relative(cost.minimum())
        for t in cfg.targets_for(accel_key(path)):
            if low > float(t[:-1]) * (1 + 1e-9):
                bad[(accel_key(path), t)] = low
    for t in cfg.all_targets():
        have = [a for a in cfg.accels if t in cfg.targets_for(accel_key(a))]
        if all((accel_key(a), t) in bad for a in have):
            lows = ", ".join(f"{k} {v:.3f}x" for (k, tt), v in bad.items() if tt == t)
            opt = "--targets" if t in cfg.targets else "--accel-targets"
            raise ParetoError(
                f"{opt} {t}: infeasible for {cfg.metric} on every accelerator (cheapest"
                f" allocations, relative to the searched layers at 8/8: {lows})"
            )
    return bad, workload


def plan(cfg: ParetoConfig, skip: set[tuple[str, str]] | None = None) -> list[SubRun]:
    """The sub-runs of a study in the order they run: hardware searches, BitOps searches (each
    matched to one hardware search), uniform baselines. ``skip``: (accel key, target) pairs that
    are infeasible and get no run."""
    skip = skip or set()
    runs: list[SubRun] = []
    for a in cfg.accels:
        k = accel_key(a)
        for t in cfg.targets_for(k):
            if (k, t) not in skip:
                runs.append(SubRun(f"{k}_{cfg.metric}{t}", f"searched-for-{k}", t, k, a))
    if cfg.bitops:
        for r in list(runs):
            runs.append(
                SubRun(f"bitops-for-{r.accel}{r.target}", "bitops", r.target, r.accel, None)
            )
    for b in cfg.uniform:
        runs.append(SubRun(f"uniform{b.replace('/', '-')}", "uniform", None, None, None, bits=b))
    return runs


def _check_out(cfg: ParetoConfig) -> Path:
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ParetoError(f"--out {out}: exists and is not a folder")
    saved_path = out / CONFIG_FILE
    if cfg.force and out.exists():
        if (out / "runs").exists():
            shutil.rmtree(out / "runs")
        saved_path.unlink(missing_ok=True)
    elif saved_path.exists():
        saved = json.loads(saved_path.read_text())
        now = cfg.to_dict()
        for k in SAME_KEYS:
            if saved.get(k, now.get(k)) != now.get(k):  # keys a study made before lacks: default
                raise ParetoError(
                    f"--out {out}: holds a study made with {k}={saved.get(k)!r}, this run has"
                    f" {k}={now.get(k)!r} (use --force to start over or another --out)"
                )
    elif out.exists() and any(out.iterdir()):
        raise ParetoError(
            f"--out {out}: exists and is not an 'edmips pareto' folder (use --force to write into it)"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved_path, json.dumps(cfg.to_dict(), indent=2) + "\n")
    return out


def allocation_bitops(workload: Any, alloc: Allocation) -> float:
    """BitOps of one inference: sum over layers of MACs x w_bits x a_bits (float layers at the
    8/8 they are costed at), the paper's hardware-agnostic cost."""
    w, a = alloc.arrays(workload)
    return float(bitops(workload.arrays().macs, w, a).sum())


def _search(
    cfg: ParetoConfig,
    run: SubRun,
    folder: Path,
    matched: Path | None = None,
    workload: Any = None,
) -> Path:
    """Run or resume the search of ``run``; returns its allocation file. A BitOps run gets as
    budget the BitOps of the ``matched`` allocation (the hardware search it is compared to)."""
    if (folder / "summary.json").exists():
        return folder / "allocation.yaml"
    metric = cfg.metric
    target = f"{metric}={run.target}"
    if run.kind == "bitops":
        assert matched is not None and workload is not None
        metric = "bitops"
        # the same BitOps budget as the hardware-aware allocation it is compared to
        budget = allocation_bitops(workload, Allocation.load(matched))
        target = f"bitops={budget * (1 + 1e-9):.10g}"
    scfg = cfg.search_config(
        accel=run.accel_file,
        metric=metric,
        target=target,
        out=str(folder),
        resume=(folder / "checkpoint.pt").exists(),
    )
    if scfg.init is None:  # one warm start per model and seed, reused by every sub-run
        from search.warmstart import ensure_warm_start

        scfg.init, _ = ensure_warm_start(scfg, Path(cfg.out) / "warm_start")
    search(scfg)
    return folder / "allocation.yaml"


def _train(cfg: ParetoConfig, run: SubRun, folder: Path, allocation: Path | None) -> dict:
    """Run the final training of ``run`` unless finished; returns its train summary."""
    done = folder / "train_summary.json"
    if done.exists():
        return json.loads(done.read_text())
    tcfg = cfg.train_config(
        allocation=str(allocation) if allocation else None,
        bits=run.bits,
        out=str(folder),
        force=True,  # a model.pt without train_summary.json is an interrupted run of ours
    )
    return train(tcfg)


def _bits_text(alloc: Allocation, names: list[str]) -> str:
    """Compact allocation: ``w/a`` per layer in network order, float layers marked ``f``."""
    parts = []
    for n in names:
        w, a = alloc.bits[n]
        parts.append("f" if n in alloc.float_layers else f"{w}/{a}")
    return " ".join(parts)


def simulate_rows(
    runs: list[SubRun],
    summaries: dict[str, dict[str, Any]],
    accels: list[str],
    wl: Any,
    metric: str = "latency",
) -> list[dict[str, Any]]:
    """One row per trained allocation with top-1 and, per accelerator key, ``latency_s`` (one
    batch-1 inference, s), ``energy_pj`` (per inference, pJ), both relative to uniform 8/8, and
    the searched ``metric``'s network total (``<key>_<metric>``, in its registry unit) where the
    accelerator reports it (e.g. ``fpga_xc7z020_lut``)."""
    first = summaries[runs[0].name]
    configs = {accel_key(a): load_config(a) for a in accels}
    ref = uniform_allocation(wl, "8/8", first["policy"]["first"], first["policy"]["last"])
    ref_tot = {k: simulate(wl, ref, c).totals for k, c in configs.items()}
    rows = []
    for run in runs:
        s = summaries[run.name]
        alloc = Allocation.from_dict(s["allocation"], source=run.name)
        row: dict[str, Any] = {
            "name": run.name,
            "kind": run.kind,
            "target": run.target,
            "bits": run.bits,
            "accel": run.accel,
            "top1": float(s["accuracy"]),
            "allocation_text": _bits_text(alloc, wl.names),
            "bitops": allocation_bitops(wl, alloc),
            "allocation": {n: list(b) for n, b in alloc.bits.items()},
            "float_layers": list(alloc.float_layers),
        }
        for k, c in configs.items():
            tot = simulate(wl, alloc, c).totals
            row[f"{k}_latency_s"] = tot["latency_s"]
            row[f"{k}_energy_pj"] = tot["energy_per_inference_pj"]
            row[f"{k}_latency_rel"] = tot["latency_s"] / ref_tot[k]["latency_s"]
            row[f"{k}_energy_rel"] = (
                tot["energy_per_inference_pj"] / ref_tot[k]["energy_per_inference_pj"]
            )
            if tot.get(COSTS[metric].total) is not None:
                row[f"{k}_{metric}"] = tot[COSTS[metric].total]
        rows.append(row)
    return rows


def crosscheck_rows(rows: list[dict[str, Any]], cfg: ParetoConfig) -> list[dict[str, Any]]:
    """On each accelerator B and target: B's own searched allocation, then those searched for the
    other accelerators and for BitOps, all simulated on B (``vs_own`` = latency / own latency)."""
    out = []
    by = {(r["kind"], r["target"]): r for r in rows}
    by.update({(r["name"], r["target"]): r for r in rows if r["kind"] == "bitops"})
    for b in cfg.accels:
        kb = accel_key(b)
        for t in cfg.targets_for(kb):
            own = by.get((f"searched-for-{kb}", t))
            if own is None:
                continue
            kinds = [f"searched-for-{kb}"]
            kinds += [f"searched-for-{accel_key(a)}" for a in cfg.accels if accel_key(a) != kb]
            if cfg.bitops:
                kinds.append(f"bitops-for-{kb}{t}")
            for kind in kinds:
                r = by.get((kind, t))
                if r is None:
                    continue
                out.append(
                    {
                        "on": kb,
                        "target": t,
                        "allocation": r["name"],
                        "kind": r["kind"],
                        "top1": r["top1"],
                        "latency_s": r[f"{kb}_latency_s"],
                        "energy_pj": r[f"{kb}_energy_pj"],
                        "latency_rel_8_8": r[f"{kb}_latency_rel"],
                        "latency_vs_own": r[f"{kb}_latency_s"] / own[f"{kb}_latency_s"],
                        "energy_vs_own": r[f"{kb}_energy_pj"] / own[f"{kb}_energy_pj"],
                    }
                )
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(h for _, h in cols) + " |\n"
    sep = "|" + "|".join("---" for _ in cols) + "|\n"
    body = "".join("| " + " | ".join(_fmt(r.get(k)) for k, _ in cols) + " |\n" for r in rows)
    return head + sep + body


def _csv(rows: list[dict[str, Any]], keys: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys)
    for r in rows:
        w.writerow([r.get(k) for k in keys])
    return buf.getvalue()


def main_columns(cfg: ParetoConfig) -> list[tuple[str, str]]:
    """(key, header) of the main table."""
    cols = [("name", "run"), ("kind", "kind"), ("top1", "top-1")]
    for a in cfg.accels:
        k = accel_key(a)
        cols += [
            (f"{k}_latency_s", f"{k} latency (s)"),
            (f"{k}_latency_rel", f"{k} latency / net 8-8"),
            (f"{k}_energy_pj", f"{k} energy (pJ)"),
        ]
        if cfg.metric not in ("latency", "energy"):
            cols.append((f"{k}_{cfg.metric}", f"{k} {cfg.metric} ({COSTS[cfg.metric].total_unit})"))
    cols.append(("allocation_text", "allocation (w/a per layer, f = float)"))
    return cols


CROSS_COLS = [
    ("on", "simulated on"),
    ("target", "target"),
    ("allocation", "allocation"),
    ("kind", "kind"),
    ("top1", "top-1"),
    ("latency_s", "latency (s)"),
    ("latency_rel_8_8", "latency / 8-8"),
    ("latency_vs_own", "latency / own"),
    ("energy_pj", "energy (pJ)"),
    ("energy_vs_own", "energy / own"),
]


def write_outputs(
    out: Path,
    cfg: ParetoConfig,
    rows: list[dict[str, Any]],
    cross: list[dict[str, Any]],
    infeasible: dict[str, float] | None = None,
) -> list[Path]:
    """Tables (md, csv, json) and per-accelerator accuracy-vs-cost plots; returns the paths.
    ``infeasible``: ``"accel@target"`` -> the cheapest allocation's relative cost there."""
    cols = main_columns(cfg)
    csv_keys = [k for k, _ in cols if k != "allocation_text"] + ["target", "allocation_text"]
    files = [out / "pareto.md", out / "pareto.csv", out / "pareto.json"]
    head = (
        f"# {cfg.model} on {cfg.data}: accuracy vs {cfg.metric}\n\n"
        f"search {cfg.search_epochs} epochs, final training {cfg.train_epochs} epochs,"
        f" train subset {cfg.train_subset or 'all'}, family {cfg.family}, seed {cfg.seed}."
        " Latency: one batch-1 inference; energy per inference.\n\n"
    )
    atomic_write_text(files[0], head + _table(rows, cols))
    atomic_write_text(files[1], _csv(rows, csv_keys))
    atomic_write_text(
        files[2],
        json.dumps(
            {
                "config": cfg.to_dict(),
                "rows": rows,
                "crosscheck": cross,
                "infeasible": infeasible or {},
            },
            indent=2,
        )
        + "\n",
    )
    atomic_write_text(
        out / "crosscheck.md",
        "# Allocations searched for one accelerator, simulated on another\n\n"
        "`/ own`: divided by the allocation searched for the accelerator it runs on"
        " (same target).\n\n" + _table(cross, CROSS_COLS),
    )
    atomic_write_text(out / "crosscheck.csv", _csv(cross, [k for k, _ in CROSS_COLS]))
    files += [out / "crosscheck.md", out / "crosscheck.csv"]
    for a in cfg.accels:
        k = accel_key(a)
        plots = [("latency", "us", "latency_s", 1e6), ("energy", "nJ", "energy_pj", 1e-3)]
        if cfg.metric not in ("latency", "energy"):
            plots.append((cfg.metric, COSTS[cfg.metric].total_unit, cfg.metric, 1.0))
        for metric, unit, key, scale in plots:
            pts = []
            for r in rows:
                if r.get(f"{k}_{key}") is None:
                    continue
                kind = r["kind"]
                if kind == f"searched-for-{k}":
                    kind, label = "searched", r["target"]
                elif kind == "uniform":
                    label = r["bits"]
                elif kind == "bitops":
                    label = f"for {r['accel']} {r['target']}"
                else:
                    label = r["target"]
                pts.append(Point(label, kind, r["top1"], r[f"{k}_{key}"] * scale))
            path = out / f"{k}_acc_vs_{metric}.png"
            plot_accuracy_vs_cost(
                pts,
                path,
                xlabel=f"{metric} on {k} ({unit})",
                title=f"{cfg.model} / {cfg.data} on {k}",
            )
            files.append(path)
    return files


def run_pareto(cfg: ParetoConfig) -> dict[str, Any]:
    """Run (or resume) the study; returns ``{"rows", "crosscheck", "files", "skipped", "ran",
    "infeasible"}`` (``skipped``: sub-runs finished before; ``infeasible``: "accel@target")."""
    _validate(cfg)
    bad, workload = check_feasible(cfg)
    for (k, t), low in bad.items():
        print(f"notice: target {t} is infeasible on {k} (cheapest {low:.3f}x): no search there")
    out = _check_out(cfg)
    runs = plan(cfg, set(bad))
    summaries: dict[str, dict[str, Any]] = {}
    allocs: dict[str, Path] = {}
    skipped, ran = [], []
    bar = tqdm(runs, desc="pareto runs", disable=not cfg.progress)
    for run in bar:
        bar.set_postfix_str(run.name)
        folder = out / "runs" / run.name
        if (folder / "train" / "train_summary.json").exists():
            skipped.append(run.name)
        else:
            ran.append(run.name)
        alloc = None
        if run.kind != "uniform":
            matched = allocs.get(f"{run.accel}_{cfg.metric}{run.target}")
            alloc = _search(cfg, run, folder / "search", matched, workload)
            allocs[run.name] = alloc
        summaries[run.name] = _train(cfg, run, folder / "train", alloc)
        if cfg.progress:
            tqdm.write(f"{run.name}: top-1 {summaries[run.name]['accuracy'] * 100:.2f}%")
    bar.close()
    rows = simulate_rows(runs, summaries, cfg.accels, workload, cfg.metric)
    cross = crosscheck_rows(rows, cfg)
    files = write_outputs(out, cfg, rows, cross, {f"{k}@{t}": low for (k, t), low in bad.items()})
    return {
        "rows": rows,
        "crosscheck": cross,
        "files": files,
        "skipped": skipped,
        "ran": ran,
        "infeasible": [f"{k}@{t}" for k, t in bad],
    }
