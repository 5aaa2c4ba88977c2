"""Atomic checkpoints of a search or training run, and the RNG state needed to resume exactly."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hwsim.fileio import atomic_write_bytes

from .errors import SearchError

CHECKPOINT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU, and CUDA when in use) generator states."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`; CUDA states only where as many GPUs are visible (a CUDA run
    resumed on the CPU continues with the CPU generators)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Serialise ``state`` with ``torch.save`` to memory, then write it atomically (a kill
    during the write leaves the previous checkpoint intact)."""
    buf = io.BytesIO()
    torch.save({"version": CHECKPOINT_VERSION, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; ``kind`` checks its ``kind`` key."""
    p = Path(path)
    if not p.is_file():
        raise SearchError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file: one line, not a traceback
        raise SearchError(f"{p}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise SearchError(f"{p}: not an edmips checkpoint (version {CHECKPOINT_VERSION} expected)")
    if kind is not None and state.get("kind") != kind:
        raise SearchError(f"{p}: is a '{state.get('kind')}' checkpoint, expected '{kind}'")
    return state


def warm_start(model: torch.nn.Module, path: str | os.PathLike, what: str = "--init") -> int:
    """Copy the weights, biases and statistics that match ``model`` (by name and shape; never
    architecture parameters) from a trained ``model.pt`` (``edmips train``, float or uniform
    bits) or a search checkpoint. Returns how many tensors were copied; raises
    :class:`SearchError` naming the file when none match."""
    state = load_checkpoint(path)
    if state.get("kind") == "trained":
        weights = state.get("state_dict", {})
    elif state.get("kind") == "search":
        weights = state.get("model", {})
    else:
        raise SearchError(
            f"{what} {path}: a '{state.get('kind')}' checkpoint; expected a trained model.pt"
            " or a search checkpoint"
        )
    own = model.state_dict()
    take = {
        k: v
        for k, v in weights.items()
        if "alpha" not in k and k in own and tuple(own[k].shape) == tuple(v.shape)
    }
    if not take:
        raise SearchError(f"{what} {path}: no weight matches this model")
    model.load_state_dict(take, strict=False)
    return len(take)
