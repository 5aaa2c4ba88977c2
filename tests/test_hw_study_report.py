"""The study's equal-cost comparison (``bench/hw_study.py``, issue 14): for each allocation
searched for an accelerator, the most accurate BitOps-searched / uniform arm that costs no more
there, and the cheapest BitOps arm at least as accurate."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("hw_study", ROOT / "bench" / "hw_study.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["hw_study"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _arm(kind: str, top1: float, std: float, cost: float, target: str | None = None) -> dict:
    return {
        "kind": kind,
        "target": target,
        "top1_mean": top1,
        "top1_std": std,
        "cost_mean": {"stripes": cost},
    }


def test_equal_cost_picks_the_best_arm_that_costs_no_more(study) -> None:
    arms = {
        "hw": _arm("searched-for-stripes", 83.0, 0.3, 20.0, "0.6x"),
        "other-accel": _arm("searched-for-unpu", 90.0, 0.0, 10.0, "0.6x"),  # not compared
        "b-cheap": _arm("bitops", 81.0, 0.4, 15.0, "0.35x"),
        "b-equal": _arm("bitops", 82.0, 0.0, 20.0, "0.6x"),  # costs no more: counts
        "b-dear": _arm("bitops", 84.0, 0.0, 30.0, "0.6x"),  # more accurate but dearer
        "b-dearer": _arm("bitops", 85.0, 0.0, 40.0, "0.6x"),
        "u22": _arm("uniform", 79.0, 1.0, 12.0),
        "u88": _arm("uniform", 86.0, 0.0, 50.0),
    }
    (row,) = study.equal_cost(arms, "stripes")
    assert row["arm"] == "hw" and row["cost"] == 20.0
    assert row["best_bitops"]["arm"] == "b-equal"
    assert row["delta_bitops"] == pytest.approx(1.0)
    assert row["spread_bitops"] == pytest.approx(0.3)
    assert row["best_uniform"]["arm"] == "u22"
    assert row["delta_uniform"] == pytest.approx(4.0)
    assert row["spread_uniform"] == pytest.approx((0.3**2 + 1.0**2) ** 0.5)
    # the cheapest BitOps arm at least as accurate: b-dear, 1.5x the cost
    assert row["cheaper_bitops"] == {"arm": "b-dear", "cost_ratio": pytest.approx(1.5)}
    md = "\n".join(
        study.equal_cost_md({"accels": ["stripes"], "unit": "us", "equal_cost": {"stripes": [row]}})
    )
    assert "| stripes | hw | 20 | 83.00 ± 0.30 | b-equal: 20, 82.00 ± 0.00 | +1.00 (0.30) |" in md


def test_equal_cost_says_none_when_nothing_is_as_cheap(study) -> None:
    arms = {
        "hw": _arm("searched-for-stripes", 83.0, 0.0, 10.0, "0.35x"),
        "b": _arm("bitops", 82.0, 0.0, 12.0, "0.35x"),
    }
    (row,) = study.equal_cost(arms, "stripes")
    assert "best_bitops" not in row and "best_uniform" not in row and "cheaper_bitops" not in row
    md = "\n".join(
        study.equal_cost_md({"accels": ["stripes"], "unit": "us", "equal_cost": {"stripes": [row]}})
    )
    assert "| none |  | none |  | none |" in md


def test_search8_follow_up_pairs_seeds_and_averages() -> None:
    """bench/hw_study_search8.py: only seeds run in both the study and the follow-up are
    compared; top-1 in percent, mean and population std over those seeds."""
    spec = importlib.util.spec_from_file_location(
        "hw_study_search8", ROOT / "bench" / "hw_study_search8.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def pareto(arm_top1: float, arm_lut: float, u_top1: float) -> dict:
        row = {"allocation_text": "f 4/4 f"}
        return {
            "rows": [
                {**row, "name": mod.ARM, "top1": arm_top1, mod.COST: arm_lut},
                {**row, "name": mod.UNIFORM, "top1": u_top1, mod.COST: 100.0},
            ]
        }

    study = {0: pareto(0.80, 120.0, 0.85), 1: pareto(0.82, 110.0, 0.85), 2: pareto(0.5, 1.0, 0.5)}
    longer = {0: pareto(0.84, 130.0, 0.85), 1: pareto(0.86, 110.0, 0.86)}
    c = mod.compare(study, longer)
    assert c["seeds"] == [0, 1]
    s4, s8 = c["arms"]["search4"], c["arms"]["search8"]
    assert s4["top1"] == pytest.approx([80.0, 82.0]) and s4["top1_mean"] == pytest.approx(81.0)
    assert s4["top1_std"] == pytest.approx(1.0) and s4["lut_mean"] == pytest.approx(115.0)
    assert s8["lut_mean"] == pytest.approx(120.0)
    assert c["arms"]["uniform4-4 (beside search8)"]["top1_mean"] == pytest.approx(85.5)
    md = mod.compare_md(c)
    assert "| search4 | 80.00, 120 | 82.00, 110 | 81.00 ± 1.00 | 115 |" in md
