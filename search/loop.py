"""The EdMIPS search loop: weights on SGD, architecture parameters on their own optimizer.

Loss = cross-entropy + lambda * expected_cost / cost_ref (cost_ref = the network at uniform 8/8).
With the default ``converge`` preset (see :data:`search.api.PRESETS`) the first epochs are a
warm-up (weights only, alphas frozen, no cost term); then the alphas train on Adam while their
softmax temperature anneals geometrically toward one-hot and the lambda controller drives the
expected cost to ``setpoint`` x budget, so the distributions end decided and their argmax meets the
budget by itself. The exact knapsack repair of :func:`search.budget.repair` is the safety net;
the summary says whether it changed anything and which layers.
Every epoch: a JSON line in ``search_log.jsonl`` (per-layer probabilities, their entropy, the
expected and the argmax cost) and an atomic checkpoint; ``resume`` restarts from the last
finished epoch and reproduces an uninterrupted run exactly (same seed). Under ``torchrun``
(RANK/WORLD_SIZE set) the model is wrapped in DistributedDataParallel (NCCL on CUDA, gloo on
the CPU; see search/device.py) and rank 0 writes the files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from hwsim import Allocation, load_config
from hwsim.fileio import atomic_write_text
from hwsim.formats import float_layer_format

from .budget import LambdaController, format_cost, parse_target, repair
from .checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    warm_start,
)
from .config import RESUME_FREE, SearchConfig, apply_fpga
from .convert import LayerPolicy, convert_for_search, mixed_layers
from .cost import METRICS, UNITS, HardwareCost, supported_candidates
from .data import load_dataset, train_subset
from .device import (
    autocast,
    check_amp,
    ddp_backend,
    pin,
    resolve_device,
    to_device,
)
from .engine import (
    check_finite,
    dist_env,
    evaluate_model,
    init_distributed,
    make_loader,
    set_lr,
    weight_optimizer,
)
from .errors import SearchError
from .models import model_label, plain_keys, resolve_model
from .trace import trace_workload

CKPT = "checkpoint.pt"
StepCallback = Callable[[int, int, nn.Module], None]


def split_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights, architecture parameters): names containing 'alpha' are architecture."""
    arch = [p for n, p in model.named_parameters() if "alpha" in n]
    weights = [p for n, p in model.named_parameters() if "alpha" not in n]
    return weights, arch


def warmup_epochs(cfg: SearchConfig) -> int:
    """Epochs with frozen alphas and no cost term: ``floor(warmup * epochs)``, leaving >= 1."""
    return min(int(float(cfg.warmup or 0.0) * cfg.epochs), cfg.epochs - 1)


