"""One config system: the CLI's defaults are the models' defaults, checks live in the models (one
line naming the option or key), configs round-trip, and the experiment's FPGA target reaches the
design the search costs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from edmips.cli import build_parser
from edmips.experiment import (
    VERSION,
    EmitConfig,
    Experiment,
    ExperimentError,
    SimulateConfig,
)
from edmips.pareto import ParetoConfig
from hwsim import load_config
from search.config import EvalConfig, FpgaTarget, SearchConfig, TrainConfig
from search.errors import SearchError

ROOT = Path(__file__).resolve().parents[1]
FPGA = ROOT / "accel_configs" / "fpga_xc7z020.yaml"
# the model each command's options are built from
COMMANDS = {
    "search": SearchConfig,
    "train": TrainConfig,
    "evaluate": EvalConfig,
    "emit": EmitConfig,
    "pareto": ParetoConfig,
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("command", list(COMMANDS))
def test_cli_defaults_equal_model_defaults(command: str) -> None:
    """For every option that sets a config field, the argparse default is the model's default
    (required options excepted), and every field of the command's model is on its CLI."""
    model = COMMANDS[command]
    p = _subparsers()[command]
    seen = set()
    for a in p._actions:
        if a.dest == "no_progress":
            assert a.default is False and model.default_of("progress") is True
            seen.add("progress")
            continue
        if a.dest not in model.model_fields:
            continue
        seen.add(a.dest)
        if a.required:
            continue  # given on every call
        assert a.default == model.default_of(a.dest), (command, a.dest)
    missing = set(model.model_fields) - seen - {"fpga"}
    assert not missing, f"{command}: fields without an option: {sorted(missing)}"


def test_checks_live_in_the_models() -> None:
    for kw, msg in [
        ({"epochs": 0}, "--epochs 0: expected a positive integer"),
        ({"family": "float"}, "--family 'float': expected paper or fixed"),
        ({"first": "int8"}, "--first 'int8': expected float or search"),
        ({"warmup": 1.5}, "--warmup 1.5: expected a fraction in [0, 1)"),
        ({"preset": "fast"}, "--preset 'fast': expected converge or paper"),
        ({"colour": 1}, "--colour: unknown key"),
        ({"lr": "fast"}, "--lr 'fast' is not of type float"),
        ({"target": "lut=0.5x", "metric": "latency"}, "is on lut but --metric is latency"),
    ]:
        with pytest.raises(SearchError, match=None) as exc:
            SearchConfig(**kw)
        assert msg in str(exc.value) and "\n" not in str(exc.value), (kw, str(exc.value))
    with pytest.raises(SearchError, match="--batch-size 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(SearchError, match="--search-epochs 0"):
        ParetoConfig(accels=["a.yaml"], search_epochs=0)
    with pytest.raises(SearchError, match="--verify -1: expected a count >= 0"):
        EmitConfig(verify=-1)


def test_metric_defaults_in_one_place() -> None:
    assert SearchConfig(target="lut=0.5x").metric == "lut"
    assert SearchConfig(lam=1.0).metric == "bitops"
    assert SearchConfig(lam=1.0, accel=str(FPGA)).metric == "latency"


@pytest.mark.parametrize(
    "cfg",
    [
        SearchConfig(target="bitops=0.5x", w_bits=[2, 4], fpga=FpgaTarget(target_ii=64)),
        TrainConfig(bits="2/2", epochs=3, out=Path("x")),
        EvalConfig(model_file="m.pt"),
        SimulateConfig(accels=["a.yaml"], batch=2),
        EmitConfig(model_file="m.pt", io_type="io_stream", target_ii=64),
        ParetoConfig(accels=["a.yaml"], targets=["0.5x"], family="fixed"),
    ],
    ids=lambda c: type(c).__name__,
)
def test_configs_round_trip_through_yaml(cfg) -> None:
    again = type(cfg).from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    assert again == cfg


def test_pareto_builds_its_runs_from_the_search_and_train_models() -> None:
    p = ParetoConfig(accels=["a.yaml"], family="fixed", seed=3, batch_size=32, train_subset=100)
    s = p.search_config(target="latency=0.5x")
    t = p.train_config(bits="4/4")
    for c in (s, t):
        assert (c.family, c.seed, c.batch_size, c.train_subset) == ("fixed", 3, 32, 100)
    assert s.w_bits == SearchConfig(family="fixed").w_bits  # the search's default, not restated
    assert (s.epochs, t.epochs) == (p.search_epochs, p.train_epochs)


def _raw(version: int = VERSION, **top) -> dict:
    raw = yaml.safe_load((ROOT / "examples" / "digits_fpga.yaml").read_text())
    raw["version"] = version
    raw.update(top)
    return raw


def test_experiment_versions(tmp_path: Path) -> None:
    """Version 1 files load (and save as the current version); the fpga section needs v2;
    load(save(exp)) == exp."""
    old = Experiment.from_dict(_raw(1))
    assert old.version == VERSION and old.fpga is None
    (tmp_path / "src.yaml").write_text(
        yaml.safe_dump(_raw(2, fpga={"target_ii": 500, "io_type": "io_stream"}))
    )
    exp = Experiment.load(tmp_path / "src.yaml")
    exp.save(tmp_path / "e.yaml")
    assert Experiment.load(tmp_path / "e.yaml") == exp
    assert yaml.safe_load((tmp_path / "e.yaml").read_text())["fpga"] == {
        "target_ii": 500.0,
        "io_type": "io_stream",
    }
    with pytest.raises(ExperimentError, match="fpga: needs version 2"):
        Experiment.from_dict(_raw(1, fpga={"target_ii": 500}))
    with pytest.raises(ExperimentError, match=r"e.yaml: fpga.target_ii: -5: expected a positive"):
        Experiment.from_dict(_raw(fpga={"target_ii": -5}), source="e.yaml")
    with pytest.raises(ExperimentError, match="e.yaml: fpga.io_type: 'serial': expected io_stream"):
        Experiment.from_dict(_raw(fpga={"io_type": "serial"}), source="e.yaml")


def test_fpga_target_reaches_search_simulate_and_emit() -> None:
    """The experiment's fpga target is in every stage config, and the config each stage builds
    from it gives one plan: target_ii reuse policy with the experiment's value."""
    from search.loop import SearchSetup

    exp = Experiment.from_dict(_raw(fpga={"target_ii": 500}))
    scfg = exp.search_config("s", progress=False)
    sim = exp.simulate_config("sim", "m.pt")
    em = exp.emit_config("fw", "m.pt")
    assert scfg.fpga == sim.fpga == em.fpga == FpgaTarget(target_ii=500)
    setup = SearchSetup(scfg.model_copy(update={"epochs": 1}), verbose=False)
    reuse = setup.accel.raw["reuse"]
    assert (reuse["policy"], reuse["target_ii_cycles"]) == ("target_ii", 500.0)
    base = load_config(FPGA)
    assert base.raw["reuse"]["target_ii_cycles"] != 500  # the config file alone chooses otherwise
    # the search's LUT table follows the target: a tighter II needs more parallel hardware
    loose = SearchSetup(scfg.model_copy(update={"fpga": FpgaTarget(target_ii=5000)}), verbose=False)
    assert setup.cost.scale > loose.cost.scale
