"""Data sets for search and training, all read from local files (nothing is downloaded).

``digits``: scikit-learn's bundled 8x8 handwritten digits (1x8x8, default). ``fmnist``:
Fashion-MNIST IDX ``.gz`` files (1x28x28). ``cifar10``: the python-pickle batches (3x32x32).
``imagefolder``: ``train/`` and ``val/`` folders of class sub-folders (3xSxS, resized).
Images are float32 tensors normalised to zero mean and unit variance per channel (statistics of
the training split).
"""

from __future__ import annotations

import gzip
import os
import pickle
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .errors import SearchError

DATASETS = ("digits", "fmnist", "cifar10", "imagefolder")
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp")


def _normalise(
    train_x: np.ndarray, test_x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Per-channel standardisation with training-split statistics; arrays are N x C x H x W."""
    mean = train_x.mean(axis=(0, 2, 3), keepdims=True)
    std = train_x.std(axis=(0, 2, 3), keepdims=True) + 1e-8
    return (
        ((train_x - mean) / std).astype(np.float32),
        ((test_x - mean) / std).astype(np.float32),
        mean.ravel().tolist(),
        std.ravel().tolist(),
    )


def _tensor_sets(
    train_x, train_y, test_x, test_y
) -> tuple[TensorDataset, TensorDataset, list, list]:
    tx, vx, mean, std = _normalise(train_x.astype(np.float64), test_x.astype(np.float64))
    return (
        TensorDataset(torch.from_numpy(tx), torch.from_numpy(np.asarray(train_y, dtype=np.int64))),
        TensorDataset(torch.from_numpy(vx), torch.from_numpy(np.asarray(test_y, dtype=np.int64))),
        mean,
        std,
    )


def _digits(split_seed: int) -> tuple[Any, Any, dict]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.reshape(-1, 1, 8, 8)
    y = d.target
    rng = np.random.default_rng(split_seed)
    perm = rng.permutation(len(y))
    n_test = len(y) // 5
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    tr, te, mean, std = _tensor_sets(x[train_idx], y[train_idx], x[test_idx], y[test_idx])
    return tr, te, {"input_shape": (1, 8, 8), "num_classes": 10, "mean": mean, "std": std}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic 0x00 0x00 <dtype> <ndim>, big-endian dims."""
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SearchError(f"{p}: cannot read IDX file ({exc.strerror or exc})") from None
    except (EOFError, zlib.error) as exc:  # a truncated or corrupt .gz
        raise SearchError(f"{p}: truncated or corrupt gzip file ({type(exc).__name__})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise SearchError(f"{p}: not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise SearchError(f"{p}: IDX data type 0x{data[2]:02x} is unknown")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise SearchError(f"{p}: IDX header cut short ({ndim} dimensions announced)")
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    dt = np.dtype(dtypes[data[2]])
    need = int(np.prod(dims)) * dt.itemsize
    if len(data) - 4 - 4 * ndim != need:
        raise SearchError(f"{p}: IDX header says {list(dims)} but the file holds a different size")
    return np.frombuffer(data, dtype=dt, offset=4 + 4 * ndim).reshape(tuple(dims))


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / f"{stem}.gz", folder / stem):
        if cand.is_file():
            return cand
    raise SearchError(
        f"{folder / (stem + '.gz')}: Fashion-MNIST file not found (install it with"
        " 'apt-get install dataset-fashion-mnist' or pass --data-dir to a folder with the IDX files)"
    )


def _fmnist(data_dir: str | None) -> tuple[Any, Any, dict]:
    folder = Path(data_dir or FMNIST_DIR)
    if not folder.is_dir():
        raise SearchError(
            f"{folder}: Fashion-MNIST folder not found (install it with"
            " 'apt-get install dataset-fashion-mnist' or pass --data-dir to a folder with the IDX files)"
        )
    tx = read_idx(_find(folder, "train-images-idx3-ubyte"))
    ty = read_idx(_find(folder, "train-labels-idx1-ubyte"))
    vx = read_idx(_find(folder, "t10k-images-idx3-ubyte"))
    vy = read_idx(_find(folder, "t10k-labels-idx1-ubyte"))
    if len(tx) != len(ty) or len(vx) != len(vy):
        raise SearchError(f"{folder}: image and label files have different lengths")
    tr, te, mean, std = _tensor_sets(tx[:, None] / 255.0, ty, vx[:, None] / 255.0, vy)
    return tr, te, {"input_shape": (1, 28, 28), "num_classes": 10, "mean": mean, "std": std}


def _cifar10(data_dir: str | None) -> tuple[Any, Any, dict]:
    how = "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass --data-dir"
    if not data_dir:
        raise SearchError(f"--data-dir is required for cifar10 ({how})")
    folder = Path(data_dir)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    if not folder.is_dir():
        raise SearchError(f"{folder}: CIFAR-10 folder not found ({how})")

    def load(name: str) -> tuple[np.ndarray, np.ndarray]:
        p = folder / name
        if not p.is_file():
            raise SearchError(f"{p}: CIFAR-10 batch not found ({how})")
        try:
            with open(p, "rb") as fh:
                d = pickle.load(fh, encoding="bytes")
            x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.asarray(d[b"labels"], dtype=np.int64)
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
            raise SearchError(f"{p}: not a CIFAR-10 python batch ({type(exc).__name__})") from None
        return x, y

    parts = [load(f"data_batch_{i}") for i in range(1, 6)]
    tx = np.concatenate([p[0] for p in parts]) / 255.0
    ty = np.concatenate([p[1] for p in parts])
    vx, vy = load("test_batch")
    tr, te, mean, std = _tensor_sets(tx, ty, vx / 255.0, vy)
    return tr, te, {"input_shape": (3, 32, 32), "num_classes": 10, "mean": mean, "std": std}


class ImageFolderDataset(Dataset):
    """Images under ``root/<class>/*``; loaded lazily, converted to RGB, resized to ``size`` x ``size``."""

    def __init__(
        self, root: Path, classes: list[str], size: int, mean: list[float], std: list[float]
    ):
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.samples: list[tuple[Path, int]] = []
        for idx, c in enumerate(classes):
            d = root / c
            if not d.is_dir():
                continue
            for f in sorted(d.iterdir()):
                if f.suffix.lower() in IMAGE_EXTS:
                    self.samples.append((f, idx))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[i]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB").resize((self.size, self.size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.float32) / 255.0
        except OSError as exc:
            raise SearchError(f"{path}: cannot read image ({exc})") from None
        x = torch.from_numpy(arr).permute(2, 0, 1)
        return (x - self.mean) / self.std, label


def _imagefolder(data_dir: str | None, image_size: int) -> tuple[Any, Any, dict]:
    if not data_dir:
        raise SearchError(
            "--data-dir is required for imagefolder (a folder with train/ and val/ class folders)"
        )
    root = Path(data_dir)
    for sub in ("train", "val"):
        if not (root / sub).is_dir():
            raise SearchError(
                f"{root / sub}: folder not found (imagefolder expects train/ and val/ with one folder per class)"
            )
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    if not classes:
        raise SearchError(f"{root / 'train'}: has no class folders")
    # ImageNet statistics: standard for natural-image folders, avoids a pass over the data.
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    tr = ImageFolderDataset(root / "train", classes, image_size, mean, std)
    te = ImageFolderDataset(root / "val", classes, image_size, mean, std)
    if len(tr) == 0:
        raise SearchError(f"{root / 'train'}: has no images ({', '.join(IMAGE_EXTS)})")
    info = {
        "input_shape": (3, image_size, image_size),
        "num_classes": len(classes),
        "mean": mean,
        "std": std,
    }
    info["classes"] = classes
    return tr, te, info


def train_subset(ds: Dataset, n: int | None, seed: int = 0) -> Dataset:
    """The first ``n`` items of a seeded permutation of ``ds`` (all of it when ``n`` is None)."""
    if n is None:
        return ds
    if int(n) < 1:
        raise SearchError(f"--train-subset {n}: expected a positive integer")
    if int(n) >= len(ds):
        return ds
    perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[: int(n)]
    return torch.utils.data.Subset(ds, perm.tolist())


def load_dataset(
    name: str = "digits", data_dir: str | None = None, split_seed: int = 0, image_size: int = 224
) -> tuple[Dataset, Dataset, dict[str, Any]]:
    """``(train, test, info)``; ``info`` has ``name``, ``input_shape`` (C, H, W), ``num_classes``.

    A missing path raises :class:`SearchError` naming it and saying how to get the data.
    ``data_dir`` is ignored for ``digits`` (bundled with scikit-learn), with a note on stderr.
    """
    if name == "digits":
        if data_dir:
            print(
                f"note: data dir '{data_dir}' ignored: 'digits' is scikit-learn's bundled data set",
                file=sys.stderr,
            )
        tr, te, info = _digits(split_seed)
    elif name == "fmnist":
        tr, te, info = _fmnist(data_dir)
    elif name == "cifar10":
        tr, te, info = _cifar10(data_dir)
    elif name == "imagefolder":
        tr, te, info = _imagefolder(data_dir, image_size)
    else:
        raise SearchError(f"unknown data set '{name}' (known: {', '.join(DATASETS)})")
    info["name"] = name
    info["train_size"] = len(tr)
    info["test_size"] = len(te)
    return tr, te, info
