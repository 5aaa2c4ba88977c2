"""``load_config`` on broken copies of the shipped systolic YAML: one-line errors naming file + key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hwsim.config import AccelConfig, load_config
from hwsim.errors import ConfigError, HwsimError


def _write(tmp_path: Path, raw: Any, name: str = "broken.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert isinstance(info.value, HwsimError)
    assert "\n" not in msg, msg
    assert msg.startswith(f"{path}: "), msg
    assert "Traceback" not in msg and "pydantic" not in msg.lower(), msg
    return msg


def test_shipped_config_loads(systolic_yaml: Path) -> None:
    cfg = load_config(systolic_yaml)
    assert isinstance(cfg, AccelConfig)
    assert cfg.type == "systolic" and cfg.name == "systolic_int8_32x32_ws"
    assert cfg.freq_hz == 500e6
    arr = cfg.model.params.array
    assert (arr.rows, arr.cols, arr.dataflow) == (32, 32, "ws")


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *head, last = path.split(".")
    for k in head:
        raw = raw[k]
    if value is _DELETE:
        del raw[last]
    else:
        raw[last] = value


_DELETE = object()

CASES = [
    # (dotted key to change, new value, key path the message must name, words it must contain)
    ("array.rows", _DELETE, "array.rows", "missing"),
    ("memory.dram", _DELETE, "memory.dram", "missing"),
    ("tech.freq_mhz", _DELETE, "tech.freq_mhz", "missing"),
    ("array.rows", "many", "array.rows", "integer"),
    ("array.rows", 0, "array.rows", "greater than or equal to 1"),
    ("array.dataflow", "rs", "array.dataflow", "'rs'"),
    ("memory.weight_buffer.size_kib", "big", "memory.weight_buffer.size_kib", "number"),
    ("memory.dram.bw_bits_per_cycle", -1, "memory.dram.bw_bits_per_cycle", "greater than 0"),
    ("memory.double_buffered", True, "memory.double_buffered", "unknown key"),
    ("array.rowz", 32, "array.rowz", "unknown key"),
    ("colour", "blue", "colour", "unknown key"),
    ("native_bits.w", 64, "native_bits.w", "less than or equal to 32"),
    ("energy.mac.e8_pj", _DELETE, "energy.mac", "e8_pj"),
    ("memory.overlap", "partial", "memory.overlap", "'partial'"),
]


@pytest.mark.parametrize(("key", "value", "where", "words"), CASES, ids=[c[0] for c in CASES])
def test_broken_copy_names_file_and_key(tmp_path, systolic_raw, key, value, where, words) -> None:
    raw = copy.deepcopy(systolic_raw)
    _set(raw, key, value)
    msg = _error(_write(tmp_path, raw))
    assert f"key '{where}'" in msg, msg
    assert words in msg, msg


def test_unknown_type_lists_known_kinds(tmp_path, systolic_raw) -> None:
    systolic_raw["type"] = "systolik"
    msg = _error(_write(tmp_path, systolic_raw))
    assert "key 'type'" in msg and "'systolik'" in msg and "systolic" in msg.split("(known:")[1]


def test_missing_type(tmp_path, systolic_raw) -> None:
    del systolic_raw["type"]
    msg = _error(_write(tmp_path, systolic_raw))
    assert "key 'type': missing" in msg


def test_bad_yaml_syntax_names_line(tmp_path, systolic_yaml) -> None:
    text = systolic_yaml.read_text().replace("  rows: 32", "  rows: [32", 1)
    p = tmp_path / "syntax.yaml"
    p.write_text(text)
    msg = _error(p)
    broken = next(i for i, ln in enumerate(text.splitlines(), 1) if "rows: [32" in ln)
    assert "not valid YAML" in msg, msg
    # the parser notices the unclosed list on the broken line or the one after it
    assert any(f"line {n}," in msg for n in (broken, broken + 1)), msg


def test_tab_indent_and_top_level_list(tmp_path) -> None:
    p = tmp_path / "tab.yaml"
    p.write_text("type: systolic\n\tarray: 1\n")
    assert "line 2" in _error(p)
    q = tmp_path / "list.yaml"
    q.write_text("- type: systolic\n")
    assert "expected a mapping" in _error(q)


def test_empty_and_missing_file(tmp_path) -> None:
    p = tmp_path / "empty.yaml"
    p.write_text("")
    assert _error(p) == f"{p}: empty file"
    c = tmp_path / "comments.yaml"
    c.write_text("# only a comment\n")
    assert _error(c) == f"{c}: holds no document (only comments or null)"
    assert "file not found" in _error(tmp_path / "nope.yaml")


def test_binary_truncated_and_folder(tmp_path) -> None:
    b = tmp_path / "bin.yaml"
    b.write_bytes(bytes(range(256)) * 4)
    assert _error(b) == f"{b}: a binary file, expected text (YAML, JSON or CSV)"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert _error(latin).startswith(f"{latin}: not UTF-8 text")
    good = (Path(__file__).resolve().parents[1] / "accel_configs" / "stripes.yaml").read_text()
    cut = tmp_path / "cut.yaml"
    cut.write_text(good[: good.index("\n", len(good) // 2)].rstrip() + ": [\n")
    assert str(cut) in _error(cut)
    assert _error(tmp_path) == f"{tmp_path}: is a folder, expected a file"
