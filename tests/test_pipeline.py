"""``edmips run`` on the digits example scaled down (1-2 epochs): stages, done-markers, resume
after an interruption, skip on re-run, config-change errors, --force, artefacts and report."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from edmips import api, pipeline
from edmips.cli import main
from edmips.experiment import Experiment, ExperimentError
from edmips.pipeline import STAGES, run
from hwsim import Allocation

ROOT = Path(__file__).resolve().parents[1]
ACC = ROOT / "accel_configs"


def small(
    emit: bool = False, fpga_sim: bool = False, fpga: dict | None = None, **search
) -> Experiment:
    """examples/digits_fpga.yaml with tiny epochs (and no firmware stage unless ``emit``; the
    FPGA is simulated only with ``fpga_sim``; ``fpga``: the experiment's FPGA target section)."""
    raw = yaml.safe_load((ROOT / "examples" / "digits_fpga.yaml").read_text())
    raw["search"].update(
        {"accel": str(ACC / "fpga_xc7z020.yaml"), "epochs": 2, "batch_size": 256, **search}
    )
    raw["train"] = {"epochs": 1, "batch_size": 256}
    raw["baselines"] = ["2/2"]
    raw["simulate"] = {"accels": [str(ACC / "bitfusion_eyeriss.yaml"), str(ACC / "stripes.yaml")]}
    if fpga_sim:
        raw["simulate"]["accels"].append(str(ACC / "fpga_xc7z020.yaml"))
    raw["emit"] = {"accel": str(ACC / "fpga_xc7z020.yaml"), "verify": 20} if emit else None
    if fpga is not None:
        raw.update(version=2, fpga=fpga)
    return Experiment.from_dict(raw)


class Boom(Exception):
    pass


def _quiet_run(*args, **kw):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res = run(*args, progress=False, **kw)
    return res, buf.getvalue()


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """Run 1 is killed inside the search's second epoch; run 2 resumes the search, trains, and is
    killed after the train stage; run 3 finishes; run 4 skips everything."""
    out = tmp_path_factory.mktemp("run") / "digits"
    exp = small()
    rec: dict = {"out": out, "exp": exp}

    def kill(epoch, step, model):
        if epoch == 1 and step == 0:
            raise Boom("killed in the search")

    with pytest.raises(Boom):
        _quiet_run(exp, out, search_callback=kill)
    rec["after1"] = sorted(p.stem for p in (out / ".stages").glob("*.json"))
    rec["ckpt_epoch1"] = (out / "search" / "checkpoint.pt").exists()
    with pytest.MonkeyPatch.context() as mp:

        def boom(self, force):
            raise Boom("killed before the baselines")

        mp.setattr(pipeline._Run, "run_baselines", boom)
        with pytest.raises(Boom):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                try:
                    run(exp, out, progress=False)
                finally:
                    rec["log2"] = buf.getvalue()
    rec["train_mtime"] = (out / "train" / "model.pt").stat().st_mtime_ns
    rec["run3"], rec["log3"] = _quiet_run(exp, out)
    exp.save(out.parent / "exp.yaml")  # run 4 through the CLI
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rec["rc4"] = main(["run", str(out.parent / "exp.yaml"), "--out", str(out), "--no-progress"])
    rec["log4"] = buf.getvalue()
    rec["run5"] = api.run(out.parent / "exp.yaml", out, progress=False)
    return rec


def test_search_resumes_from_its_checkpoint(story):
    assert story["after1"] == ["search.pending"]  # no stage finished
    assert story["ckpt_epoch1"]
    assert "resuming" in story["log2"] and "at epoch 2/2" in story["log2"]
    log = [json.loads(x) for x in (story["out"] / "search" / "search_log.jsonl").open()]
    assert [r["epoch"] for r in log] == [1, 2]


def test_interrupted_run_resumes_at_unfinished_stage(story):
    r3 = story["run3"]
    assert r3.skipped == ["search", "train"]
    assert r3.ran == ["baselines", "simulate", "report"]
    assert (story["out"] / "train" / "model.pt").stat().st_mtime_ns == story["train_mtime"]


def test_second_run_skips_every_stage(story):
    assert story["rc4"] == 0
    assert "ran: nothing; skipped: search, train, baselines, simulate, report;" in story["log4"]
    r5 = story["run5"]
    assert r5.ran == [] and r5.skipped == ["search", "train", "baselines", "simulate", "report"]


def test_artefacts_and_report(story):
    out = story["out"]
    for f in [
        "experiment.yaml",
        "search/allocation.yaml",
        "search/search_log.jsonl",
        "search/summary.json",
        "train/model.pt",
        "baselines/w2a2/model.pt",
        "simulate/bitfusion_eyeriss.json",
        "simulate/bitfusion_eyeriss.png",
        "simulate/stripes.json",
        "simulate/stripes.png",
        "simulate/costs.json",
        "report.md",
        "plots/allocation.png",
        "plots/simulate.png",
        "plots/accuracy_vs_lut_fpga_xc7z020.png",
        "plots/accuracy_vs_latency_s_stripes.png",
    ]:
        assert (out / f).is_file(), f
    assert Experiment.load(out / "experiment.yaml") == story["exp"]
    md = (out / "report.md").read_text()
    ss = json.loads((out / "search" / "summary.json").read_text())
    acc = json.loads((out / "train" / "train_summary.json").read_text())["accuracy"]
    base = json.loads((out / "baselines" / "w2a2" / "train_summary.json").read_text())["accuracy"]
    stripes = json.loads((out / "simulate" / "stripes.json").read_text())["totals"]
    assert f"achieved: {ss['achieved_text']} = {ss['achieved_rel']:.3f}x" in md
    assert f"| searched | {100 * acc:.2f} |" in md
    assert f"| uniform 2/2 | {100 * base:.2f} |" in md
    assert f"| stripes | {stripes['latency_s']:.4g} |" in md
    assert "No firmware stage" in md


def test_changed_config_errors_without_force(story, tmp_path):
    exp = small()
    exp.train.epochs = 2
    with pytest.raises(ExperimentError, match=r"stage 'train' in .* different config.*--force"):
        _quiet_run(exp, story["out"])


def test_force_redoes_selected_stage_only(story):
    res, _ = _quiet_run(story["exp"], story["out"], force=True, stages=["report"])
    assert res.ran == ["report"] and res.skipped == []


def test_stage_selection_needs_finished_inputs(tmp_path):
    with pytest.raises(ExperimentError, match="stage 'search' is not finished"):
        _quiet_run(small(), tmp_path / "r", stages=["train"])
    with pytest.raises(ExperimentError, match="--stages: 'nope' unknown"):
        _quiet_run(small(), tmp_path / "r", stages=["nope"])


def test_foreign_out_folder_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(ExperimentError, match="not a run folder"):
        _quiet_run(small(), tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "user data"


def _written_reuse_factors(project: Path) -> dict[str, int]:
    """hls4ml layer name -> the reuse_factor of its config struct in firmware/parameters.h
    (each layer's structs follow a ``// <layer name>`` comment line)."""
    out: dict[str, int] = {}
    layer = None
    for line in (project / "firmware" / "parameters.h").read_text().splitlines():
        m = re.fullmatch(r"// (\w+)", line.strip())
        if m:
            layer = m.group(1)
            continue
        m = re.search(r"reuse_factor = (\d+);", line)
        if m and layer is not None and layer not in out:
            out[layer] = int(m.group(1))
    return out


def test_full_pipeline_with_verified_firmware(tmp_path):
    """Every stage including emit: the hls4ml project is C-simulated bit-exactly (21 s measured
    on 2 cores; 31 s when the machine is shared), and it is the simulated FPGA design, built for
    the experiment's throughput target (``fpga: target_ii``, not the config file's 10,000)."""
    out = tmp_path / "run"
    exp = small(emit=True, fpga_sim=True, fpga={"target_ii": 4000}, epochs=1)
    res, _ = _quiet_run(exp, out)
    assert res.ran == list(STAGES)
    e = json.loads((out / "firmware" / "emit.json").read_text())
    assert (e["verify"]["samples"], e["verify"]["exact"]) == (20, 20)
    for f in [
        "firmware/build_prj.tcl",
        "firmware/firmware/myproject.cpp",
        "firmware/emit_report.md",
    ]:
        assert (out / f).is_file(), f
    md = (out / "report.md").read_text()
    assert e["verify"]["line"] in md
    assert f"cd {out / 'firmware'} && vitis-run --mode hls --tcl build_prj.tcl" in md
    # the firmware is the simulated design: per-layer reuse factors in parameters.h, totals
    sim = json.loads((out / "simulate" / "fpga_xc7z020.json").read_text())
    written = _written_reuse_factors(out / "firmware")
    macs = {r["module"]: r["name"] for r in e["layers"] if r["op"] in ("conv", "linear")}
    assert set(macs) == {r["name"] for r in sim["layers"]}
    for row in sim["layers"]:
        assert written[macs[row["name"]]] == row["reuse_factor"], row["name"]
    for k in ("lut", "dsp", "bram_18k"):
        assert e["emitted_totals"][k] == sim["totals"][k] == e["budgeted_totals"][k], k
    assert e["differs"] == []
    assert "The firmware is the budgeted design" in md
    assert "### Budgeted vs emitted design" in md
    stored = Allocation.load(out / "simulate" / "allocation.yaml")
    assert stored.fpga_plans["fpga_xc7z020"].to_dict() == e["budgeted"]
    assert e["budgeted"]["target_ii_cycles"] == 4000
    assert max(r["ii_cycles"] for r in e["budgeted"]["layers"].values()) <= 4000
    # the float first layer runs at the width hwsim costs it at (8 bits, not 16)
    first = sim["layers"][0]
    defines = (out / "firmware" / "firmware" / "defines.h").read_text()
    m = re.search(r"typedef (?:nnet::array<)?ap_u?fixed<(\d+),[^;]* input_t;", defines)
    assert m is not None and int(m.group(1)) == first["a_bits"] == 8
    # ... and so does the float last layer's input (the result type of the node feeding it)
    last = sim["layers"][-1]
    i = next(k for k, r in enumerate(e["layers"]) if r["module"] == last["name"])
    feed = e["layers"][i - 1]["types"]["result"]
    assert re.match(r"ap_u?fixed<8,", feed) and last["a_bits"] == 8, feed
    for row in (first, last):
        line = f"float layer {row['name']}: emitted and costed at {row['w_bits']}/8 bits"
        assert line in e["float_layers"] and line in md, line
    again, _ = _quiet_run(exp, out)
    assert again.ran == [] and again.skipped == list(STAGES)


def test_missing_output_reruns_its_stage(story):
    (story["out"] / "report.md").unlink()
    res, _ = _quiet_run(story["exp"], story["out"])
    assert res.ran == ["report"]
    assert (story["out"] / "report.md").is_file()
