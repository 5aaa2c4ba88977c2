"""Allocation contract: round trips, layers checked against the workload, bits validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hwsim.allocation import Allocation, parse_bits
from hwsim.errors import AllocationError, HwsimError
from hwsim.workload import Workload


def _msg(info: pytest.ExceptionInfo[HwsimError]) -> str:
    msg = str(info.value)
    assert msg and "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("ext", ["yaml", "json"])
def test_round_trip(tmp_path: Path, tiny_workload: Workload, ext: str) -> None:
    alloc = Allocation(
        {"conv1": (8, 8), "dw2": (3, 5), "fc3": (8, 8)},
        float_layers=["conv1", "fc3"],
        meta={"target": "latency", "cost": 1.5e-4},
    )
    p = tmp_path / f"alloc.{ext}"
    alloc.save(p)
    back = Allocation.load(p)
    assert back.bits == alloc.bits and back.float_layers == alloc.float_layers
    assert back.meta == alloc.meta
    w, a = back.arrays(tiny_workload)
    np.testing.assert_array_equal(w, [8, 3, 8])
    np.testing.assert_array_equal(a, [8, 5, 8])


def test_uniform_and_parse_bits(tiny_workload: Workload) -> None:
    alloc = Allocation.uniform(tiny_workload, 4, 2, float_layers=["conv1"])
    assert alloc.bits == {"conv1": (4, 2), "dw2": (4, 2), "fc3": (4, 2)}
    alloc.validate(tiny_workload)
    assert parse_bits("4/8") == (4, 8)
    for bad in ("4", "4/x", "0/4", "4/33", "4/4/4"):
        with pytest.raises(AllocationError) as info:
            parse_bits(bad)
        assert f"'{bad}'" in _msg(info)


def test_missing_layer_is_named(tiny_workload: Workload) -> None:
    alloc = Allocation({"conv1": (8, 8), "fc3": (8, 8)})
    with pytest.raises(AllocationError) as info:
        alloc.arrays(tiny_workload)
    msg = _msg(info)
    assert "no entry for layer 'dw2'" in msg and "'tiny'" in msg


def test_unknown_layer_is_named(tiny_workload: Workload) -> None:
    alloc = Allocation({"conv1": (8, 8), "dw2": (4, 4), "fc3": (8, 8), "conv9": (2, 2)})
    with pytest.raises(AllocationError) as info:
        alloc.validate(tiny_workload)
    assert "layer 'conv9'" in _msg(info)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"w": 0, "a": 8}, "layer 'c': key 'w': expected an integer 1..32, got 0"),
        ({"w": 8, "a": 33}, "key 'a': expected an integer 1..32, got 33"),
        ({"w": "8", "a": 8}, "key 'w'"),
        ({"w": 4.5, "a": 8}, "key 'w'"),
        ({"w": True, "a": 8}, "key 'w'"),
        ({"w": 8}, "key 'layers.c': expected {w: bits, a: bits}"),
        ({"w": 8, "a": 8, "x": 1}, "key 'layers.c'"),
        ([8, 8], "key 'layers.c'"),
    ],
)
def test_bad_bits_in_file(tmp_path: Path, entry: Any, words: str) -> None:
    p = tmp_path / "alloc.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "layers": {"c": entry}}))
    with pytest.raises(AllocationError) as info:
        Allocation.load(p)
    msg = _msg(info)
    assert msg.startswith(f"{p}: ") and words in msg, msg


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"layers": {"c": {"w": 8, "a": 8}}}, "key 'version'"),
        ({"version": 1, "layers": {}}, "key 'layers'"),
        ({"version": 1, "layers": {"c": {"w": 8, "a": 8}}, "float_layers": "c"}, "float_layers"),
        ({"version": 1, "layers": {"c": {"w": 8, "a": 8}}, "float_layers": ["d"]}, "'d'"),
        (["c"], "expected a mapping"),
    ],
)
def test_bad_allocation_file(tmp_path: Path, raw: Any, words: str) -> None:
    p = tmp_path / "alloc.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(AllocationError) as info:
        Allocation.load(p)
    msg = _msg(info)
    assert msg.startswith(f"{p}: ") and words in msg, msg


def test_missing_and_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(AllocationError) as info:
        Allocation.load(tmp_path / "none.yaml")
    assert "file not found" in _msg(info)
    p = tmp_path / "bad.yaml"
    p.write_text("version: 1\nlayers: {c: {w: 8, a: 8}\n")
    with pytest.raises(AllocationError) as info:
        Allocation.load(p)
    assert "not valid YAML: line" in _msg(info)
