"""Devices for search, training and evaluation: ``--device``, ``--amp``, loaders, DDP backend.

``auto`` picks CUDA when torch sees a GPU, else the CPU. Under ``torchrun`` a CUDA run uses
``cuda:LOCAL_RANK`` (one GPU per process) and DistributedDataParallel talks NCCL; on the CPU
it talks gloo. ``--amp bf16`` runs the forward pass under ``torch.autocast`` with bfloat16 on
CUDA (the loss, the hardware cost and evaluation stay float32/float64); on the CPU it is refused,
because CPU bf16 autocast is slower than float32 on most CPUs and is not what the flag is for.
Checkpoints are always loaded with ``map_location="cpu"`` and then moved, so a CUDA run resumes
on the CPU and the reverse.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from .errors import SearchError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
AMP_CHOICES = ("bf16",)


def local_rank() -> int:
    """torchrun's LOCAL_RANK (0 when not launched by torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def resolve_device(spec: str | None) -> torch.device:
    """``auto|cpu|cuda|cuda:N`` -> a ``torch.device``; CUDA that is not there is a one-line error."""
    text = (spec or "auto").strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            why = (
                "this torch is built without CUDA"
                if torch.version.cuda is None
                else "no GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)"
            )
            raise SearchError(f"--device {spec}: CUDA is not available ({why}); use --device cpu")
        if text == "cuda":
            index = local_rank()
        else:
            idx_text = text[len("cuda:") :]
            if not idx_text.isdigit():
                raise SearchError(f"--device {spec}: expected {DEVICE_CHOICES}")
            index = int(idx_text)
        count = torch.cuda.device_count()
        if index >= count:
            raise SearchError(
                f"--device {spec}: GPU {index} does not exist ({count} visible: 0..{count - 1})"
            )
        return torch.device("cuda", index)
    raise SearchError(f"--device {spec}: expected {DEVICE_CHOICES}")


def check_amp(amp: str | None, device: torch.device) -> str | None:
    """Validate ``--amp``: None/off, or ``bf16`` on a CUDA device that supports it."""
    if amp in (None, "", "off", "none"):
        return None
    if amp not in AMP_CHOICES:
        raise SearchError(
            f"--amp {amp}: expected one of {', '.join(AMP_CHOICES)} (or leave it off)"
        )
    if device.type != "cuda":
        raise SearchError(
            f"--amp {amp}: mixed precision needs a CUDA device (this run is on {device});"
            " drop --amp or use --device cuda"
        )
    if not torch.cuda.is_bf16_supported():
        raise SearchError(f"--amp {amp}: {torch.cuda.get_device_name(device)} has no bfloat16")
    return amp


def autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager[Any]:
    """The forward pass's context: bf16 autocast when ``amp`` is set, else nothing."""
    if amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def ddp_backend(device: torch.device) -> str:
    """NCCL for CUDA, gloo for the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


def pin(pin_memory: bool, device: torch.device) -> bool:
    """Pinned host memory only helps (and only works) when copying to a GPU."""
    return bool(pin_memory) and device.type == "cuda"


def to_device(
    batch: tuple[torch.Tensor, torch.Tensor], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Move an ``(x, y)`` batch (asynchronously from pinned memory)."""
    x, y = batch
    if device.type == "cpu":
        return x, y
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without any)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")
