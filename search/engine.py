"""The weight-training engine shared by the search (:mod:`search.loop`) and the final training
(:mod:`search.train`): distributed setup, seeded resumable data loaders, the weights' SGD and its
step schedule, the finite-loss guard and top-1 evaluation.

Under ``torchrun`` processes join a process group (gloo on the CPU, NCCL on CUDA); a loader's
order depends only on (seed, epoch), so a resumed run sees the same batches without saved
sampler state.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .config import TrainingConfig
from .device import model_device, pin, to_device
from .errors import SearchError


def dist_env() -> tuple[int, int]:
    """(rank, world_size) from torchrun's environment; (0, 1) when not distributed."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return 0, 1


def init_distributed(backend: str = "gloo") -> tuple[int, int]:
    """Join torchrun's process group (``backend``: gloo on the CPU, nccl on CUDA); returns
    (rank, world_size)."""
    rank, world = dist_env()
    # torchrun sets MASTER_ADDR: even one process joins a group, so that
    # `torchrun --nproc_per_node 1` exercises the same DDP and backend as a multi-GPU run
    launched = world > 1 or "MASTER_ADDR" in os.environ
    if launched and not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world)
    return rank, world


def make_loader(
    ds: Dataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    epoch: int,
    workers: int,
    world: int,
    rank: int,
    pin_memory: bool = False,
) -> DataLoader:
    """A loader whose order depends only on (seed, epoch): resumable without saved sampler state."""
    if workers < 0:
        raise SearchError(f"--workers {workers}: expected a non-negative integer")
    if world > 1:
        sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
        sampler.set_epoch(epoch)
        return DataLoader(
            ds, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=pin_memory
        )
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=g,
        num_workers=workers,
        pin_memory=pin_memory,
    )


def evaluate_model(
    model: nn.Module, ds: Dataset, batch_size: int = 256, workers: int = 0, pin_memory: bool = False
) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` (eval mode, float32, on the model's device) on ``ds``."""
    was = model.training
    model.eval()
    device = model_device(model)
    correct = total = 0
    with torch.no_grad():
        for batch in DataLoader(
            ds, batch_size=batch_size, num_workers=workers, pin_memory=pin(pin_memory, device)
        ):
            x, y = to_device(batch, device)
            correct += int((model(x).argmax(1) == y).sum())
            total += int(y.numel())
    model.train(was)
    return correct / max(total, 1)


def set_lr(opt: torch.optim.Optimizer, base: float, epoch: int, step_epoch: int) -> float:
    """Step schedule: ``base * 0.1 ** (epoch // step_epoch)`` (per step); returns it."""
    lr = base * 0.1 ** (epoch // max(step_epoch, 1))
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def weight_optimizer(params: Iterable[nn.Parameter], cfg: TrainingConfig) -> torch.optim.SGD:
    """The weights' SGD (``lr``, ``momentum``, ``weight_decay`` of ``cfg``)."""
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def check_finite(
    loss: torch.Tensor, epoch: int, step: int, advice: str = "try a smaller --lr", note: str = ""
) -> None:
    """Raise :class:`SearchError` naming the epoch and step (0-based in, 1-based in the message)
    when ``loss`` is not finite."""
    if not torch.isfinite(loss):
        raise SearchError(
            f"loss became {float(loss.detach())} at epoch {epoch + 1} step {step + 1}"
            f" ({advice}){note}"
        )