def temperature(cfg: SearchConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Softmax temperature at (epoch, step): ``temp_start`` through the warm-up, then geometric
    to ``temp_end`` at the last step of the last epoch (dimensionless)."""
    warm = warmup_epochs(cfg)
    t0, t1 = float(cfg.temp_start), float(cfg.temp_end)  # type: ignore[arg-type]
    total = max((cfg.epochs - warm) * steps_per_epoch - 1, 1)
    done = (epoch - warm) * steps_per_epoch + step
    frac = min(max(done / total, 0.0), 1.0)
    return t0 * (t1 / t0) ** frac


def arch_optimizer(cfg: SearchConfig, arch: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The alphas' optimizer: Adam (betas 0.5/0.999, no decay, as DARTS) or the paper's SGD."""
    if cfg.arch_optimizer == "adam":
        return torch.optim.Adam(arch, lr=cfg.lra, betas=(0.5, 0.999), weight_decay=0.0)
    return torch.optim.SGD(arch, lr=cfg.lra, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def anneal_progress(cfg: SearchConfig, temp: float) -> float:
    """How far the temperature has annealed: 0 at ``temp_start``, 1 at ``temp_end``."""
    t0, t1 = float(cfg.temp_start), float(cfg.temp_end)  # type: ignore[arg-type]
    if abs(math.log(t1 / t0)) < 1e-12:
        return 0.0
    return min(max(math.log(temp / t0) / math.log(t1 / t0), 0.0), 1.0)


def entropy_term(probs: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Sum over searched layers of H(pi_w) + H(pi_a) in nats (differentiable).

    A sum, not a mean: each layer's tie-break keeps the same weight however deep the network
    (a mean gives each of L layers 1/L of it, and a 20-layer search stays undecided)."""
    h = [-(p * torch.log(p.clamp_min(1e-12))).sum() for pair in probs for p in pair]
    return torch.stack(h).sum()


def entropy(p: np.ndarray) -> float:
    """Shannon entropy of one distribution in bits."""
    q = p[p > 0]
    return float(-(q * np.log2(q)).sum())


# ---- setup shared by the search and its tests ----
class SearchSetup:
    """Model, data, cost and budget of one search, built from a :class:`SearchConfig`."""

    def __init__(self, cfg: SearchConfig, verbose: bool = True) -> None:
        self.cfg = cfg
        if cfg.metric not in METRICS:
            raise SearchError(f"--metric '{cfg.metric}': unknown (known: {', '.join(METRICS)})")
        # target syntax and its metric were checked by SearchConfig
        self.target = parse_target(cfg.target) if cfg.target else None
        if self.target is None and cfg.lam is None:
            raise SearchError("give a budget with --target METRIC=VALUE or a fixed --lambda")
        # the FPGA target (if any) is applied once here: the cost tables see the same design
        # that simulate and emit build from the same config and target
        self.accel = apply_fpga(load_config(cfg.accel), cfg.fpga) if cfg.accel else None
        if self.accel is None and METRICS[cfg.metric].accel_free is None:
            raise SearchError(f"--metric {cfg.metric} needs an accelerator config (--accel FILE)")
        self.w_bits, self.a_bits = supported_candidates(
            self.accel, cfg.w_bits, cfg.a_bits, quiet=not verbose
        )
        self.train_ds, self.test_ds, self.info = load_dataset(
            cfg.data, cfg.data_dir, split_seed=0, augment=cfg.augment
        )
        self.train_ds = train_subset(self.train_ds, cfg.train_subset)
        shape = tuple(self.info["input_shape"])
        self.model = resolve_model(
            cfg.model, cfg.model_args, num_classes=self.info["num_classes"], input_shape=shape
        )
        self.plain_keys = plain_keys(self.model)  # what --weights must hold
        self.workload = trace_workload(self.model, shape, batch=1, name=model_label(cfg.model))
        self.policy = LayerPolicy(first=cfg.first, last=cfg.last)
        self.summary = convert_for_search(
            self.model, self.w_bits, self.a_bits, cfg.family, self.policy
        )
        if verbose:
            print(str(self.summary))
        self.mixed = mixed_layers(self.model)
        if not self.mixed:
            raise SearchError(
                f"model '{cfg.model}': no layer is searched (all float under the layer policy)"
            )
        self.searched = [n for n in self.workload.names if n in self.mixed]
        self.cost = HardwareCost.from_workload(
            self.workload, self.accel, cfg.metric, self.searched, self.w_bits, self.a_bits
        )
        self.budget = self.target.resolve(self.cost) if self.target else None
        if self.budget is not None:
            low = self.cost.minimum()
            if low > self.budget * (1 + 1e-9):
                raise SearchError(
                    f"--target {cfg.target}: infeasible on '{self.accel.name if self.accel else 'bitops'}':"
                    f" the cheapest allocation costs {format_cost(cfg.metric, low)}"
                    f" ({self.cost.to_relative(low):.3f}x of uniform 8/8), the target is"
                    f" {format_cost(cfg.metric, self.budget)}"
                )

    def probs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [self.mixed[n].probs() for n in self.searched]

    def set_temperature(self, t: float) -> None:
        for m in self.mixed.values():
            m.temperature = float(t)

    def prob_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pw [L, nW], pa [L, nA])`` at the current temperature, searched-layer order."""
        with torch.no_grad():
            pr = self.probs()
            pw = np.stack([p[0].detach().double().cpu().numpy() for p in pr])
            pa = np.stack([p[1].detach().double().cpu().numpy() for p in pr])
        return pw, pa

    def argmax_indices(self) -> np.ndarray:
        out = []
        for n in self.searched:
            w, a = self.mixed[n].argmax_bits()
            out.append((self.w_bits.index(int(w)), self.a_bits.index(int(a))))
        return np.asarray(out, dtype=np.int64)

    def log_probs(self) -> tuple[np.ndarray, np.ndarray]:
        pw, pa = self.prob_arrays()
        return np.log(np.maximum(pw, 1e-300)), np.log(np.maximum(pa, 1e-300))

    def to_target(self, value: float) -> float:
        """``value`` as a fraction of the budget, in the terms the target is given in: for a
        relative target the searched layers' relative costs (:meth:`HardwareCost.to_relative`),
        for an absolute one the network's. The one in-band test: ``fill <= to_target <= 1``."""
        assert self.budget is not None and self.target is not None
        if self.target.relative:
            rel = self.cost.to_relative
            return rel(value) / rel(self.budget)
        return value / self.budget

    def uniform_costs(self) -> dict[str, float]:
        """Relative cost (x of uniform 8/8) of every allowed uniform allocation ``"w/a"``."""
        out = {}
        for i, w in enumerate(self.w_bits):
            for j, a in enumerate(self.a_bits):
                if self.cost.allowed[i, j]:
                    out[f"{w}/{a}"] = self.cost.to_relative(self.cost.uniform(i, j))
        return out

    def allocation(self, indices: np.ndarray, meta: dict[str, Any]) -> Allocation:
        bits = {n: float_layer_format().bits for n in self.workload.names}
        for n, (i, j) in zip(self.searched, indices):
            bits[n] = (self.w_bits[int(i)], self.a_bits[int(j)])
        floats = [n for n in self.workload.names if n not in self.mixed]
        return Allocation(bits, floats, meta)

    def bits_of(self, indices: np.ndarray) -> dict[str, list[int]]:
        return {
            n: [self.w_bits[int(i)], self.a_bits[int(j)]]
            for n, (i, j) in zip(self.searched, indices)
        }


def _check_out(cfg: SearchConfig) -> Path:
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise SearchError(f"--out {out}: exists and is not a folder")
    finished = (out / "summary.json").exists()
    if cfg.resume:
        if not (out / CKPT).exists():
            raise SearchError(f"--resume: {out / CKPT} not found (nothing to resume)")
    elif (finished or (out / CKPT).exists()) and not cfg.force:
        raise SearchError(
            f"--out {out}: holds a search already (use --resume to continue or --force to overwrite)"
        )
    elif cfg.force and dist_env()[0] == 0:
        # a fresh run: leave no stale outputs of the old one beside the new ones
        for name in ("summary.json", "allocation.yaml", "search_log.jsonl", CKPT):
            (out / name).unlink(missing_ok=True)
    return out


def _same_experiment(saved: dict[str, Any], cfg: SearchConfig, path: Path) -> None:
    now = cfg.to_dict()
    for k, v in saved.items():
        if k in RESUME_FREE:
            continue
        if now.get(k) != v:
            raise SearchError(
                f"--resume: {path} was made with {k}={v!r}, this run has {k}={now.get(k)!r}"
            )


def run_search(cfg: SearchConfig, callback: StepCallback | None = None) -> dict[str, Any]:
    """Run or resume one search; writes allocation.yaml, search_log.jsonl, summary.json and the
    checkpoint under ``cfg.out`` (rank 0 only). ``callback(epoch, step, model)`` runs after every step
    (tests use it to interrupt a run)."""
    device = resolve_device(cfg.device)
    amp = check_amp(cfg.amp, device)
    rank, world = init_distributed(ddp_backend(device))
    main = rank == 0
    out = _check_out(cfg)
    state = None
    if cfg.resume:
        state = load_checkpoint(out / CKPT, kind="search")
        _same_experiment(state["config"], cfg, out / CKPT)
    seed_everything(cfg.seed)
    setup = SearchSetup(cfg, verbose=main)
    model = setup.model.to(device)
    setup.cost.to(device)
    weights, arch = split_params(model)
    opt_w = weight_optimizer(weights, cfg)
    opt_a = arch_optimizer(cfg, arch)
    # the controller sees the searched layers' relative cost (x of their uniform 8/8 cost): the
    # float layers' constant would otherwise widen or shift its dead band (see to_relative)
    rel = setup.cost.to_relative
    ctl = LambdaController(
        lam=cfg.lam if cfg.lam is not None else 1.0,
        target=None if setup.budget is None else rel(setup.budget) * float(cfg.setpoint),  # type: ignore[arg-type]
        fixed=setup.budget is None,
        interval=cfg.lambda_interval,
        signed=cfg.preset != "paper",
    )
    if ctl.signed and cfg.lam is None:
        ctl.lam = 0.0  # the equality multiplier starts neutral and is learned
    warm = warmup_epochs(cfg)
    start, log = 0, []
    if state is None and cfg.init:
        n = warm_start(model, cfg.init)
        if main and cfg.progress:
            print(f"warm start: {n} tensors from {cfg.init}")
    if state is None and cfg.weights:
        from .models import load_weights

        n = load_weights(model, cfg.weights, setup.plain_keys)
        if main and cfg.progress:
            print(f"starting weights: {n} tensors from {cfg.weights}")
    if state is not None:
        model.load_state_dict(state["model"])
        opt_w.load_state_dict(state["opt_w"])
        opt_a.load_state_dict(state["opt_a"])
        ctl.load_state_dict(state["controller"])
        set_rng_state(state["rng"])
        start, log = int(state["epoch"]), list(state["log"])
        if main:
            print(f"resuming {out} at epoch {start + 1}/{cfg.epochs}")
    net: nn.Module = model
    if dist.is_initialized():
        if main:
            print(f"DistributedDataParallel: {world} process(es), backend {dist.get_backend()}")
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    ce = nn.CrossEntropyLoss()
    if main:
        out.mkdir(parents=True, exist_ok=True)
    for epoch in range(start, cfg.epochs):
        lr_w = set_lr(opt_w, cfg.lr, epoch, cfg.step_epoch)
        if cfg.arch_optimizer == "sgd":  # the paper: alphas on the weights' step schedule
            lr_a = set_lr(opt_a, float(cfg.lra), epoch, cfg.step_epoch)  # type: ignore[arg-type]
        else:
            lr_a = float(cfg.lra)  # type: ignore[arg-type]
        searching = epoch >= warm  # warm-up: alphas frozen, no cost term
        loader = make_loader(
            setup.train_ds,
            cfg.batch_size,
            True,
            cfg.seed,
            epoch,
            cfg.workers,
            world,
            rank,
            pin(cfg.pin_memory, device),
        )
        n_steps = len(loader)
        ctl.period = n_steps
        temp = temperature(cfg, epoch, 0, n_steps)
        net.train()
        sums = {"loss": 0.0, "ce": 0.0, "correct": 0, "n": 0, "cost": 0.0, "steps": 0}
        bar = tqdm(
            loader,
            desc=f"search {epoch + 1}/{cfg.epochs}",
            disable=not (main and cfg.progress),
            leave=False,
        )
        for step, batch in enumerate(bar):
            x, y = to_device(batch, device)
            temp = temperature(cfg, epoch, step, n_steps)
            setup.set_temperature(temp)
            if cfg.arch_optimizer == "adam":
                # the logits are alpha / T: a step of lra * T moves them by at most ~lra however
                # far the temperature has annealed (no late jumps across the budget)
                for g in opt_a.param_groups:
                    g["lr"] = lr_a * temp
            with autocast(device, amp):  # the forward pass only; cost and loss stay float
                logits = net(x).float()
            loss_ce = ce(logits, y)
            probs = setup.probs()
            expected = setup.cost(probs)
            loss = loss_ce
            if searching:
                loss = loss + ctl.lam * (expected / setup.cost.scale).to(loss_ce.dtype)
                if cfg.entropy:
                    ramp = float(cfg.entropy) * anneal_progress(cfg, temp)
                    loss = loss + ramp * entropy_term(probs).to(loss_ce.dtype)
            check_finite(
                loss,
                epoch,
                step,
                "try a smaller --lr or --lra",
                f"; the last checkpoint in {out} is intact",
            )
            opt_w.zero_grad(set_to_none=True)
            opt_a.zero_grad(set_to_none=True)
            loss.backward()
            opt_w.step()
            e = float(expected.detach())
            if searching:
                opt_a.step()
                ctl.update(rel(e))
            b = int(y.numel())
            sums["loss"] += float(loss.detach()) * b
            sums["ce"] += float(loss_ce.detach()) * b
            sums["correct"] += int((logits.argmax(1) == y).sum())
            sums["n"] += b
            sums["cost"] += e
            sums["steps"] += 1
            bar.set_postfix(
                loss=f"{float(loss.detach()):.3f}",
                lam=f"{ctl.lam:.3g}",
                cost=f"{setup.cost.to_relative(e):.3f}x",
            )
            if callback is not None:
                callback(epoch, step, model)
        bar.close()
        idx = setup.argmax_indices()
        with torch.no_grad():
            exp_now = float(setup.cost(setup.probs()))
        pw, pa = setup.prob_arrays()
        rec = {
            "epoch": epoch + 1,
            "lr": lr_w,
            "lra": lr_a,
            "loss": sums["loss"] / max(sums["n"], 1),
            "ce": sums["ce"] / max(sums["n"], 1),
            "train_acc": sums["correct"] / max(sums["n"], 1),
            "test_acc": evaluate_model(
                model, setup.test_ds, workers=cfg.workers, pin_memory=cfg.pin_memory
            ),
            "expected_cost": exp_now,
            "expected_cost_rel": setup.cost.to_relative(exp_now),
            "argmax_bits": setup.bits_of(idx),
            "argmax_cost": setup.cost.discrete(idx),
            "argmax_cost_rel": setup.cost.to_relative(setup.cost.discrete(idx)),
            "lambda": ctl.lam,
            "metric": cfg.metric,
            "steps": sums["steps"],
            "warmup": not searching,
            "candidates": {"w_bits": setup.w_bits, "a_bits": setup.a_bits},
            "temperature": temp,
            "pw": {n: [round(float(v), 6) for v in r] for n, r in zip(setup.searched, pw)},
            "pa": {n: [round(float(v), 6) for v in r] for n, r in zip(setup.searched, pa)},
            "entropy_w": {n: round(entropy(r), 6) for n, r in zip(setup.searched, pw)},
            "entropy_a": {n: round(entropy(r), 6) for n, r in zip(setup.searched, pa)},
            "mean_max_prob": float(np.concatenate([pw.max(1), pa.max(1)]).mean()),
            "min_max_prob": float(np.concatenate([pw.max(1), pa.max(1)]).min()),
        }
        log.append(rec)
        if main:
            save_checkpoint(
                out / CKPT,
                {
                    "kind": "search",
                    "config": cfg.to_dict(),
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "opt_w": opt_w.state_dict(),
                    "opt_a": opt_a.state_dict(),
                    "controller": ctl.state_dict(),
                    "rng": rng_state(),
                    "log": log,
                    "model_name": cfg.model,
                    "input_shape": list(setup.info["input_shape"]),
                    "num_classes": setup.info["num_classes"],
                    "w_bits": setup.w_bits,
                    "a_bits": setup.a_bits,
                },
            )
            atomic_write_text(out / "search_log.jsonl", "".join(json.dumps(r) + "\n" for r in log))
            if cfg.progress:
                tqdm.write(
                    f"epoch {epoch + 1}: loss {rec['loss']:.4f} train {rec['train_acc']:.3f} test {rec['test_acc']:.3f}"
                    f" expected {rec['expected_cost_rel']:.3f}x argmax {rec['argmax_cost_rel']:.3f}x lambda {ctl.lam:.3g}"
                    f" T {temp:.3g} min max-prob {rec['min_max_prob']:.3f}"
                )
    setup.set_temperature(cfg.temp_end if cfg.epochs > warm else cfg.temp_start)  # type: ignore[arg-type]
    summary = finish(setup, out, log, write=main)
    if dist.is_initialized():
        dist.barrier()
    return summary


def finish(
    setup: SearchSetup, out: Path, log: list[dict[str, Any]], write: bool = True
) -> dict[str, Any]:
    """Discretise (argmax, then the exact budget repair) and write the outputs."""
    cfg = setup.cfg
    idx = setup.argmax_indices()
    argmax_idx = idx.copy()
    argmax_cost = setup.cost.discrete(idx)
    rel = setup.cost.to_relative
    repaired = False
    repair_reason = None
    if setup.budget is not None:
        if argmax_cost > setup.budget * (1 + 1e-9):
            repair_reason = "argmax over the budget"
        elif setup.to_target(argmax_cost) < cfg.fill:
            repair_reason = f"argmax under {cfg.fill:g}x the budget"
        if repair_reason is not None:
            lpw, lpa = setup.log_probs()
            new, _ = repair(setup.cost, lpw, lpa, setup.budget, fill=cfg.fill)
            repaired = not np.array_equal(new, idx)
            idx = new
    before, after = setup.bits_of(argmax_idx), setup.bits_of(idx)
    changed = {
        n: {"argmax": before[n], "repaired": after[n]} for n in before if before[n] != after[n]
    }
    pw, pa = setup.prob_arrays()
    maxp = np.concatenate([pw.max(1), pa.max(1)])
    chosen = {tuple(v) for v in after.values()}
    uniform_equal = "/".join(map(str, next(iter(chosen)))) if len(chosen) == 1 else None
    uniform_in_band = []
    if setup.budget is not None:
        uniform_in_band = [
            k
            for k, v in setup.uniform_costs().items()
            if 0.9 <= setup.to_target(setup.cost.from_relative(v)) <= 1 + 1e-9
        ]
    achieved = setup.cost.discrete(idx)
    accel = setup.accel.name if setup.accel else None
    meta = {
        "metric": cfg.metric,
        "target": cfg.target,
        "target_value": setup.budget,
        "achieved": achieved,
        "achieved_rel": setup.cost.to_relative(achieved),
        "reference_8_8": setup.cost.scale,
        "argmax_cost": argmax_cost,
        "repaired": repaired,
        "repair_changed": sorted(changed),
        "accelerator": accel,
        "accel_config": cfg.accel,
        "model": cfg.model,
        "family": cfg.family,
        "lambda": log[-1]["lambda"] if log else cfg.lam,
    }
    alloc = setup.allocation(idx, meta)
    summary = {
        "model": cfg.model,
        "data": cfg.data,
        "accelerator": accel,
        "metric": cfg.metric,
        "unit": UNITS[cfg.metric],
        "target": cfg.target,
        "target_value": setup.budget,
        "achieved": achieved,
        "achieved_text": format_cost(cfg.metric, achieved),
        "achieved_rel": setup.cost.to_relative(achieved),
        "argmax_cost": argmax_cost,
        "argmax_cost_rel": rel(argmax_cost),
        "argmax_to_target": None if setup.budget is None else setup.to_target(argmax_cost),
        "repaired": repaired,
        "repair_reason": repair_reason,
        "repair_changed": changed,
        "mean_max_prob": float(maxp.mean()),
        "min_max_prob": float(maxp.min()),
        "decided": bool(maxp.min() >= 0.9),
        "uniform_equal": uniform_equal,
        "uniform_meets_target": uniform_in_band,
        "final_test_acc_supernet": log[-1]["test_acc"] if log else None,
        "epochs": len(log),
        "world_size": dist_env()[1],
        "allocation": {n: list(b) for n, b in alloc.bits.items()},
        "float_layers": alloc.float_layers,
        "config": cfg.to_dict(),
    }
    if write:
        alloc.save(out / "allocation.yaml")
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        tgt = (
            f" (target {format_cost(cfg.metric, setup.budget)})" if setup.budget is not None else ""
        )
        print(
            f"{cfg.metric}: {format_cost(cfg.metric, achieved)} = {setup.cost.to_relative(achieved):.3f}x of uniform 8/8{tgt};"
            f" {'repaired from the argmax (' + repair_reason + '; layers ' + ', '.join(changed) + ')' if repaired else 'argmax allocation, no repair'};"
            f" mean max-probability {maxp.mean():.3f} (min {maxp.min():.3f}); wrote {out / 'allocation.yaml'}"
        )
        if uniform_equal:
            print(f"note: the searched allocation equals uniform {uniform_equal}")
        if uniform_in_band:
            print(
                f"note: the target is met within 10% by uniform {', '.join(uniform_in_band)};"
                " a mixed allocation is not needed for it"
            )
    return summary
