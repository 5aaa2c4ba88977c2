"""Bring your own model and your own GPU (issue 13), all on the CPU.

A user file written for these tests (``tests/data/user_models.py``: a MobileNet-style block
network and an MLP, not in the zoo) goes through ``simulate``, ``search``, ``train``,
``evaluate``, ``trace`` (read back by ``hwsim --workload``) and, as slow tests, ``emit``; a
``--weights`` round trip; bad input (one line, exit 2, nothing written); and every
device-dependent path that can be exercised without a GPU (device selection with CUDA
monkeypatched in, AMP refused on the CPU, a checkpoint whose tensors say ``cuda:0`` resumed on
the CPU through ``map_location``, the bf16 autocast path of the search step).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from edmips.cli import main as edmips_main
from hwsim.cli import main as hwsim_main
from search import device as dev
from search.errors import SearchError
from search.models import (
    canonical_spec,
    load_weights,
    parse_model_args,
    plain_keys,
    resolve_model,
)

ROOT = Path(__file__).resolve().parents[1]
USER = ROOT / "tests" / "data" / "user_models.py"
STRIPES = str(ROOT / "accel_configs" / "stripes.yaml")
MOBILE = f"{USER}:tiny_mobilenet"
MLP = f"{USER}:mlp"
QUIET = ["--no-progress"]


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = edmips_main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


# ---- model resolution ----
def test_resolve_zoo_file_and_module(monkeypatch):
    assert isinstance(resolve_model("digits_mlp"), nn.Sequential)
    net = resolve_model(MOBILE, {"width": 4}, num_classes=7, input_shape=(3, 16, 16))
    assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 7)  # num_classes/input_shape filled in
    assert net.stem[0].out_channels == 4  # --model-arg width=4
    monkeypatch.syspath_prepend(str(USER.parent))
    mlp = resolve_model("user_models:mlp", {"hidden": 8}, num_classes=3, input_shape=(1, 4, 4))
    assert mlp(torch.zeros(2, 1, 4, 4)).shape == (2, 3)
    assert mlp[1].out_features == 8
    # a model file's path is recorded absolute, so model.pt rebuilds it from any folder
    monkeypatch.chdir(USER.parent)
    assert canonical_spec("user_models.py:mlp") == f"{USER}:mlp"
    assert canonical_spec("user_models:mlp") == "user_models:mlp"
    assert canonical_spec("digits_cnn") == "digits_cnn"


def test_model_args_are_yaml_scalars():
    got = parse_model_args(["width=16", "act=relu6", "p=0.25", "flag=true", "none=null"])
    assert got == {"width": 16, "act": "relu6", "p": 0.25, "flag": True, "none": None}
    with pytest.raises(SearchError, match="key=value"):
        parse_model_args(["width"])
    with pytest.raises(SearchError, match="scalar"):
        parse_model_args(["w=[1, 2]"])
    with pytest.raises(SearchError, match="takes only"):
        resolve_model("digits_cnn", {"width": 3})


# ---- bad input: one line, exit 2, nothing written ----
BAD = {
    "missing file": (["--model", "nowhere/m.py:f"], "model file nowhere/m.py not found"),
    "missing factory": (["--model", f"{USER}:nope"], "has no attribute 'nope'"),
    "missing module": (["--model", "no_such_pkg.models:f"], "cannot import module 'no_such_pkg"),
    "factory raises": (["--model", f"{USER}:broken"], "raised ValueError: this factory always"),
    "not a module": (["--model", f"{USER}:not_a_module"], "type int, not a torch.nn.Module"),
    "bad spec": (["--model", "x.py:"], "expected a zoo name"),
    "bad model-arg": (["--model", MLP, "--model-arg", "hidden"], "--model-arg 'hidden'"),
    "factory arg": (["--model", MLP, "--model-arg", "depth=3"], "unexpected keyword argument"),
    "weights missing": (["--model", MLP, "--weights", "nothere.pt"], "--weights nothere.pt"),
    "cuda absent": (["--model", MLP, "--device", "cuda"], "CUDA is not available"),
    "bad device": (["--model", MLP, "--device", "tpu"], "expected auto, cpu, cuda or cuda:N"),
    "amp on cpu": (["--model", MLP, "--device", "cpu", "--amp", "bf16"], "needs a CUDA device"),
}


@pytest.mark.parametrize("command", ["search", "train"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line(case, command, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    argv, needle = BAD[case]
    tail = ["--bits", "4/4"] if command == "train" else ["--target", "bitops=0.5x"]
    out = tmp_path / "out"
    rc, _, err = _run(capsys, [command, *argv, *tail, "--epochs", "1", "--out", out, *QUIET])
    _one_line_error(rc, err, needle)
    assert not out.exists()


def test_weights_that_do_not_fit_are_named(tmp_path):
    src = resolve_model("digits_cnn", num_classes=10, input_shape=(1, 8, 8))
    torch.save(src.state_dict(), tmp_path / "cnn.pt")
    net = resolve_model(MLP, num_classes=10, input_shape=(1, 8, 8))
    with pytest.raises(
        SearchError,
        match=r"keys missing for this model: 2\.weight, 2\.bias, 2\.running_mean and 5 more",
    ):
        load_weights(net, tmp_path / "cnn.pt")
    small = resolve_model(MLP, {"hidden": 16}, num_classes=10, input_shape=(1, 8, 8))
    torch.save({"state_dict": small.state_dict()}, tmp_path / "small.pt")
    with pytest.raises(SearchError, match=r"shapes differ \(file vs model\): 1\.weight \[16, 64\]"):
        load_weights(net, tmp_path / "small.pt")
    extra = dict(net.state_dict(), **{"head.weight": torch.zeros(3)})
    torch.save(extra, tmp_path / "extra.pt")
    with pytest.raises(SearchError, match="keys this model does not have: head.weight"):
        load_weights(net, tmp_path / "extra.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(SearchError, match="not a readable torch file"):
        load_weights(net, tmp_path / "junk.pt")


def test_weights_load_into_a_converted_network(tmp_path):
    """A plain float state_dict (also DDP-prefixed) loads into the search supernet: same
    float weights, architecture parameters untouched."""
    from search.convert import convert_for_search

    src = resolve_model(MLP, num_classes=10, input_shape=(1, 8, 8))
    torch.save({f"module.{k}": v for k, v in src.state_dict().items()}, tmp_path / "ddp.pt")
    net = resolve_model(MLP, num_classes=10, input_shape=(1, 8, 8))
    need = plain_keys(net)
    convert_for_search(net, [2, 4], [2, 4], "paper")
    assert load_weights(net, tmp_path / "ddp.pt", need) == len(need)
    for k, v in src.state_dict().items():
        assert torch.equal(net.state_dict()[k], v)


# ---- trace -> hwsim --workload ----
def test_trace_writes_what_hwsim_reads_back(tmp_path, capsys):
    wl = tmp_path / "mobile.yaml"
    rc, out, err = _run(
        capsys,
        ["trace", "--model", MOBILE, "--model-arg", "width=4", "--input-shape", "1x8x8",
         "--out", wl],
    )  # fmt: skip
    assert rc == 0, err
    assert "8 layers" in out
    sim = ["--accel", STRIPES, "--bits", "4/4", "--first-last", "8/8", "--quiet"]
    rc, _, err = _run(
        capsys,
        ["simulate", "--model", MOBILE, "--model-arg", "width=4", "--input-shape", "1x8x8",
         *sim, "--json", tmp_path / "direct.json"],
    )  # fmt: skip
    assert rc == 0, err
    assert hwsim_main(["--workload", str(wl), *sim, "--json", str(tmp_path / "file.json")]) == 0
    direct = json.loads((tmp_path / "direct.json").read_text())
    from_file = json.loads((tmp_path / "file.json").read_text())
    assert direct["totals"] == from_file["totals"]
    assert direct["totals"]["macs"] > 0
    # a factory has no default shape
    rc, _, err = _run(capsys, ["trace", "--model", MOBILE, "--out", tmp_path / "x.yaml"])
    _one_line_error(rc, err, "--input-shape")
    assert not (tmp_path / "x.yaml").exists()


# ---- the user file through search, train, evaluate (and emit, slow) ----
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``edmips train`` of the user MLP at 8/8 (fixed family): the "float" starting point."""
    d = tmp_path_factory.mktemp("byom")
    rc = edmips_main(
        ["train", "--model", MLP, "--bits", "8/8", "--family", "fixed", "--epochs", "2",
         "--out", str(d / "mlp"), *QUIET]
    )  # fmt: skip
    assert rc == 0
    return d


