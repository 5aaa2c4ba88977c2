import gzip

import numpy as np
import pytest

from search.data import load_dataset, read_idx
from search.errors import SearchError


def test_digits_split_and_normalisation():
    tr, te, info = load_dataset("digits")
    assert info["input_shape"] == (1, 8, 8) and info["num_classes"] == 10
    assert len(tr) + len(te) == 1797 and len(te) == 359
    x = tr.tensors[0]
    assert x.shape[1:] == (1, 8, 8)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-2
    tr2, te2, _ = load_dataset("digits")
    assert (te.tensors[1] == te2.tensors[1]).all()  # fixed split


def _write_idx(path, arr, code):
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(">u1").tobytes())


def test_fmnist_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        _write_idx(
            tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), 0x08
        )
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)), 0x08)
    tr, te, info = load_dataset("fmnist", str(tmp_path))
    assert (len(tr), len(te)) == (12, 5) and info["input_shape"] == (1, 28, 28)
    arr = read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz")
    assert arr.shape == (5,)


def test_missing_paths_name_the_fix(tmp_path):
    with pytest.raises(SearchError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fmnist", str(tmp_path / "nope"))
    with pytest.raises(SearchError, match="cifar"):
        load_dataset("cifar10", str(tmp_path))
    with pytest.raises(SearchError, match="train/ and val/"):
        load_dataset("imagefolder", str(tmp_path))
    with pytest.raises(SearchError, match="unknown data set"):
        load_dataset("mnist3d")
    (tmp_path / "bad-idx").write_bytes(b"\x01\x02\x03")
    with pytest.raises(SearchError, match="not an IDX"):
        read_idx(tmp_path / "bad-idx")


def test_imagefolder(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for c in ("cat", "dog"):
            d = tmp_path / split / c
            d.mkdir(parents=True)
            Image.new("RGB", (10, 12), (10, 200, 30)).save(d / "a.png")
    tr, te, info = load_dataset("imagefolder", str(tmp_path), image_size=16)
    x, y = tr[1]
    assert x.shape == (3, 16, 16) and y == 1 and info["num_classes"] == 2


@pytest.mark.skipif(
    not __import__("os").path.exists("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"),
    reason="dataset-fashion-mnist not installed",
)
def test_real_fmnist_labels():
    arr = read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
    assert arr.shape == (10000,) and arr.max() == 9


def test_cifar10_batches(tmp_path):
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        with open(folder / name, "wb") as fh:
            pickle.dump(d, fh)
    tr, te, info = load_dataset("cifar10", str(tmp_path))
    assert (len(tr), len(te)) == (20, 4) and info["input_shape"] == (3, 32, 32)
    assert tr.tensors[0].shape == (20, 3, 32, 32)


def test_digits_says_data_dir_is_ignored(tmp_path, capsys):
    load_dataset("digits", str(tmp_path))
    err = capsys.readouterr().err
    assert f"note: data dir '{tmp_path}' ignored: 'digits'" in err
    load_dataset("digits")
    assert capsys.readouterr().err == ""
