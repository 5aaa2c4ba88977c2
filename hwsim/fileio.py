"""Reading YAML/JSON and writing files atomically (temporary file in the same folder, then rename)."""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import HwsimError


def read_text_file(path: str | os.PathLike, error: type[HwsimError] = HwsimError) -> str:
    """The UTF-8 text of a user-supplied input file.

    A missing file, a folder, an unreadable, binary or empty file raises ``error`` with one line
    naming the file (never a traceback, whatever the user passed).
    """
    p = Path(path)
    if p.is_dir():
        raise error(f"{p}: is a folder, expected a file")
    if not p.is_file():
        raise error(f"{p}: file not found")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc.strerror or type(exc).__name__}") from None
    if b"\0" in data[:8192]:
        raise error(f"{p}: a binary file, expected text (YAML, JSON or CSV)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{p}: not UTF-8 text (byte {exc.start}), expected YAML, JSON or CSV") from None
    if not text.strip():
        raise error(f"{p}: empty file")
    return text


def read_structured(path: str | os.PathLike, error: type[HwsimError] = HwsimError) -> Any:
    """Parse a .yaml/.yml/.json file; a missing, unreadable, binary, empty or malformed file
    raises ``error`` naming it."""
    p = Path(path)
    text = read_text_file(p, error)
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        if mark is not None:  # YAML: say where (1-based line/column)
            problem = getattr(exc, "problem", None) or first
            first = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
        elif isinstance(exc, json.JSONDecodeError):
            first = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise error(
            f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {first}"
        ) from None
    except RecursionError:
        raise error(f"{p}: nested too deeply to read") from None
    if data is None:
        raise error(f"{p}: holds no document (only comments or null)")
    return data


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace`` (never half-written)."""
    atomic_write_bytes(path, text.encode())


def _umask() -> int:
    """The process umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _sweep_stale_temporaries(p: Path) -> None:
    """Remove temporaries of ``p`` left by writers that were killed (SIGKILL skips cleanup):
    ``.<name>.<pid>.<random>.tmp`` whose process is gone."""
    for tmp in p.parent.glob(f".{glob.escape(p.name)}.*.tmp"):
        pid = tmp.name[len(p.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``.

    The file gets the mode any other tool would give it (0666 minus the umask), not the 0600
    of the temporary file. Temporaries of the same file left by a killed writer are removed.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_temporaries(p)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def dump_structured(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON (``.json``) or YAML (anything else), atomically."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        atomic_write_text(p, json.dumps(data, indent=2) + "\n")
    else:
        atomic_write_text(p, yaml.safe_dump(data, sort_keys=False))


def _first_existing(p: Path) -> Path:
    q = p.absolute()
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def _probe_folder(folder: Path, shown: Path, what: str) -> None:
    """Raise unless a file can be created in the existing ``folder`` (tried, then removed: the
    permission bits say nothing for root or on a read-only file system)."""
    if not folder.is_dir():
        raise HwsimError(f"{what} {shown}: {folder} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".edmips-probe.", dir=folder)
    except OSError as exc:
        raise HwsimError(
            f"{what} {shown}: cannot write in {folder} ({exc.strerror or type(exc).__name__})"
        ) from None
    os.close(fd)
    os.unlink(tmp)


def check_out_dir(path: str | os.PathLike, what: str = "--out") -> None:
    """Check, before any work starts, that ``path`` is a folder or can be created as one and
    that files can be written in it. Creates nothing. ``what`` names the option in the error."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise HwsimError(f"{what} {p}: exists and is a file, not a folder")
    _probe_folder(_first_existing(p), p, what)


def check_out_file(path: str | os.PathLike, force: bool, what: str = "--out") -> None:
    """Check, before any work starts, that the output file ``path`` can be written: not a
    folder, not an existing file unless ``force``, and its folder creatable and writable."""
    p = Path(path)
    if p.is_dir():
        raise HwsimError(f"{what} {p}: is a folder, expected a file name")
    if p.exists() and not force:
        raise HwsimError(f"{what} {p}: already exists (use --force to overwrite)")
    _probe_folder(_first_existing(p.parent), p, what)