def test_search_user_block_network(tmp_path, capsys):
    rc, out, err = _run(
        capsys,
        ["search", "--model", MOBILE, "--model-arg", "width=4", "--accel", STRIPES,
         "--target", "latency=0.6x", "--epochs", "1", "--train-subset", "256", "--device", "cpu",
         "--out", tmp_path / "s", *QUIET],
    )  # fmt: skip
    assert rc == 0, err
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["model"] == MOBILE and summary["config"]["model_args"] == {"width": 4}
    assert len(summary["allocation"]) == 8  # stem, 3 x (dw, pw), fc


def test_train_and_evaluate_user_model_file(trained, tmp_path, capsys, monkeypatch):
    model_pt = trained / "mlp" / "model.pt"
    acc = json.loads((trained / "mlp" / "train_summary.json").read_text())["accuracy"]
    assert acc > 0.8
    monkeypatch.chdir(tmp_path)  # the model file path is absolute in model.pt
    rc, out, err = _run(
        capsys,
        ["evaluate", "--model-file", model_pt, "--accel", STRIPES, "--device", "cpu",
         "--json", "eval.json"],
    )  # fmt: skip
    assert rc == 0, err
    assert json.loads(Path("eval.json").read_text())["top1"] == pytest.approx(acc)


def test_model_pt_whose_factory_is_gone(trained, tmp_path, capsys):
    import shutil

    from search.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(trained / "mlp" / "model.pt")
    gone = tmp_path / "moved.py"
    shutil.copy(USER, gone)
    state["model_name"] = f"{gone}:mlp"
    save_checkpoint(tmp_path / "model.pt", state)
    gone.unlink()
    rc, _, err = _run(capsys, ["evaluate", "--model-file", tmp_path / "model.pt"])
    _one_line_error(rc, err, "model.pt: cannot rebuild its model", "moved.py not found")


