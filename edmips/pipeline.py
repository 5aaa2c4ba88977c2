"""``edmips run``: search -> train -> baselines -> simulate -> emit -> report in one run folder.

Layout of a run folder::

    experiment.yaml          the experiment as run
    search/                  allocation.yaml, search_log.jsonl, summary.json, checkpoint.pt
    train/                   model.pt, train_summary.json
    baselines/w<W>a<A>/      model.pt, train_summary.json (one per uniform baseline)
    simulate/                <accel>.json + <accel>.png per accelerator, all.png, costs.json
    firmware/                the verified hls4ml project (emit_report.md, emit.json)
    report.md, plots/        the report and its PNG plots
    .stages/<stage>.json     done-markers: the hash of the config each finished stage ran with

A finished stage whose config hash is unchanged is skipped; a changed one is an error unless
``force``; a stage that runs makes every later stage run again. An interrupted search resumes from
its checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hwsim import Allocation, load_config, plot_reports
from hwsim import simulate as hw_simulate
from hwsim.fileio import atomic_write_text, check_out_dir
from hwsim.fpga_plan import FpgaPlan, make_plan
from search.api import search, train
from search.config import apply_fpga
from search.models import model_label, resolve_model
from search.trace import trace_workload
from search.train import load_trained
from search.zoo import MODELS, build_model

from .cmd_emit import emit
from .experiment import (
    Experiment,
    ExperimentError,
    SimulateConfig,
    accel_key,
    bits_dir,
    config_hash,
)
from .report import write_report

STAGES = ("search", "train", "baselines", "simulate", "emit", "report")
MARKERS = ".stages"
# the main output of each stage: a done-marker without it counts as unfinished
STAGE_OUTPUT = {
    "search": "search/allocation.yaml",
    "train": "train/model.pt",
    "simulate": "simulate/costs.json",
    "emit": "firmware/emit.json",
    "report": "report.md",
}


# ---- stage: simulate ----
PLAN_ALLOCATION = "allocation.yaml"  # in the simulate folder: the allocation with its FPGA plans


def fpga_plan(wl: Any, alloc: Allocation, config: Any) -> FpgaPlan:
    """The FPGA plan of ``alloc`` on ``config``: the one stored with the allocation, else the
    one hwsim's FPGA model computes (what the search's cost tables costed)."""
    stored = alloc.fpga_plans.get(config.name)
    return stored if stored is not None else make_plan(wl, alloc, config)


def _workload_and_allocation(cfg: SimulateConfig) -> tuple[Any, Allocation]:
    if cfg.model_file:
        _, alloc, meta = load_trained(cfg.model_file)
        zoo = meta["zoo_args"]
        shape = tuple(zoo["input_shape"])
        model = resolve_model(
            meta["model_name"],
            meta.get("model_args"),
            num_classes=int(zoo["num_classes"]),
            input_shape=shape,
        )
        name = model_label(meta["model_name"])
    else:
        if not cfg.model or not cfg.allocation:
            raise ExperimentError("simulate: give model_file, or model with allocation")
        if cfg.model not in MODELS:
            raise ExperimentError(f"simulate.model: '{cfg.model}' unknown")
        alloc = Allocation.load(cfg.allocation)
        name, shape = cfg.model, MODELS[cfg.model].input_shape
        model = build_model(name)
    wl = trace_workload(model, shape, batch=cfg.batch, name=name)
    alloc.validate(wl)
    return wl, alloc


def simulate(cfg: SimulateConfig) -> dict[str, Any]:
    """Simulate the network on every config in ``cfg.accels``; write one JSON report and one PNG
    per accelerator, ``all.png`` side by side and ``summary.json`` (totals per accelerator:
    latency in s, energy per inference in pJ, ...). FPGA configs are taken under ``cfg.fpga``
    (the experiment's throughput target). Returns ``{accel key: hwsim Report}``."""
    if not cfg.accels:
        raise ExperimentError("simulate.accels: empty (list accelerator config files)")
    out = Path(cfg.out)
    if (out / "summary.json").exists() and not cfg.force:
        raise ExperimentError(f"{out}: holds a simulation already (use --force to overwrite)")
    wl, alloc = _workload_and_allocation(cfg)
    reports = {}
    for path in tqdm(cfg.accels, desc="simulate", leave=False, disable=not cfg.progress):
        key = accel_key(path)
        if key in reports:
            raise ExperimentError(f"simulate.accels: '{path}': two configs named '{key}'")
        config = apply_fpga(load_config(path), cfg.fpga)
        if config.type == "fpga_dataflow":  # simulate the FPGA plan, and store it
            plan = fpga_plan(wl, alloc, config)
            alloc = alloc.with_plan(plan)
            config = plan.as_config(config)
        rep = hw_simulate(wl, alloc, config)
        rep.to_json(out / f"{key}.json")
        rep.plot(out / f"{key}.png")
        reports[key] = rep
    plot_reports(list(reports.values()), out / "all.png")
    if alloc.fpga_plans:
        alloc.save(out / PLAN_ALLOCATION)
    summary = {
        "workload": wl.name,
        "accels": {
            k: {"config": p, "totals": reports[k].totals} for k, p in zip(reports, cfg.accels)
        },
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return reports


# ---- the run ----
@dataclass
class RunResult:
    """What :func:`run` did: the run folder, the stages it ran and those it skipped."""

    out: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Run:
    def __init__(self, exp: Experiment, out: Path, progress: bool, search_callback: Any) -> None:
        self.exp, self.out, self.progress = exp, out, progress
        self.search_callback = search_callback

    # paths
    def p(self, *parts: str) -> str:
        return str(self.out.joinpath(*parts))

    def stage_config(self, stage: str) -> dict[str, Any]:
        """What a stage's result depends on (its hash decides skip / error / redo)."""
        e = self.exp
        search = e.search_config(self.p("search")).to_dict()
        for k in ("out", "resume", "force", "progress", "workers", "device", "pin_memory"):
            search.pop(k)
        if search.get("fpga") is None:  # keeps the hashes of runs made before the fpga section
            search.pop("fpga", None)
        train = e.train_config(self.p("train")).to_dict()
        for k in (
            "out",
            "force",
            "progress",
            "workers",
            "device",
            "pin_memory",
            "allocation",
            "bits",
        ):
            train.pop(k)
        cfg: dict[str, Any] = {"search": search, "files": {}}
        accels = [e.search.accel]  # the search (and so every later stage) reads it
        if stage in ("simulate", "report"):
            accels += e.simulate.accels
        if stage in ("emit", "report") and e.emit is not None:
            accels.append(e.emit.accel)
        for a in accels:
            if a:  # an edited accelerator file changes the results of the stages that read it;
                # keyed by file name, so the same experiment run from elsewhere hashes the same
                cfg["files"][Path(a).name] = hashlib.sha256(Path(a).read_bytes()).hexdigest()[:16]
        if stage in ("train", "simulate", "emit", "report"):
            cfg["train"] = train
        if stage in ("baselines", "simulate", "report"):
            cfg["baselines"] = {"train": train, "bits": e.baselines}
        if stage == "baselines":  # uniform networks: independent of the search
            cfg = {"baselines": cfg["baselines"]}
        if stage in ("simulate", "report"):
            cfg["simulate"] = e.simulate.given()
        if stage in ("emit", "report"):
            cfg["emit"] = None if e.emit is None else e.emit.given()
        return cfg

    def marker(self, stage: str) -> Path:
        return self.out / MARKERS / f"{stage}.json"

    def done_hash(self, stage: str) -> str | None:
        m = self.marker(stage)
        main = STAGE_OUTPUT.get(stage)
        if not m.exists() or (main is not None and not (self.out / main).exists()):
            return None
        try:
            return json.loads(m.read_text())["hash"]
        except (json.JSONDecodeError, KeyError):
            return None

    def mark(self, stage: str, h: str, seconds: float) -> None:
        rec = {"stage": stage, "hash": h, "seconds": seconds, "config": self.stage_config(stage)}
        atomic_write_text(self.marker(stage), json.dumps(rec, indent=2) + "\n")

    # stages
    def run_search(self, force: bool) -> None:
        cfg = self.exp.search_config(self.p("search"), progress=self.progress)
        ckpt = Path(self.p("search", "checkpoint.pt"))
        pending = self.out / MARKERS / "search.pending.json"
        same = pending.exists() and json.loads(pending.read_text()).get("hash") == config_hash(
            self.stage_config("search")
        )
        if ckpt.exists() and same and not force:
            cfg.resume = True
        else:
            cfg.force = True
        if cfg.init is None:  # one warm start per model and seed, reused by every target
            from search.warmstart import ensure_warm_start

            cfg.init, _ = ensure_warm_start(cfg, self.out / "warm_start")
        atomic_write_text(pending, json.dumps({"hash": config_hash(self.stage_config("search"))}))
        search(cfg, callback=self.search_callback)

    def run_train(self, force: bool) -> None:
        alloc = self.p("search", "allocation.yaml")
        cfg = self.exp.train_config(self.p("train"), allocation=alloc, progress=self.progress)
        cfg.force = True  # an unfinished (or redone) stage: a model.pt there is a stale one
        train(cfg)

    def run_baselines(self, force: bool) -> None:
        h = config_hash(self.stage_config("baselines"))
        for bits in self.exp.baselines:
            d = self.out / "baselines" / bits_dir(bits)
            sub = d / ".done"
            if not force and sub.exists() and sub.read_text().strip() == h:
                print(f"baseline {bits}: finished already, skipped")
                continue
            print(f"baseline {bits}")
            cfg = self.exp.train_config(str(d), bits=bits, progress=self.progress)
            cfg.force = True  # not marked done: whatever is in its folder is stale
            train(cfg)
            atomic_write_text(sub, h + "\n")

    def run_simulate(self, force: bool) -> None:
        cfg = self.exp.simulate_config(
            self.p("simulate"), self.p("train", "model.pt"), self.progress
        )
        cfg.force = True
        simulate(cfg)
        # costs of every trained network (searched + baselines) on every accelerator, for the
        # accuracy-vs-cost plots; the searched accelerator is included
        paths = list(dict.fromkeys(cfg.accels + [a for a in [self.exp.search.accel] if a]))
        nets = {"searched": self.p("train", "model.pt")}
        nets.update({b: self.p("baselines", bits_dir(b), "model.pt") for b in self.exp.baselines})
        costs: dict[str, Any] = {}
        configs = {accel_key(p): apply_fpga(load_config(p), cfg.fpga) for p in paths}
        for label, mf in nets.items():
            wl, alloc = _workload_and_allocation(SimulateConfig(model_file=mf, batch=cfg.batch))
            acc = json.loads((Path(mf).parent / "train_summary.json").read_text())["accuracy"]
            costs[label] = {
                "model_file": mf,
                "accuracy": acc,
                "totals": {k: hw_simulate(wl, alloc, c).totals for k, c in configs.items()},
            }
        atomic_write_text(self.p("simulate", "costs.json"), json.dumps(costs, indent=2) + "\n")

    def run_emit(self, force: bool) -> None:
        cfg = self.exp.emit_config(self.p("firmware"), self.p("train", "model.pt"), self.progress)
        cfg.force = True  # an unfinished (or forced) stage of this run: its folder is ours
        plans = Path(self.p("simulate", PLAN_ALLOCATION))
        if plans.is_file():  # the model's allocation with the FPGA plans simulate stored
            cfg.alloc = str(plans)
        res = emit(cfg)
        print(res.verify.line() if res.verify else "verify: not run")

    def run_report(self, force: bool) -> None:
        write_report(self.out, self.exp)


def _check_out(out: Path, exp: Experiment, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"--out {out}: exists and is not a folder")
    check_out_dir(out)  # a file on the way to it, or a folder that cannot be written
    foreign = out.is_dir() and any(out.iterdir()) and not (out / "experiment.yaml").exists()
    if foreign and not force:
        raise ExperimentError(
            f"--out {out}: a non-empty folder that is not a run folder (use --force or another --out)"
        )


def run(
    exp: Experiment,
    out: str | os.PathLike,
    force: bool = False,
    stages: Sequence[str] | None = None,
    progress: bool = True,
    search_callback: Callable[[int, int, Any], None] | None = None,
) -> RunResult:
    """Run the experiment's stages into ``out`` (see the module docstring). ``stages``: run only
    these (the ones they need must be finished); ``force``: redo the selected stages."""
    out = Path(out)
    stages = list(stages) if stages else list(STAGES)
    for s in stages:
        if s not in STAGES:
            raise ExperimentError(f"--stages: '{s}' unknown (stages: {', '.join(STAGES)})")
    if exp.emit is None and "emit" in stages:
        stages.remove("emit")
    exp.check(str(out / "experiment.yaml"))
    _check_out(out, exp, force)
    r = _Run(exp, out, progress, search_callback)
    todo = [s for s in STAGES if not (s == "emit" and exp.emit is None)]
    hashes = {s: config_hash(r.stage_config(s)) for s in todo}
    # check everything before touching the folder: a changed config or a missing input is an
    # error up front, not after an hour of earlier stages
    for stage in todo:
        have = r.done_hash(stage)
        if stage not in stages:
            if have is None and any(STAGES.index(s) > STAGES.index(stage) for s in stages):
                raise ExperimentError(
                    f"--stages: stage '{stage}' is not finished in {out}; run it first"
                )
        elif have is not None and have != hashes[stage] and not force:
            raise ExperimentError(
                f"stage '{stage}' in {out} finished with a different config (hash {have}, now"
                f" {hashes[stage]}): use --force to redo it, or another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    exp.save(out / "experiment.yaml")
    result = RunResult(out)
    dirty = False  # an earlier stage ran: every later one must run again
    for stage in todo:
        if stage not in stages:
            continue
        h = hashes[stage]
        if r.done_hash(stage) == h and not force and not dirty:
            print(f"== {stage}: finished already (config {h}), skipped")
            result.skipped.append(stage)
            continue
        print(f"== {stage}")
        t0 = time.perf_counter()
        r.marker(stage).unlink(missing_ok=True)
        getattr(r, f"run_{stage}")(force)
        r.mark(stage, h, time.perf_counter() - t0)
        for later in STAGES[STAGES.index(stage) + 1 :]:
            r.marker(later).unlink(missing_ok=True)
        result.ran.append(stage)
        dirty = True
    return result
