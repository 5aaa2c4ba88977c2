"""One warm-start checkpoint per model and seed, trained once and reused by every target."""

from __future__ import annotations

from pathlib import Path

import pytest

import search.warmstart as ws
from search.api import SearchConfig
from search.loop import run_search

ROOT = Path(__file__).resolve().parents[1]


def _cfg(out: Path, **kw) -> SearchConfig:
    base = dict(
        model="digits_mlp",
        data="digits",
        metric="bitops",
        target="bitops=0.5x",
        w_bits=[2, 4],
        a_bits=[2, 4],
        epochs=2,
        step_epoch=2,
        batch_size=128,
        train_subset=300,
        seed=0,
        out=str(out),
        progress=False,
    )
    base.update(kw)
    return SearchConfig(**base)


def test_second_target_reuses_the_warm_start(tmp_path: Path, monkeypatch) -> None:
    calls = []
    real = ws.run_train

    def counting(cfg):
        calls.append(cfg.out)
        return real(cfg)

    monkeypatch.setattr(ws, "run_train", counting)
    folder = tmp_path / "warm"
    a = _cfg(tmp_path / "a")
    path, trained = ws.ensure_warm_start(a, folder)
    assert trained and len(calls) == 1 and Path(path).is_file()
    assert ws.warm_start_config(a, folder).bits == "4/4"
    # another target, metric and accelerator: the same checkpoint, no second training
    b = _cfg(
        tmp_path / "b",
        metric="latency",
        target="latency=0.7x",
        accel=str(ROOT / "accel_configs" / "stripes.yaml"),
    )
    path_b, trained_b = ws.ensure_warm_start(b, folder)
    assert (path_b, trained_b) == (path, False) and len(calls) == 1
    b.init = path_b
    s = run_search(b)
    assert s["config"]["init"] == path
    # what the weights depend on (here the seed) gives another checkpoint
    path_c, trained_c = ws.ensure_warm_start(_cfg(tmp_path / "c", seed=1), folder)
    assert trained_c and path_c != path and len(calls) == 2


def test_unfinished_warm_start_is_trained_again(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path / "a")
    tcfg = ws.warm_start_config(cfg, tmp_path / "warm")
    Path(tcfg.out).mkdir(parents=True)
    (Path(tcfg.out) / "model.pt").write_bytes(b"truncated")  # a killed run left no .done
    path, trained = ws.ensure_warm_start(cfg, tmp_path / "warm")
    assert trained and Path(path).stat().st_size > 100


@pytest.mark.parametrize("family", ["paper", "fixed"])
def test_widest_candidates_are_the_warm_start_bits(tmp_path: Path, family: str) -> None:
    cfg = _cfg(tmp_path, family=family, w_bits=None, a_bits=[2, 3])
    assert ws.warm_start_config(cfg, tmp_path).bits == f"{max(cfg.w_bits)}/3"
