"""``edmips pareto``: outputs, Pareto front, cross-check numbers, resumption, one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from edmips.cli import main
from edmips.pareto import ParetoConfig, ParetoError, allocation_bitops, run_pareto
from edmips.plots import Point, pareto_front
from hwsim import Allocation, load_config, simulate

ROOT = Path(__file__).resolve().parents[1]
STRIPES = str(ROOT / "accel_configs" / "stripes.yaml")
BITFUSION = str(ROOT / "accel_configs" / "bitfusion_eyeriss.yaml")


def _cfg(out: Path, **kw) -> ParetoConfig:
    base = dict(
        accels=[STRIPES, BITFUSION],
        model="digits_cnn",
        data="digits",
        targets=["0.35x", "0.7x"],  # 0.35x is infeasible on Bit Fusion: skipped there
        uniform=["2/2", "8/8"],
        bitops=True,
        search_epochs=1,
        train_epochs=1,
        train_subset=200,
        batch_size=100,
        out=str(out),
        progress=False,
    )
    base.update(kw)
    return ParetoConfig(**base)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("pareto")
    return out, run_pareto(_cfg(out))


def test_outputs_exist_and_agree(study):
    out, res = study
    for name in (
        "pareto.md",
        "pareto.csv",
        "pareto.json",
        "crosscheck.md",
        "crosscheck.csv",
        "stripes_acc_vs_latency.png",
        "stripes_acc_vs_energy.png",
        "bitfusion_eyeriss_acc_vs_latency.png",
        "bitfusion_eyeriss_acc_vs_energy.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "stripes_acc_vs_latency.png").read_bytes()[:4] == b"\x89PNG"
    names = [r["name"] for r in res["rows"]]
    assert names == [
        "stripes_latency0.35x",
        "stripes_latency0.7x",
        "bitfusion_eyeriss_latency0.7x",
        "bitops-for-stripes0.35x",
        "bitops-for-stripes0.7x",
        "bitops-for-bitfusion_eyeriss0.7x",
        "uniform2-2",
        "uniform8-8",
    ]
    assert res["infeasible"] == ["bitfusion_eyeriss@0.35x"]
    with open(out / "pareto.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == names
    saved = json.loads((out / "pareto.json").read_text())
    assert [r["name"] for r in saved["rows"]] == names
    for r in res["rows"]:
        assert 0.0 <= r["top1"] <= 1.0
    # top-1 is the one the final training measured
    for n in names:
        ts = json.loads((out / "runs" / n / "train" / "train_summary.json").read_text())
        assert res["rows"][names.index(n)]["top1"] == ts["accuracy"]


def test_searches_meet_their_targets(study):
    out, res = study
    for r in res["rows"]:
        if r["kind"].startswith("searched-for-"):
            s = json.loads((out / "runs" / r["name"] / "search" / "summary.json").read_text())
            assert s["achieved"] <= s["target_value"] * (1 + 1e-9)
            assert s["config"]["train_subset"] == 200
    # each BitOps search got the BitOps of the hardware allocation it is matched to
    by = {r["name"]: r for r in res["rows"]}
    for k, t in (("stripes", "0.35x"), ("stripes", "0.7x"), ("bitfusion_eyeriss", "0.7x")):
        s = json.loads(
            (out / "runs" / f"bitops-for-{k}{t}" / "search" / "summary.json").read_text()
        )
        assert s["metric"] == "bitops"
        assert s["target_value"] == pytest.approx(by[f"{k}_latency{t}"]["bitops"], rel=1e-6)
        assert by[f"bitops-for-{k}{t}"]["bitops"] <= s["target_value"] * (1 + 1e-9)


def test_searches_share_one_warm_start(study):
    out, _ = study
    (folder,) = [d for d in (out / "warm_start").iterdir() if d.is_dir()]  # trained once
    inits = {
        json.loads(f.read_text())["config"]["init"]
        for f in (out / "runs").glob("*/search/summary.json")
    }
    assert inits == {str(folder / "model.pt")}


def test_crosscheck_equals_hwsim_simulate(study):
    from search.trace import trace_workload
    from search.zoo import build_model

    out, res = study
    wl = trace_workload(build_model("digits_cnn", num_classes=10, input_shape=(1, 8, 8)), (1, 8, 8))
    cfgs = {"stripes": load_config(STRIPES), "bitfusion_eyeriss": load_config(BITFUSION)}
    by = {r["name"]: r for r in res["rows"]}
    cross = res["crosscheck"]
    assert len(cross) == 2 + 3 + 3  # stripes@0.35 (own, bitops); stripes@0.7, bitfusion@0.7: 3 each
    for c in cross:
        alloc = Allocation.load(out / "runs" / c["allocation"] / "search" / "allocation.yaml")
        assert {n: list(b) for n, b in alloc.bits.items()} == by[c["allocation"]]["allocation"]
        tot = simulate(wl, alloc, cfgs[c["on"]]).totals
        assert c["latency_s"] == tot["latency_s"]
        assert c["energy_pj"] == tot["energy_per_inference_pj"]
        own = simulate(
            wl,
            Allocation.load(
                out / "runs" / f"{c['on']}_latency{c['target']}" / "search" / "allocation.yaml"
            ),
            cfgs[c["on"]],
        ).totals
        assert c["latency_vs_own"] == pytest.approx(tot["latency_s"] / own["latency_s"])
        assert allocation_bitops(wl, alloc) == tot["bitops"]
    # the main table's uniform 8/8 row is the reference of the relative columns
    u8 = by["uniform8-8"]
    assert u8["stripes_latency_rel"] == 1.0 and u8["bitfusion_eyeriss_energy_rel"] == 1.0
    # the searched metric's total is in every row, per accelerator (the study reads it)
    for r in res["rows"]:
        assert r["stripes_latency"] == r["stripes_latency_s"]


def test_rerun_skips_finished_subruns(study, capsys):
    out, first = study
    stamps = {
        p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.suffix in (".pt", ".json")
    }
    again = run_pareto(_cfg(out))
    assert again["ran"] == [] and len(again["skipped"]) == len(first["rows"])
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # no sub-run was touched
    assert [r["top1"] for r in again["rows"]] == [r["top1"] for r in first["rows"]]
    # an interrupted final training (no train_summary.json) is redone, nothing else
    (out / "runs" / "uniform2-2" / "train" / "train_summary.json").unlink()
    third = run_pareto(_cfg(out))
    assert third["ran"] == ["uniform2-2"]


def test_pareto_front_on_hand_made_points():
    pts = [
        Point("a", "uniform", 0.90, 10.0),
        Point("b", "uniform", 0.80, 5.0),
        Point("c", "searched", 0.85, 5.0),  # dominates b (same cost, more accurate)
        Point("d", "searched", 0.70, 12.0),  # dominated by a
        Point("e", "bitops", 0.95, 20.0),
        Point("f", "bitops", 0.60, 1.0),
        Point("g", "uniform", 0.90, 15.0),  # dominated by a (same accuracy, more cost)
    ]
    assert [p.label for p in pareto_front(pts)] == ["f", "c", "a", "e"]


def test_changed_settings_are_refused(study, capsys):
    out, _ = study
    with pytest.raises(ParetoError, match="train_epochs=1"):
        run_pareto(_cfg(out, train_epochs=2))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--targets", "0.5"], "--targets '0.5': expected a positive fraction"),
        (["--targets", "0.1x"], "infeasible for latency on every accelerator"),
        (["--uniform", "9x/2"], "--uniform '9x/2'"),
        (["--search-epochs", "0"], "--search-epochs 0: expected a positive integer"),
        (["--accel-targets", "loom=0.5x"], "--accel-targets loom: no --accel file named 'loom'"),
        (["--accel-targets", "stripes=0.5"], "--accel-targets stripes '0.5': expected a positive"),
        (["--accel-targets", "stripes"], "expected NAME=T1,T2"),
        (["--metric", "lut"], "accelerator 'stripes' (type bitserial) reports no 'lut'"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    rc = main(
        ["pareto", "--accel", STRIPES, "--accel", BITFUSION, "--out", str(tmp_path / "o"), *args]
    )
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_accel_file_and_foreign_out(tmp_path, capsys):
    rc = main(["pareto", "--accel", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "nope.yaml: file not found" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    rc = main(["pareto", "--accel", STRIPES, "--targets", "0.4x", "--out", str(tmp_path / "mine")])
    assert rc == 2 and "not an 'edmips pareto' folder" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_per_accelerator_targets_plan_and_feasibility(tmp_path):
    """--accel-targets replaces --targets on one accelerator: its searches (and the BitOps runs
    matched to them) use its own targets, the others keep --targets."""
    from edmips.pareto import check_feasible, plan

    cfg = _cfg(tmp_path / "o", accel_targets={"bitfusion_eyeriss": ["0.9x", "0.95x"]})
    assert cfg.targets_for("stripes") == ["0.35x", "0.7x"]
    assert cfg.targets_for("bitfusion_eyeriss") == ["0.9x", "0.95x"]
    assert cfg.all_targets() == ["0.35x", "0.7x", "0.9x", "0.95x"]
    bad, _ = check_feasible(cfg)
    runs = plan(cfg, set(bad))
    searched = {(r.accel, r.target) for r in runs if r.kind.startswith("searched-for-")}
    assert ("stripes", "0.35x") in searched and ("stripes", "0.9x") not in searched
    assert not {t for a, t in searched if a == "bitfusion_eyeriss"} & {"0.35x", "0.7x"}
    matched = {(r.accel, r.target) for r in runs if r.kind == "bitops"}
    assert matched == searched


def test_device_options_reach_every_subrun(tmp_path):
    """--device/--amp/--workers/--pin-memory of pareto are the search's and the training's."""
    cfg = _cfg(tmp_path / "o", device="cpu", workers=1, pin_memory=True)
    for sub in (cfg.search_config(), cfg.train_config()):
        assert (sub.device, sub.workers, sub.pin_memory, sub.amp) == ("cpu", 1, True, None)