def test_weights_round_trip(trained, tmp_path, capsys):
    """train -> search --weights: the first search epoch's accuracy is the loaded model's
    (a small learning rate keeps the weights where they were); from random weights it is not."""
    loaded = json.loads((trained / "mlp" / "train_summary.json").read_text())["accuracy"]
    common = ["search", "--model", MLP, "--target", "bitops=0.6x", "--epochs", "1",
              "--lr", "1e-4", "--a-bits", "4,8", "--w-bits", "4,8", "--train-subset", "256", *QUIET]  # fmt: skip
    firsts = {}
    for name, extra in (("warm", ["--weights", trained / "mlp" / "model.pt"]), ("cold", [])):
        rc, _, err = _run(capsys, [*common, *extra, "--out", tmp_path / name])
        assert rc == 0, err
        log = (tmp_path / name / "search_log.jsonl").read_text().splitlines()
        firsts[name] = json.loads(log[0])["test_acc"]
    assert abs(firsts["warm"] - loaded) <= 0.03, (firsts, loaded)
    assert firsts["cold"] < loaded - 0.3, (firsts, loaded)


@pytest.mark.slow
@pytest.mark.parametrize("factory", ["mlp", "tiny_mobilenet"])
def test_emit_user_model(factory, tmp_path, capsys):
    """Both user networks emit as hls4ml projects that C-simulate bit-exactly (g++, slow)."""
    rc, _, err = _run(
        capsys,
        ["train", "--model", f"{USER}:{factory}", "--bits", "4/4", "--family", "fixed",
         "--epochs", "1", "--out", tmp_path / "t", *QUIET],
    )  # fmt: skip
    assert rc == 0, err
    rc, out, err = _run(
        capsys,
        ["emit", "--model-file", tmp_path / "t" / "model.pt", "--out", tmp_path / "fw",
         "--verify", "20", *QUIET],
    )  # fmt: skip
    assert rc == 0, err
    assert "20/20 samples bit-exact" in out


