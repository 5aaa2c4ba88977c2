"""Shared helpers for the codegen tests: brief fixed-family training on sklearn digits."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hwsim.allocation import Allocation
from search.convert import LayerPolicy, convert_fixed
from search.data import load_dataset


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y), standardised 1x8x8 images."""
    tr, te, _ = load_dataset("digits")
    trx, try_ = tr.tensors
    tex, tey = te.tensors
    return trx, try_, tex, tey


def train_fixed(
    model: nn.Module,
    allocation: Allocation,
    steps: int = 300,
    seed: int = 0,
    policy: LayerPolicy | None = None,
) -> tuple[nn.Module, float]:
    """Convert to fixed-family QConv2d/QLinear at ``allocation`` (``policy``: which layers are
    quantized, by default all but the first and last), train ``steps`` Adam steps (batch 64),
    return (model in eval mode, test accuracy)."""
    torch.manual_seed(seed)
    convert_fixed(model, allocation, "fixed", policy or LayerPolicy())
    trx, try_, tex, tey = digits()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, trx.shape[0], (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(trx[idx]), try_[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(tex).argmax(1) == tey).float().mean())
    return model, acc


def heldout_samples(n: int = 200) -> np.ndarray:
    """The first ``n`` held-out digits (float64, N x 1 x 8 x 8)."""
    return digits()[2][:n].double().numpy()
