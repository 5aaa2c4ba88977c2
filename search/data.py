"""Data sets for search and training, all read from local files (nothing is downloaded).

``digits``: scikit-learn's bundled 8x8 handwritten digits (1x8x8, default). ``fmnist``:
Fashion-MNIST IDX ``.gz`` files (1x28x28). ``cifar10``: the python-pickle batches (3x32x32).
``imagefolder``: ``train/`` and ``val/`` folders of class sub-folders (3xSxS; images read with
Pillow, or ``.npy`` HxWxC uint8 arrays without it). ``package.module:factory`` (or
``file.py:factory``): anything else, see :func:`load_factory_dataset`.
Images are float32 tensors normalised to zero mean and unit variance per channel (statistics of
the training split; ImageNet's for image folders).

With ``augment=True`` the training split gets the standard augmentations, in torch ops
(torchvision is not needed): CIFAR-10 a random 32x32 crop of the image zero-padded by 4 pixels
(in normalised units, i.e. the mean colour) and a horizontal flip with probability 0.5 (He et
al., CVPR 2016, section 4.2); image folders a random resized crop (area 8%-100%, aspect 3/4-4/3)
and the flip; the test split (and the training split without ``augment``) is resized to
S/0.875 on the shorter side and centre-cropped to S (the torchvision ImageNet recipe). Digits and Fashion-MNIST are not augmented.
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
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from .errors import SearchError

DATASETS = ("digits", "fmnist", "cifar10", "imagefolder")
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp", ".npy")


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


def random_crop_flip(x: torch.Tensor, pad: int = 4, flip: bool = True) -> torch.Tensor:
    """A random HxW crop of ``x`` (C, H, W) zero-padded by ``pad`` pixels on every side, flipped
    left-right with probability 0.5 (torch's global generator: seeded and checkpointed)."""
    h, w = x.shape[-2:]
    if pad > 0:
        x = F.pad(x, (pad, pad, pad, pad))
        i, j = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
        x = x[..., i : i + h, j : j + w]
    if flip and float(torch.rand(())) < 0.5:
        x = x.flip(-1)
    return x


class AugmentedTensorDataset(TensorDataset):
    """A :class:`TensorDataset` of images whose items get :func:`random_crop_flip`."""

    def __init__(self, *tensors: torch.Tensor, pad: int = 4, flip: bool = True) -> None:
        super().__init__(*tensors)
        self.pad, self.flip = pad, flip

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        x, *rest = super().__getitem__(i)
        return (random_crop_flip(x, self.pad, self.flip), *rest)


def _cifar10(data_dir: str | None, augment: bool = False) -> tuple[Any, Any, dict]:
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
    if augment:
        tr = AugmentedTensorDataset(*tr.tensors, pad=4, flip=True)
    return tr, te, {"input_shape": (3, 32, 32), "num_classes": 10, "mean": mean, "std": std}


def read_image(path: Path) -> torch.Tensor:
    """An image file as a float32 (3, H, W) tensor in [0, 1]: ``.npy`` (HxW or HxWxC uint8)
    with numpy, every other format with Pillow."""
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
                raise SearchError(f"{path}: expected an HxW or HxWxC (C 1, 3 or 4) array")
            arr = arr[:, :, :3] if arr.shape[2] >= 3 else np.repeat(arr, 3, axis=2)
            scale = 255.0 if arr.dtype == np.uint8 else 1.0
            arr = arr.astype(np.float32) / scale
        else:
            try:
                from PIL import Image
            except ImportError:
                raise SearchError(
                    f"{path}: reading {path.suffix} images needs Pillow (pip install pillow);"
                    " without it give .npy arrays"
                ) from None
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise SearchError(f"{path}: cannot read image ({exc})") from None
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return F.interpolate(
        x[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True
    )[0]


def random_resized_crop(
    x: torch.Tensor, size: int, scale: tuple[float, float] = (0.08, 1.0)
) -> torch.Tensor:
    """A random crop of 8%-100% of the area with aspect ratio 3/4-4/3, resized to size x size
    (falls back to the central crop of the whole image after 10 tries, as torchvision)."""
    _, h, w = x.shape
    area = h * w
    for _ in range(10):
        target = area * float(torch.empty(()).uniform_(*scale))
        ratio = float(torch.exp(torch.empty(()).uniform_(np.log(3 / 4), np.log(4 / 3))))
        cw = int(round((target * ratio) ** 0.5))
        ch = int(round((target / ratio) ** 0.5))
        if 0 < cw <= w and 0 < ch <= h:
            i = int(torch.randint(0, h - ch + 1, ()))
            j = int(torch.randint(0, w - cw + 1, ()))
            return _resize(x[:, i : i + ch, j : j + cw], size, size)
    side = min(h, w)
    i, j = (h - side) // 2, (w - side) // 2
    return _resize(x[:, i : i + side, j : j + side], size, size)


def resize_center_crop(x: torch.Tensor, size: int, crop_fraction: float = 0.875) -> torch.Tensor:
    """Resize the shorter side to ``size / crop_fraction`` and take the central size x size."""
    _, h, w = x.shape
    short = max(int(round(size / crop_fraction)), size)
    nh, nw = (
        (short, max(int(round(w * short / h)), size))
        if h <= w
        else (
            max(int(round(h * short / w)), size),
            short,
        )
    )
    x = _resize(x, nh, nw)
    i, j = (nh - size) // 2, (nw - size) // 2
    return x[:, i : i + size, j : j + size]


class ImageFolderDataset(Dataset):
    """Images under ``root/<class>/*``, loaded lazily as RGB. ``augment``: random resized crop
    and flip (training); otherwise resize + centre crop when ``center_crop`` (evaluation, and
    training without augmentation), else a plain resize to ``size`` x ``size``."""

    def __init__(
        self,
        root: Path,
        classes: list[str],
        size: int,
        mean: list[float],
        std: list[float],
        augment: bool = False,
        center_crop: bool = False,
    ):
        self.size = size
        self.augment, self.center_crop = augment, center_crop
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
        path, label = self.samples[i]
        x = read_image(path)
        if self.augment:
            x = random_resized_crop(x, self.size)
            if float(torch.rand(())) < 0.5:
                x = x.flip(-1)
        elif self.center_crop:
            x = resize_center_crop(x, self.size)
        else:
            x = _resize(x, self.size, self.size)
        return (x - self.mean) / self.std, label


def _imagefolder(
    data_dir: str | None, image_size: int, augment: bool = False
) -> tuple[Any, Any, dict]:
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
    tr = ImageFolderDataset(
        root / "train", classes, image_size, mean, std, augment=augment, center_crop=True
    )
    te = ImageFolderDataset(root / "val", classes, image_size, mean, std, center_crop=True)
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


#: labels scanned to count the classes of a factory data set that does not say
MAX_LABEL_SCAN = 200_000


def load_factory_dataset(spec: str, data_dir: str | None) -> tuple[Dataset, Dataset, dict]:
    """A data set from ``package.module:factory`` or ``file.py:factory``.

    The factory is called with ``data_dir=`` when its signature names it, and returns
    ``(train, test)`` or ``(train, test, info)``: map-style datasets of ``(image tensor (C, H, W)
    float32, integer label)``, already normalised. ``info`` may give ``num_classes``,
    ``input_shape``, ``mean``/``std``; missing ones come from the first item, the datasets'
    ``classes`` attribute or a scan of the training labels.
    """
    import inspect

    from .models import load_factory

    factory = load_factory(spec)
    try:
        takes_dir = "data_dir" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_dir = False
    try:
        got = factory(data_dir=data_dir) if takes_dir else factory()
    except SearchError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's factory: any error, one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else "no message"
        raise SearchError(
            f"--data '{spec}': the factory raised {type(exc).__name__}: {msg}"
        ) from None
    if not isinstance(got, tuple) or len(got) not in (2, 3):
        raise SearchError(
            f"--data '{spec}': the factory returned {type(got).__name__}; expected (train, test)"
            " or (train, test, info)"
        )
    tr, te = got[0], got[1]
    info = dict(got[2]) if len(got) == 3 and got[2] else {}
    for split, ds in (("train", tr), ("test", te)):
        if not hasattr(ds, "__getitem__") or not hasattr(ds, "__len__") or len(ds) == 0:
            raise SearchError(f"--data '{spec}': the {split} split is not a non-empty dataset")
    try:
        x, y = tr[0]
        x = torch.as_tensor(x)
        int(y)
    except Exception as exc:  # noqa: BLE001
        raise SearchError(
            f"--data '{spec}': train[0] is not an (image tensor, integer label) pair"
            f" ({type(exc).__name__})"
        ) from None
    if x.dim() != 3:
        raise SearchError(
            f"--data '{spec}': train[0] has shape {list(x.shape)}; expected (C, H, W)"
        )
    info.setdefault("input_shape", tuple(int(v) for v in x.shape))
    if "num_classes" not in info:
        classes = getattr(tr, "classes", None)
        if classes is not None:
            info["num_classes"] = len(classes)
        elif len(tr) <= MAX_LABEL_SCAN:
            info["num_classes"] = 1 + max(int(tr[i][1]) for i in range(len(tr)))
        else:
            raise SearchError(
                f"--data '{spec}': give num_classes in the factory's info dict (train has"
                f" {len(tr)} items, more than the {MAX_LABEL_SCAN} scanned)"
            )
    info["input_shape"] = tuple(int(v) for v in info["input_shape"])
    info.setdefault("mean", None)
    info.setdefault("std", None)
    return tr, te, info


def load_dataset(
    name: str = "digits",
    data_dir: str | None = None,
    split_seed: int = 0,
    image_size: int = 224,
    augment: bool = False,
) -> tuple[Dataset, Dataset, dict[str, Any]]:
    """``(train, test, info)``; ``info`` has ``name``, ``input_shape`` (C, H, W), ``num_classes``.

    A missing path raises :class:`SearchError` naming it and saying how to get the data.
    ``data_dir`` is ignored for ``digits`` (bundled with scikit-learn), with a note on stderr.
    ``augment`` applies the standard training augmentations to ``cifar10`` and
    ``imagefolder`` (see the module docstring); ``name`` may be ``package.module:factory``.
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
        tr, te, info = _cifar10(data_dir, augment)
    elif name == "imagefolder":
        tr, te, info = _imagefolder(data_dir, image_size, augment)
    elif ":" in name:
        tr, te, info = load_factory_dataset(name, data_dir)
    else:
        raise SearchError(
            f"unknown data set '{name}' (known: {', '.join(DATASETS)}, or package.module:factory)"
        )
    info["name"] = name
    info["train_size"] = len(tr)
    info["test_size"] = len(te)
    return tr, te, info
