import json
from pathlib import Path

import pytest
import torch
import yaml

from search.api import SearchConfig
from search.checkpoint import load_checkpoint
from search.errors import SearchError
from search.loop import run_search

SYSTOLIC_YAML = (
    Path(__file__).resolve().parents[1] / "accel_configs" / "systolic_int8_32x32_ws.yaml"
)


def cfg(out, **kw):
    base = dict(
        model="digits_mlp",
        data="digits",
        metric="bitops",
        target="bitops=0.3x",
        epochs=3,
        step_epoch=2,
        batch_size=128,
        seed=3,
        out=str(out),
        progress=False,
    )
    base.update(kw)
    return SearchConfig(**base)


class Stop(Exception):
    pass


def test_search_outputs_and_budget(tmp_path):
    s = run_search(cfg(tmp_path / "a"))
    out = tmp_path / "a"
    for f in ("allocation.yaml", "search_log.jsonl", "summary.json", "checkpoint.pt"):
        assert (out / f).exists()
    log = [json.loads(line) for line in (out / "search_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert {"loss", "test_acc", "expected_cost", "argmax_bits", "argmax_cost", "lambda"} <= set(
        log[0]
    )
    assert s["achieved"] <= s["target_value"] * (1 + 1e-9)
    assert s["achieved"] >= 0.9 * s["target_value"]  # the repair's floor (fill), a constraint
    alloc = yaml.safe_load((out / "allocation.yaml").read_text())
    assert alloc["meta"]["metric"] == "bitops" and alloc["meta"]["target"] == "bitops=0.3x"
    # refuses to overwrite a finished run
    with pytest.raises(SearchError, match="--force"):
        run_search(cfg(out))


def test_resume_after_kill_matches_uninterrupted(tmp_path):
    full = run_search(cfg(tmp_path / "full"))

    def kill(epoch, step, model):
        if epoch == 1 and step == 4:
            raise Stop

    with pytest.raises(Stop):
        run_search(cfg(tmp_path / "cut"), callback=kill)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 1
    resumed = run_search(cfg(tmp_path / "cut", resume=True))
    assert resumed["allocation"] == full["allocation"]
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (tmp_path / "full" / "search_log.jsonl").read_text() == (
        tmp_path / "cut" / "search_log.jsonl"
    ).read_text().replace("cut", "full")


def test_nan_loss_is_one_line_error_and_checkpoint_survives(tmp_path):
    def poison(epoch, step, model):
        if epoch == 1 and step == 1:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))

    with pytest.raises(SearchError, match="loss became nan at epoch 2"):
        run_search(cfg(tmp_path / "n"), callback=poison)
    state = load_checkpoint(tmp_path / "n" / "checkpoint.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_impossible_budget_and_resume_mismatch(tmp_path):
    with pytest.raises(SearchError, match="infeasible.*cheapest allocation costs"):
        run_search(cfg(tmp_path / "x", target="bitops=0.01x"))
    with pytest.raises(SearchError, match="nothing to resume"):
        run_search(cfg(tmp_path / "y", resume=True))


def test_fixed_lambda_and_accelerator_metric(tmp_path):
    s = run_search(
        cfg(
            tmp_path / "l",
            target=None,
            lam=0.5,
            metric="energy",
            accel=str(SYSTOLIC_YAML),
            epochs=1,
        )
    )
    assert s["target_value"] is None and s["achieved"] > 0
