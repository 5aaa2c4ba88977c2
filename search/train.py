"""Final training of the fixed mixed-precision network, evaluation, and the trained-model file.

The model file (``model.pt``) holds the zoo name and arguments, the allocation, the quantizer
family and layer policy, the state_dict and the test accuracy; :func:`load_trained` rebuilds the
network from it (codegen uses this).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn
from tqdm import tqdm

from hwsim import Allocation, load_config, parse_bits, simulate
from hwsim.errors import AllocationError
from hwsim.fileio import atomic_write_text, check_out_dir
from hwsim.formats import float_layer_format

from .checkpoint import load_checkpoint, save_checkpoint, seed_everything, warm_start
from .config import EvalConfig, TrainConfig
from .convert import LayerPolicy, convert_fixed
from .data import load_dataset, train_subset
from .device import autocast, check_amp, pin, resolve_device, to_device
from .engine import check_finite, evaluate_model, make_loader, set_lr, weight_optimizer
from .errors import SearchError
from .models import canonical_spec, load_weights, model_label, plain_keys, resolve_model
from .trace import trace_workload

MODEL_FILE = "model.pt"


def uniform_allocation(
    workload: Any, bits: str, first: str = "float", last: str = "float"
) -> Allocation:
    """Every layer at ``bits`` ("W/A"), except a float first/last layer (at the float-layer width, in float_layers)."""
    try:
        w, a = parse_bits(bits)
    except AllocationError as exc:
        raise SearchError(f"--bits: {exc}") from None
    names = workload.names
    floats = []
    if first == "float":
        floats.append(names[0])
    if last == "float" and names[-1] not in floats:
        floats.append(names[-1])
    alloc = {n: (float_layer_format().bits if n in floats else (w, a)) for n in names}
    return Allocation(alloc, floats, {"uniform": f"{w}/{a}"})


def build_fixed(
    model_name: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    allocation: Allocation | None,
    bits: str | None,
    family: str,
    first: str = "float",
    last: str = "float",
    verbose: bool = False,
    model_args: dict[str, Any] | None = None,
    weights: str | None = None,
) -> tuple[nn.Module, Allocation, Any]:
    """The model named by ``model_name`` (zoo name or ``file.py:factory`` / ``module:factory``
    with ``model_args``) converted to fixed-precision layers, with ``weights`` (``--weights``)
    loaded; returns (model, allocation, workload)."""
    model = resolve_model(
        model_name, model_args, num_classes=num_classes, input_shape=tuple(input_shape)
    )
    required = plain_keys(model)
    workload = trace_workload(model, tuple(input_shape), batch=1, name=model_label(model_name))
    if allocation is None:
        if bits is None:
            raise SearchError("give an allocation file (--allocation) or uniform bits (--bits W/A)")
        allocation = uniform_allocation(workload, bits, first, last)
    try:
        allocation.validate(workload)
    except AllocationError as exc:
        raise SearchError(f"allocation does not match model '{model_name}': {exc}") from None
    summary = convert_fixed(model, allocation, family, LayerPolicy(first=first, last=last))
    if verbose:
        print(str(summary))
    if weights:
        n = load_weights(model, weights, required)
        if verbose:
            print(f"starting weights: {n} tensors from {weights}")
    return model, allocation, workload


def run_train(cfg: TrainConfig) -> dict[str, Any]:
    """Train the fixed network with SGD (step schedule), evaluate top-1 and save ``model.pt``."""
    out = Path(cfg.out)
    check_out_dir(out)  # a file in the way is an error now, not after training
    if (out / MODEL_FILE).exists() and not cfg.force:
        raise SearchError(f"--out {out}: holds a trained model already (use --force to overwrite)")
    if (cfg.allocation is None) == (cfg.bits is None):
        raise SearchError("give exactly one of --allocation FILE or --bits W/A")
    alloc_in = Allocation.load(cfg.allocation) if cfg.allocation else None
    device = resolve_device(cfg.device)
    amp = check_amp(cfg.amp, device)
    seed_everything(cfg.seed)
    train_ds, test_ds, info = load_dataset(
        cfg.data, cfg.data_dir, split_seed=0, augment=cfg.augment
    )
    train_ds = train_subset(train_ds, cfg.train_subset)
    shape = tuple(info["input_shape"])
    model, alloc, _ = build_fixed(
        cfg.model,
        shape,
        info["num_classes"],
        alloc_in,
        cfg.bits,
        cfg.family,
        cfg.first,
        cfg.last,
        verbose=cfg.progress,
        model_args=cfg.model_args,
        weights=cfg.weights,
    )
    model.to(device)
    if cfg.init_from_search:
        n = warm_start(model, cfg.init_from_search, "--init-from-search")
        print(f"initialised {n} tensors from {cfg.init_from_search}")
    opt = weight_optimizer(model.parameters(), cfg)
    ce = nn.CrossEntropyLoss()
    history = []
    for epoch in range(cfg.epochs):
        set_lr(opt, cfg.lr, epoch, cfg.step_epoch)
        model.train()
        tot = correct = 0
        loss_sum = 0.0
        loader = make_loader(
            train_ds,
            cfg.batch_size,
            True,
            cfg.seed,
            epoch,
            cfg.workers,
            1,
            0,
            pin(cfg.pin_memory, device),
        )
        for step, batch in enumerate(
            tqdm(
                loader,
                desc=f"train {epoch + 1}/{cfg.epochs}",
                disable=not cfg.progress,
                leave=False,
            )
        ):
            x, y = to_device(batch, device)
            with autocast(device, amp):  # the forward pass only; the loss stays float32
                logits = model(x).float()
            loss = ce(logits, y)
            check_finite(loss, epoch, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * int(y.numel())
            correct += int((logits.argmax(1) == y).sum())
            tot += int(y.numel())
        acc = evaluate_model(model, test_ds, workers=cfg.workers, pin_memory=cfg.pin_memory)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": loss_sum / tot,
                "train_acc": correct / tot,
                "test_acc": acc,
            }
        )
        if cfg.progress:
            tqdm.write(
                f"epoch {epoch + 1}: loss {loss_sum / tot:.4f} train {correct / tot:.3f} test {acc:.3f}"
            )
    acc = history[-1]["test_acc"]
    meta = {
        "model_name": canonical_spec(cfg.model),  # a model file's path stored absolute
        "model_args": dict(cfg.model_args or {}),
        "zoo_args": {"num_classes": info["num_classes"], "input_shape": list(shape)},
        "family": cfg.family,
        "policy": {"first": cfg.first, "last": cfg.last},
        "data": cfg.data,
        "normalisation": {"mean": info["mean"], "std": info["std"]},
        "accuracy": acc,
    }
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        out / MODEL_FILE,
        {
            "kind": "trained",
            **meta,
            "allocation": alloc.to_dict(),
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        },
    )
    summary = {
        **meta,
        "history": history,
        "model_file": str(out / MODEL_FILE),
        "allocation": alloc.to_dict(),
    }
    atomic_write_text(out / "train_summary.json", json.dumps(summary, indent=2) + "\n")
    print(
        f"top-1 {acc * 100:.2f}% on {cfg.data} test ({info['test_size']} images); wrote {out / MODEL_FILE}"
    )
    return summary


def load_trained(path: str) -> tuple[nn.Module, Allocation, dict[str, Any]]:
    """Rebuild a trained network from ``model.pt``: ``(model in eval mode, allocation, meta)``.

    ``meta`` has model_name, zoo_args (num_classes, input_shape), family, policy, data,
    normalisation and accuracy (top-1 in [0, 1]).
    """
    state = load_checkpoint(path, kind="trained")
    for key in ("allocation", "zoo_args", "model_name", "family", "state_dict"):
        if key not in state:
            raise SearchError(
                f"{path}: key '{key}' missing: not a complete 'edmips train' model file"
            )
    alloc = Allocation.from_dict(state["allocation"], source=str(path))
    args = state["zoo_args"]
    pol = state.get("policy", {})
    try:
        model, _, _ = build_fixed(
            state["model_name"],
            tuple(args["input_shape"]),
            int(args["num_classes"]),
            alloc,
            None,
            state["family"],
            pol.get("first", "float"),
            pol.get("last", "float"),
            model_args=state.get("model_args"),
        )
    except SearchError as exc:  # e.g. the model file moved or its factory was renamed
        raise SearchError(f"{path}: cannot rebuild its model: {exc}") from None
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        raise SearchError(
            f"{path}: weights do not fit the model: {str(exc).splitlines()[0]}"
        ) from None
    model.eval()
    meta = {
        k: v for k, v in state.items() if k not in ("state_dict", "allocation", "version", "kind")
    }
    return model, alloc, meta


def run_evaluate(cfg: EvalConfig) -> dict[str, Any]:
    """Top-1 accuracy of a model file on the test split (plus the allocation's hardware totals
    when ``cfg.accel`` is given)."""
    device = resolve_device(cfg.device)
    check_amp(cfg.amp, device)  # evaluation itself runs in float32
    model, alloc, meta = load_trained(cfg.model_file)
    model.to(device)
    data = cfg.data or meta["data"]
    _, test_ds, info = load_dataset(data, cfg.data_dir, split_seed=0)
    if tuple(info["input_shape"]) != tuple(meta["zoo_args"]["input_shape"]):
        raise SearchError(
            f"{cfg.model_file}: model takes {meta['zoo_args']['input_shape']}, data set '{data}' gives"
            f" {list(info['input_shape'])}"
        )
    acc = evaluate_model(
        model, test_ds, batch_size=cfg.batch_size, workers=cfg.workers, pin_memory=cfg.pin_memory
    )
    result: dict[str, Any] = {
        "model_file": cfg.model_file,
        "data": data,
        "top1": acc,
        "test_size": len(test_ds),
    }
    print(f"top-1 {acc * 100:.2f}% on {data} test ({len(test_ds)} images)")
    if cfg.accel:
        zoo = meta["zoo_args"]
        plain = resolve_model(
            meta["model_name"],
            meta.get("model_args"),
            num_classes=int(zoo["num_classes"]),
            input_shape=tuple(zoo["input_shape"]),
        )
        wl = trace_workload(plain, tuple(zoo["input_shape"]), name=model_label(meta["model_name"]))
        rep = simulate(wl, alloc, load_config(cfg.accel))
        result["hardware"] = rep.totals
        print(
            f"on {rep.accelerator}: latency {rep.totals['latency_s']:.4g} s, energy {rep.totals['energy_per_inference_pj']:.4g} pJ"
        )
    return result
