"""Synthetic, learnable image data for GPU checks where no data set is on the machine.

``edmips ... --data bench/gpu_data.py:templates``: 10 classes of 3x32x32 images, each a fixed
random class template (seed 0) plus Gaussian noise (std 1.0), 10,000 training and 2,000 test
images. Chance is 10%; a ResNet-20 learns it in an epoch, so an accuracy far above chance shows
that a device / mixed-precision path trains, not only that it runs.
"""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

CLASSES = 10
SHAPE = (3, 32, 32)


def templates(
    data_dir: str | None = None, train: int = 10_000, test: int = 2_000, noise: float = 1.0
):
    """``(train, test, info)`` TensorDatasets (float32 images, int64 labels); ``data_dir`` is
    ignored (nothing is read)."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(CLASSES, *SHAPE, generator=g)

    def split(n: int) -> TensorDataset:
        y = torch.randint(0, CLASSES, (n,), generator=g)
        x = base[y] + noise * torch.randn(n, *SHAPE, generator=g)
        return TensorDataset(x.float(), y)

    info = {"num_classes": CLASSES, "input_shape": SHAPE, "mean": [0.0] * 3, "std": [1.0] * 3}
    return split(train), split(test), info
