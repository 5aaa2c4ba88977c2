"""Layer format records: one float-layer rule, one quantizer-step rule, carried by allocation files."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import yaml

from hwsim.allocation import ALLOCATION_VERSION, Allocation
from hwsim.errors import AllocationError
from hwsim.formats import (
    FLOAT_LAYER_BITS,
    GAUSS_STEPS,
    HWGQ_STEPS,
    LayerFormat,
    act_frac_for_std,
    float_layer_format,
    gaussian_step,
    hwgq_step,
    weight_frac_for_std,
)

ROOT = Path(__file__).resolve().parents[1]


def test_float_layer_format_is_the_rule() -> None:
    f = float_layer_format()
    assert f.float_layer and f.bits == FLOAT_LAYER_BITS
    assert f.w_frac is None and f.a_frac is None and not f.known


def test_format_record_validates_and_round_trips() -> None:
    f = LayerFormat(4, 3).with_grids(w_frac=5, a_frac=2, a_signed=False)
    assert f.known and f.weight_integer == -1 and f.act_integer == 1
    assert f.to_dict() == {"w": 4, "a": 3, "a_signed": False, "w_frac": 5, "a_frac": 2}
    for bad in ({"w_bits": 0, "a_bits": 4}, {"w_bits": 4, "a_bits": 4, "w_frac": 1.5}):
        with pytest.raises(AllocationError, match="key '"):
            LayerFormat(**bad)


def test_step_rule_is_torch_free_and_matches_the_tables() -> None:
    assert [hwgq_step(b) for b in HWGQ_STEPS] == list(HWGQ_STEPS.values())
    assert [gaussian_step(b) for b in GAUSS_STEPS] == list(GAUSS_STEPS.values())
    # above 4 bits: the numerically optimal step keeps shrinking
    assert gaussian_step(5) < gaussian_step(4) and hwgq_step(6) < hwgq_step(5)
    assert weight_frac_for_std(0.05, 4) == 6  # 0.336 * 0.05 = 0.0168 -> 2^-6
    assert act_frac_for_std(1.0, 2) == 1  # 0.538 -> 2^-1
    assert weight_frac_for_std(0.0, 4) == 3  # degenerate weights: [-1, 1)
    for bits in range(1, 9):
        std = 0.37
        want = -math.floor(math.log2(gaussian_step(bits) * std) + 0.5)
        assert weight_frac_for_std(std, bits) == want
    src = (ROOT / "hwsim" / "formats.py").read_text()
    mods = {
        a.name.split(".")[0]
        for node in ast.walk(ast.parse(src))
        if isinstance(node, ast.Import)
        for a in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(ast.parse(src))
        if isinstance(node, ast.ImportFrom)
    }
    assert "torch" not in mods


def test_search_quantizers_use_the_one_step_rule() -> None:
    from search import quantizers

    assert quantizers.HWGQ_STEPS is HWGQ_STEPS and quantizers.GAUSS_STEPS is GAUSS_STEPS
    for bits in (2, 5, 8):
        assert quantizers.weight_frac(0.1, bits) == weight_frac_for_std(0.1, bits)
        assert quantizers.act_frac(0.7, bits, True) == act_frac_for_std(0.7, bits, True)


def test_float_width_is_written_in_one_place() -> None:
    """No module outside hwsim/formats.py spells the float-layer width as a literal pair."""
    offenders = []
    for pkg in ("hwsim", "search", "codegen", "edmips"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path.name == "formats.py" and pkg == "hwsim":
                continue
            text = path.read_text()
            for lit in ("(8, 8)", "FLOAT_LAYER_BITS =", "FLOAT_BITS = 8"):
                if lit in text:
                    offenders.append(f"{path.relative_to(ROOT)}: {lit}")
    assert not offenders, offenders


def test_allocation_carries_format_records(tmp_path: Path) -> None:
    alloc = Allocation({"a": (8, 8), "b": (4, 3), "c": (8, 8)}, ["a", "c"])
    assert alloc.formats["a"] == float_layer_format()
    assert alloc.formats["b"] == LayerFormat(4, 3)
    rec = alloc.formats["b"].with_grids(5, 2, False)
    full = alloc.with_formats({"b": rec})
    assert full.formats["b"] == rec and full.bits == alloc.bits
    p = tmp_path / "alloc.yaml"
    full.save(p)
    raw = yaml.safe_load(p.read_text())
    assert raw["version"] == ALLOCATION_VERSION == 3
    assert raw["layers"]["b"] == {"w": 4, "a": 3, "a_signed": False, "w_frac": 5, "a_frac": 2}
    back = Allocation.load(p)
    assert back.formats == full.formats
    with pytest.raises(AllocationError, match="layer 'b'.*disagrees"):
        alloc.with_formats({"b": LayerFormat(2, 3)})
    with pytest.raises(AllocationError, match="layer 'a'.*disagrees"):
        alloc.with_formats({"a": LayerFormat(8, 8)})  # not marked float


@pytest.mark.parametrize("version", [1, 2])
def test_old_allocation_files_still_load(tmp_path: Path, version: int) -> None:
    raw = {
        "version": version,
        "layers": {"a": {"w": 8, "a": 8}, "b": {"w": 2, "a": 4}},
        "float_layers": ["a"],
        "meta": {},
    }
    p = tmp_path / "old.yaml"
    p.write_text(yaml.safe_dump(raw))
    alloc = Allocation.load(p)
    assert alloc.formats["a"].float_layer and alloc.formats["a"].bits == (8, 8)
    assert alloc.formats["b"] == LayerFormat(2, 4)
    raw["layers"]["b"]["w_frac"] = 3  # format details need version 3
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(AllocationError, match="layers.b"):
        Allocation.load(p)


def test_bad_format_details_are_named(tmp_path: Path) -> None:
    raw = {"version": 3, "layers": {"b": {"w": 2, "a": 4, "a_signed": "yes"}}}
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(AllocationError, match=r"bad.yaml: key 'layers.b': key 'a_signed'"):
        Allocation.load(p)