# ---- devices ----
def _fake_cuda(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_device_selection(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    _fake_cuda(monkeypatch, 0)
    assert dev.resolve_device("auto") == torch.device("cpu")
    assert dev.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(SearchError, match="--device cuda:1: CUDA is not available"):
        dev.resolve_device("cuda:1")
    _fake_cuda(monkeypatch, 2)
    assert dev.resolve_device("auto") == torch.device("cuda", 0)
    assert dev.resolve_device("cuda") == torch.device("cuda", 0)
    assert dev.resolve_device("CUDA:1") == torch.device("cuda", 1)
    with pytest.raises(SearchError, match=r"GPU 2 does not exist \(2 visible: 0..1\)"):
        dev.resolve_device("cuda:2")
    with pytest.raises(SearchError, match="expected auto, cpu, cuda or cuda:N"):
        dev.resolve_device("cuda:x")
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun: one GPU per process
    assert dev.resolve_device("auto") == torch.device("cuda", 1)
    assert dev.ddp_backend(torch.device("cuda", 1)) == "nccl"
    assert dev.ddp_backend(torch.device("cpu")) == "gloo"
    assert dev.pin(True, torch.device("cuda", 0)) and not dev.pin(True, torch.device("cpu"))


def test_amp_flag(monkeypatch):
    cpu = torch.device("cpu")
    assert dev.check_amp(None, cpu) is None
    with pytest.raises(SearchError, match="--amp bf16: mixed precision needs a CUDA device"):
        dev.check_amp("bf16", cpu)
    with pytest.raises(SearchError, match="--amp fp8: expected one of bf16"):
        dev.check_amp("fp8", cpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert dev.check_amp("bf16", torch.device("cuda", 0)) == "bf16"
    assert isinstance(dev.autocast(cpu, "bf16"), torch.autocast)


def test_search_step_under_bf16_autocast(tmp_path, monkeypatch):
    """The search's forward pass under bf16 autocast (the ``--amp bf16`` code path, run with
    CPU autocast here because no GPU is lent): finite loss, outputs written."""
    import search.loop as loop
    from search.api import SearchConfig, search

    monkeypatch.setattr(loop, "check_amp", lambda amp, device: amp)
    cfg = SearchConfig(model=MLP, target="bitops=0.6x", metric="bitops", epochs=1,
                       amp="bf16", device="cpu", out=str(tmp_path / "s"), train_subset=256,
                       progress=False)  # fmt: skip
    summary = search(cfg)
    assert summary["final_test_acc_supernet"] > 0.2


_TAG = {"on": False}


@pytest.fixture
def cuda_tagged():
    """While ``["on"]``, ``torch.save`` records every storage at location ``cuda:0``, as a CUDA
    run writes it (a registered torch.serialization tagger with the highest priority)."""
    if not getattr(torch.serialization, "_edmips_test_tagger", False):
        torch.serialization.register_package(
            0, lambda obj: "cuda:0" if _TAG["on"] else None, lambda obj, location: None
        )
        torch.serialization._edmips_test_tagger = True  # type: ignore[attr-defined]
    yield _TAG
    _TAG["on"] = False


def test_cuda_checkpoint_resumes_on_cpu(tmp_path, cuda_tagged, capsys, monkeypatch):
    from search.checkpoint import load_checkpoint, save_checkpoint

    _fake_cuda(monkeypatch, 0)
    args = ["search", "--model", MLP, "--target", "bitops=0.6x", "--train-subset", "256",
            "--out", tmp_path / "s", *QUIET]  # fmt: skip
    rc, _, err = _run(capsys, [*args, "--epochs", "1"])
    assert rc == 0, err
    ckpt = tmp_path / "s" / "checkpoint.pt"
    state = load_checkpoint(ckpt)
    cuda_tagged["on"] = True
    save_checkpoint(ckpt, state)  # as a CUDA run writes it
    cuda_tagged["on"] = False
    with pytest.raises(RuntimeError, match="CUDA"):  # a plain load needs the GPU ...
        torch.load(ckpt, weights_only=False)
    (tmp_path / "s" / "summary.json").unlink()
    rc, out, err = _run(capsys, [*args, "--epochs", "2", "--resume", "--device", "cpu"])
    assert rc == 0, err  # ... edmips maps it onto the CPU and continues
    log = (tmp_path / "s" / "search_log.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in log] == [1, 2]


# ---- data at scale: CIFAR-10 batches, image folders, factory data sets (tiny, synthetic) ----
def _cifar(tmp_path: Path, n: int = 8) -> Path:
    import pickle

    import numpy as np

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [0, 1] * (n // 2)}
        (folder / name).write_bytes(pickle.dumps(d))
    return tmp_path


def test_cifar10_augmentation_is_a_padded_crop_and_flip(tmp_path):
    from search.data import AugmentedTensorDataset, load_dataset

    tr, te, _ = load_dataset("cifar10", str(_cifar(tmp_path)), augment=True)
    assert isinstance(tr, AugmentedTensorDataset) and not isinstance(te, AugmentedTensorDataset)
    raw = tr.tensors[0][3]
    padded = torch.nn.functional.pad(raw, (4, 4, 4, 4))
    crops = [padded[:, i : i + 32, j : j + 32] for i in range(9) for j in range(9)]
    crops += [c.flip(-1) for c in crops]
    torch.manual_seed(1)
    seen = set()
    for _ in range(30):
        x, y = tr[3]
        assert x.shape == (3, 32, 32) and int(y) == 1
        hits = [k for k, c in enumerate(crops) if torch.equal(c, x)]
        assert hits, "not a crop of the padded image"
        seen.add(hits[0])
    assert len(seen) > 10  # it is random
    torch.manual_seed(1)
    again = tr[3][0]
    torch.manual_seed(1)
    assert torch.equal(again, tr[3][0])  # and seeded
    plain, _, _ = load_dataset("cifar10", str(tmp_path), augment=False)
    assert torch.equal(plain[3][0], raw)


def test_imagefolder_png_and_npy_with_augmentations(tmp_path):
    import numpy as np
    from PIL import Image

    from search.data import load_dataset, resize_center_crop

    for split in ("train", "val"):
        for c in ("cat", "dog"):
            d = tmp_path / split / c
            d.mkdir(parents=True)
            Image.new("RGB", (40, 20), (10, 200, 30)).save(d / "a.png")
            np.save(d / "b.npy", np.full((20, 30, 3), 128, dtype=np.uint8))
    tr, te, info = load_dataset("imagefolder", str(tmp_path), image_size=16, augment=True)
    assert info["num_classes"] == 2 and len(tr) == 4 and len(te) == 4
    for ds in (tr, te):
        for i in range(4):
            x, _ = ds[i]
            assert x.shape == (3, 16, 16) and torch.isfinite(x).all()
    # centre crop: a wide image whose left and right quarters differ keeps only the middle
    img = torch.zeros(3, 20, 40)
    img[:, :, :10] = 1.0
    img[:, :, 30:] = 1.0
    assert resize_center_crop(img, 16).abs().max() < 1e-6


def test_factory_dataset_through_the_cli(tmp_path, capsys):
    (tmp_path / "mydata.py").write_text(
        "import torch\n"
        "from torch.utils.data import TensorDataset\n"
        "def blobs(data_dir=None):\n"
        "    g = torch.Generator().manual_seed(0)\n"
        "    y = torch.arange(96) % 3\n"
        "    x = torch.randn(96, 1, 6, 6, generator=g) * 0.3 + y.view(-1, 1, 1, 1).float()\n"
        "    return TensorDataset(x[:72], y[:72]), TensorDataset(x[72:], y[72:])\n"
        "def bad():\n"
        "    return 'nope'\n"
    )
    data = f"{tmp_path / 'mydata.py'}:blobs"
    rc, out, err = _run(
        capsys,
        ["train", "--model", MLP, "--data", data, "--bits", "4/4", "--epochs", "3",
         "--out", tmp_path / "t", *QUIET],
    )  # fmt: skip
    assert rc == 0, err
    summary = json.loads((tmp_path / "t" / "train_summary.json").read_text())
    assert summary["zoo_args"] == {"num_classes": 3, "input_shape": [1, 6, 6]}
    rc, out, err = _run(capsys, ["evaluate", "--model-file", tmp_path / "t" / "model.pt"])
    assert rc == 0 and "on " + data in out, err
    rc, _, err = _run(
        capsys,
        ["train", "--data", f"{tmp_path / 'mydata.py'}:bad", "--bits", "4/4",
         "--out", tmp_path / "t2", *QUIET],
    )  # fmt: skip
    _one_line_error(rc, err, "returned str; expected (train, test)")


def test_search_on_cifar10_files_with_a_user_model(tmp_path, capsys):
    rc, _, err = _run(
        capsys,
        ["search", "--model", MOBILE, "--model-arg", "width=4", "--data", "cifar10",
         "--data-dir", _cifar(tmp_path), "--target", "bitops=0.6x", "--epochs", "1",
         "--workers", "0", "--out", tmp_path / "s", *QUIET],
    )  # fmt: skip
    assert rc == 0, err
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["data"] == "cifar10" and summary["config"]["augment"] is True


def test_torchrun_one_process_joins_a_group(tmp_path):
    """`torchrun --nproc_per_node 1` runs DDP too (gloo on the CPU; NCCL on CUDA, see
    bench/gpu_check.sh), so a one-GPU check exercises the multi-GPU path."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1",
           "--master_port", str(port), "-m", "edmips", "search", "--model", MLP,
           "--target", "bitops=0.6x", "--epochs", "1", "--train-subset", "128",
           "--device", "cpu", "--out", str(tmp_path / "s")]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "DistributedDataParallel: 1 process(es), backend gloo" in r.stdout
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["world_size"] == 1


def test_experiment_model_file_resolves_next_to_the_experiment():
    import yaml

    from edmips.experiment import Experiment

    raw = yaml.safe_load((ROOT / "examples" / "digits_fpga.yaml").read_text())
    raw.update(model="user_models.py:mlp", model_args={"hidden": 16})
    exp = Experiment.from_dict(raw, source="exp.yaml", base=USER.parent)
    assert exp.model == MLP
    assert exp.search_config("s").model_args == {"hidden": 16}
    assert exp.train_config("t").model_args == {"hidden": 16}
    raw["model_args"] = "hidden=16"
    with pytest.raises(Exception, match="model_args"):
        Experiment.from_dict(raw, source="exp.yaml", base=USER.parent)


@pytest.mark.slow
def test_emit_untrained_factory_model(tmp_path, capsys):
    rc, out, err = _run(
        capsys,
        ["emit", "--zoo", MLP, "--model-arg", "hidden=16", "--bits", "4/4", "--out",
         tmp_path / "fw", "--verify", "10", *QUIET],
    )  # fmt: skip
    assert rc == 0, err
    assert "10/10 samples bit-exact" in out


def test_train_weights_start_the_fixed_network(trained):
    """``train --weights``: the fixed network starts as the loaded one (same allocation: the
    same test accuracy before any step)."""
    from hwsim import Allocation
    from search.checkpoint import load_checkpoint
    from search.data import load_dataset
    from search.loop import evaluate_model
    from search.train import build_fixed

    model_pt = trained / "mlp" / "model.pt"
    state = load_checkpoint(model_pt)
    _, test_ds, _ = load_dataset("digits")
    alloc = Allocation.from_dict(state["allocation"])
    fresh, _, _ = build_fixed(MLP, (1, 8, 8), 10, alloc, None, "fixed")
    warm, _, _ = build_fixed(MLP, (1, 8, 8), 10, alloc, None, "fixed", weights=str(model_pt))
    acc = state["accuracy"]
    assert evaluate_model(warm, test_ds) == pytest.approx(acc)
    assert evaluate_model(fresh, test_ds) < acc - 0.3
