import pytest
import torch

from hwsim import Allocation
from search.api import EvalConfig, SearchConfig, TrainConfig
from search.errors import SearchError
from search.loop import run_search
from search.train import load_trained, run_evaluate, run_train


def tcfg(out, **kw):
    base = dict(
        model="digits_mlp", epochs=2, step_epoch=1, batch_size=128, out=str(out), progress=False
    )
    base.update(kw)
    return TrainConfig(**base)


def test_uniform_baseline_train_save_load_evaluate(tmp_path):
    s = run_train(tcfg(tmp_path / "u", bits="2/2"))
    assert 0.5 < s["accuracy"] <= 1.0
    model, alloc, meta = load_trained(str(tmp_path / "u" / "model.pt"))
    assert meta["model_name"] == "digits_mlp" and meta["family"] == "paper"
    assert alloc.float_layers == ["1", "7"] and alloc.bits["4"] == (2, 2)
    assert not model.training
    res = run_evaluate(EvalConfig(model_file=str(tmp_path / "u" / "model.pt"), progress=False))
    assert res["top1"] == pytest.approx(s["accuracy"])
    with pytest.raises(SearchError, match="--force"):
        run_train(tcfg(tmp_path / "u", bits="2/2"))


def test_train_from_allocation_and_search_init(tmp_path):
    sc = SearchConfig(
        model="digits_mlp",
        metric="bitops",
        target="bitops=0.3x",
        epochs=1,
        batch_size=128,
        out=str(tmp_path / "s"),
        progress=False,
    )
    run_search(sc)
    alloc_path = tmp_path / "s" / "allocation.yaml"
    s = run_train(
        tcfg(
            tmp_path / "t",
            allocation=str(alloc_path),
            init_from_search=str(tmp_path / "s" / "checkpoint.pt"),
            epochs=1,
        )
    )
    model, alloc, _ = load_trained(s["model_file"])
    assert alloc.bits == Allocation.load(alloc_path).bits
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_bad_train_inputs(tmp_path):
    with pytest.raises(SearchError, match="exactly one"):
        run_train(tcfg(tmp_path / "a"))
    with pytest.raises(SearchError, match="--bits"):
        run_train(tcfg(tmp_path / "a", bits="two"))
    with pytest.raises(SearchError, match="unknown model"):
        run_train(tcfg(tmp_path / "a", bits="2/2", model="nonet"))
    with pytest.raises(SearchError, match="checkpoint not found"):
        load_trained(str(tmp_path / "none.pt"))


def test_fixed_family_round_trip(tmp_path):
    s = run_train(tcfg(tmp_path / "f", bits="4/4", family="fixed", epochs=1))
    model, alloc, meta = load_trained(s["model_file"])
    assert meta["family"] == "fixed" and alloc.bits["4"] == (4, 4)
    x = torch.randn(4, 1, 8, 8)
    model2, _, _ = load_trained(s["model_file"])
    with torch.no_grad():
        assert torch.equal(model(x), model2(x))  # frozen fractional bits: deterministic reload
