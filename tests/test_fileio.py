"""hwsim.fileio: outputs respect the umask; output locations are checked before any work."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.fileio import (
    atomic_write_bytes,
    atomic_write_text,
    check_out_dir,
    check_out_file,
    read_structured,
)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_respect_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x\n")
        atomic_write_bytes(tmp_path / "sub" / "b.bin", b"\0\1")
        # an ordinary open() under the same umask is the reference
        with open(tmp_path / "ref.txt", "w") as fh:
            fh.write("x\n")
    finally:
        os.umask(old)
    want = stat.S_IMODE((tmp_path / "ref.txt").stat().st_mode)
    assert want == 0o666 & ~mask
    for f in ("a.txt", "sub/b.bin"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == want, f
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.bin", "ref.txt", "sub"]


def test_overwrite_keeps_umask_mode_and_content(tmp_path: Path) -> None:
    f = tmp_path / "r.json"
    atomic_write_text(f, "1")
    atomic_write_text(f, "2")
    assert f.read_text() == "2"
    assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_check_out_dir(tmp_path: Path) -> None:
    check_out_dir(tmp_path / "new" / "deeper")  # creatable: fine, and nothing is created
    assert not (tmp_path / "new").exists()
    check_out_dir(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(HwsimError, match=r"^--out .*/f: exists and is a file, not a folder$"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(HwsimError, match=r"/f is a file, not a folder$"):
        check_out_dir(tmp_path / "f" / "sub" / "x")
    with pytest.raises(HwsimError, match=r"^--out /sys/edmips-x: cannot write in /sys"):
        check_out_dir("/sys/edmips-x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # the probes are gone


def test_check_out_file(tmp_path: Path) -> None:
    check_out_file(tmp_path / "a" / "r.json", force=False, what="--json")
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(HwsimError, match=r"^--json .*r.json: already exists \(use --force"):
        check_out_file(tmp_path / "r.json", force=False, what="--json")
    check_out_file(tmp_path / "r.json", force=True, what="--json")
    with pytest.raises(HwsimError, match="is a folder, expected a file name"):
        check_out_file(tmp_path, force=True, what="--plot")
    with pytest.raises(HwsimError, match="r.json is a file, not a folder"):
        check_out_file(tmp_path / "r.json" / "x.png", force=True, what="--plot")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"  \n\n", "empty file"),
        (b"~\n", "holds no document"),
        (b"\x00\x01\x02binary", "a binary file"),
        (b"\xff\xfe\xfa", "not UTF-8 text (byte 0)"),
        (b"a: [1, 2\n", "not valid YAML: line"),
        (b"a: b: c\n", "not valid YAML: line 1, column 5"),
    ],
)
def test_read_structured_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "x.yaml"
    f.write_bytes(content)
    with pytest.raises(HwsimError) as info:
        read_structured(f)
    msg = str(info.value)
    assert msg.startswith(f"{f}: ") and message in msg and "\n" not in msg


def test_read_structured_json_and_folder(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"a": 1,}')
    with pytest.raises(HwsimError, match=r"x.json: not valid JSON: line 1, column 9"):
        read_structured(f)
    with pytest.raises(HwsimError, match="is a folder, expected a file"):
        read_structured(tmp_path)


def test_temporaries_of_killed_writers_are_swept(tmp_path: Path) -> None:
    """SIGKILL during an atomic write leaves ``.<name>.<pid>.<rand>.tmp``; the next write of
    the same file removes it when that process is gone, and leaves a live writer's alone."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / f".log.jsonl.{int(dead.stdout)}.abc123.tmp"
    live = tmp_path / f".log.jsonl.{os.getpid()}.def456.tmp"
    other = tmp_path / f".other.json.{int(dead.stdout)}.abc123.tmp"
    for f in (stale, live, other):
        f.write_text("partial")
    atomic_write_text(tmp_path / "log.jsonl", "{}\n")
    assert not stale.exists() and live.exists() and other.exists()
    assert (tmp_path / "log.jsonl").read_text() == "{}\n"
