"""Experiment files of ``edmips run``: YAML round trip and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edmips.cli import main
from edmips.experiment import VERSION, EmitConfig, Experiment, ExperimentError, SimulateConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [ROOT / "examples" / "digits_fpga.yaml", ROOT / "examples" / "fmnist_fpga.yaml"]


def _raw() -> dict:
    return yaml.safe_load((ROOT / "examples" / "digits_fpga.yaml").read_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip_through_yaml(path, tmp_path):
    exp = Experiment.load(path)
    exp.save(tmp_path / "e.yaml")
    again = Experiment.load(tmp_path / "e.yaml")
    assert again == exp
    assert again.to_dict()["version"] == VERSION == 2
    assert exp.search_config("x").family == "fixed"
    assert exp.emit_config("fw", "m.pt").verify > 0


def test_stage_configs_round_trip():
    s = SimulateConfig(accels=["a.yaml", "b.yaml"], model_file="m.pt", batch=2)
    assert SimulateConfig.from_dict(yaml.safe_load(yaml.safe_dump(s.to_dict()))) == s
    e = EmitConfig(model_file="m.pt", accel="f.yaml", verify=5, io_type="io_stream", target_ii=64)
    assert EmitConfig.from_dict(yaml.safe_load(yaml.safe_dump(e.to_dict()))) == e


def test_search_section_fills_search_config():
    exp = Experiment.from_dict(_raw())
    cfg = exp.search_config("out/search", progress=False)
    assert (cfg.metric, cfg.target, cfg.w_bits, cfg.epochs) == ("lut", "lut=0.8x", [2, 4, 8], 12)
    assert (cfg.model, cfg.data, cfg.out, cfg.progress) == (
        "digits_cnn",
        "digits",
        "out/search",
        False,
    )
    t = exp.train_config("out/b", bits="2/2")
    assert (t.bits, t.allocation, t.epochs, t.family) == ("2/2", None, 15, "fixed")


def _edit(raw: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    d = raw
    for p in parents:
        d = d.setdefault(p, {})
    if value is KeyError:
        del d[last]
    else:
        d[last] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("colour", "red", "e.yaml: colour: unknown key"),
        ("search.colour", 1, "e.yaml: search.colour: unknown key"),
        ("search.out", "x", "e.yaml: search.out: unknown key (set by the pipeline)"),
        ("train.epochs", "many", "e.yaml: train.epochs: 'many' is not of type int"),
        ("search.w_bits", [2, "x"], "e.yaml: search.w_bits: [2, 'x'] is not of type list[int]"),
        ("simulate.accels", ["nope.yaml"], "nope.yaml: file not found"),
        ("emit.io_type", "serial", "emit.io_type: 'serial': expected auto"),
        ("emit.verify", -1, "emit.verify: -1: expected a count >= 0"),
        ("family", "paper", "emit: firmware needs family: fixed"),
        ("baselines", ["2/x"], "baselines[0]"),
        ("baselines", ["1/2"], "baselines[0]: '1/2': the fixed family needs weights of >= 2 bits"),
        ("search.lam", 0.1, "give exactly one of search.target"),
        ("version", 99, "e.yaml: version: 99 is not supported"),
        ("version", KeyError, "e.yaml: version: missing"),
        ("search", [1, 2], "e.yaml: search: expected a mapping"),
    ],
)
def test_bad_experiment_names_the_key(tmp_path, path, value, message):
    f = tmp_path / "e.yaml"
    f.write_text(yaml.safe_dump(_edit(_raw(), path, value)))
    with pytest.raises(ExperimentError) as exc:
        Experiment.load(f)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    f = tmp_path / "e.yaml"
    f.write_text(yaml.safe_dump(_edit(_raw(), "train.lr", "fast")))
    assert main(["run", str(f), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"edmips run: error: {f}: train.lr: 'fast' is not of type float"
    assert not (tmp_path / "run").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsearch: [\n")
    assert main(["run", str(bad)]) == 2
    assert "not valid YAML: line" in capsys.readouterr().err


def test_paths_resolve_against_the_experiment_file(tmp_path, monkeypatch):
    """The same file loads the same from any folder: relative paths are the file's, shipped
    config names fall back to the package's accel_configs/, and a file beside the experiment
    wins over the shipped one of the same name."""
    monkeypatch.chdir(tmp_path)  # not the repository
    exp = Experiment.load(ROOT / "examples" / "digits_fpga.yaml")
    assert exp.search.accel == str(ROOT / "accel_configs" / "fpga_xc7z020.yaml")
    assert exp.simulate.accels[1] == str(ROOT / "accel_configs" / "stripes.yaml")
    here = tmp_path / "proj"
    (here / "accel_configs").mkdir(parents=True)
    mine = here / "accel_configs" / "stripes.yaml"
    mine.write_text((ROOT / "accel_configs" / "stripes.yaml").read_text())
    raw = _raw()
    raw["data_dir"] = "data"
    (here / "e.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(ROOT)  # a cwd with an accel_configs/ of its own changes nothing
    exp = Experiment.load(here / "e.yaml")
    assert exp.simulate.accels[1] == str(mine)
    assert exp.simulate.accels[0] == str(ROOT / "accel_configs" / "bitfusion_eyeriss.yaml")
    assert exp.data_dir == str(here / "data")
    raw["search"]["accel"] = "../elsewhere/fpga.yaml"
    (here / "e.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ExperimentError, match=r"search.accel: .*/proj/../elsewhere/fpga.yaml: file"
    ):
        Experiment.load(here / "e.yaml")
