"""One warm-start checkpoint per model, data and seed, trained once and shared by many searches.

A search started from trained weights (``SearchConfig.init``) spends its steps on the allocation
instead of on learning the task. ``edmips run`` and ``edmips pareto`` run searches of the same
network for several targets and accelerators; :func:`ensure_warm_start` trains the network once,
uniform-quantized at the widest candidate widths (the supernet's most accurate member), and every
search reuses that ``model.pt`` through ``--init``. The checkpoint depends only on what the trained
weights depend on (model, data, seed, quantizer family, layer policy, the widest widths, the
training knobs), never on the target, metric or accelerator. It lives in
``FOLDER/<model>_seed<seed>_<hash>/`` beside a ``.done`` marker holding that hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hwsim.fileio import atomic_write_text

from .api import SearchConfig, TrainConfig
from .loop import warmup_epochs
from .train import MODEL_FILE, run_train

DONE = ".done"


def warm_start_config(cfg: SearchConfig, folder: str | Path) -> TrainConfig:
    """The training run of the warm start shared by every search like ``cfg`` (any target,
    metric or accelerator): ``max(warm-up epochs of cfg, 1)`` epochs at uniform
    ``max(w_bits)/max(a_bits)`` with the search's data, seed and weight optimizer settings."""
    w = max(cfg.w_bits or [8])
    a = max(cfg.a_bits)
    key: dict[str, Any] = {
        "model": cfg.model,
        "data": cfg.data,
        "data_dir": cfg.data_dir,
        "bits": f"{w}/{a}",
        "family": cfg.family,
        "first": cfg.first,
        "last": cfg.last,
        "train_subset": cfg.train_subset,
        "epochs": max(warmup_epochs(cfg), 1),
        "lr": cfg.lr,
        "momentum": cfg.momentum,
        "weight_decay": cfg.weight_decay,
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
    }
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    out = Path(folder) / f"{cfg.model}_seed{cfg.seed}_{h}"
    return TrainConfig(
        **key,
        step_epoch=key["epochs"],  # no decay inside the short warm start
        out=str(out),
        force=True,  # reached only when the folder holds no finished warm start
        workers=cfg.workers,
        progress=cfg.progress,
    )


def ensure_warm_start(cfg: SearchConfig, folder: str | Path) -> tuple[str, bool]:
    """``(path of model.pt, trained_now)``: the warm start for searches like ``cfg`` under
    ``folder``, trained now unless a finished one with the same settings is there."""
    tcfg = warm_start_config(cfg, folder)
    out = Path(tcfg.out)
    marker = out / DONE
    tag = out.name
    if marker.exists() and marker.read_text().strip() == tag and (out / MODEL_FILE).exists():
        return str(out / MODEL_FILE), False
    if cfg.progress:
        print(f"warm start: training {cfg.model} at uniform {tcfg.bits} for {tcfg.epochs} epoch(s)")
    run_train(tcfg)
    atomic_write_text(marker, tag + "\n")
    return str(out / MODEL_FILE), True
