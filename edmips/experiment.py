"""The experiment file of ``edmips run``: one versioned YAML for search -> train -> baselines ->
simulate -> firmware -> report, plus the per-stage configs :class:`SimulateConfig` and
:class:`EmitConfig` (the search and train stages reuse :class:`search.api.SearchConfig` and
:class:`search.api.TrainConfig`: an experiment's ``search:`` and ``train:`` sections hold their
fields, validated by name and type).

Unknown keys and wrongly typed values raise :class:`ExperimentError` naming the file and the key
path (``search.epochs``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hwsim.errors import HwsimError
from hwsim.fileio import atomic_write_text, read_structured

VERSION = 1

# fields the experiment sets once for every stage (top level of the file)
COMMON = ("model", "model_args", "data", "data_dir", "family", "first", "last", "seed")
# SearchConfig/TrainConfig fields the pipeline owns (paths, resume, progress)
SEARCH_OWNED = {"out", "resume", "force", "progress"}
TRAIN_OWNED = {"out", "force", "progress", "allocation", "bits", "init_from_search"}


class ExperimentError(HwsimError):
    """An experiment file or run folder that does not validate (names the file and key path)."""


@dataclass
class SimulateConfig:
    """Simulate a trained network (or an allocation of a zoo model) on accelerators.

    ``model_file``: ``model.pt`` from training (its allocation and zoo model); or ``model`` (zoo
    name) with ``allocation`` (YAML). Writes ``out/<accel>.json`` and ``out/<accel>.png``
    (per-layer cycles and energy in pJ), ``out/all.png`` and ``out/summary.json``.
    """

    accels: list[str] = field(default_factory=list)
    model_file: str | None = None
    model: str | None = None
    allocation: str | None = None
    batch: int = 1
    out: str = "runs/simulate"
    force: bool = False
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "simulate") -> SimulateConfig:
        return cls(**check_fields(cls, raw, source))


@dataclass
class EmitConfig:
    """Emit a trained fixed-family ``model_file`` as an hls4ml project in ``out`` and verify
    ``verify`` held-out test samples bit-exactly with g++ C simulation (0: no verification).

    ``accel``: an fpga_dataflow config (part, clock in Hz, reuse policy); ``io_type``: auto,
    io_stream or io_parallel; ``target_ii``: target initiation interval in cycles per image.
    """

    model_file: str = "runs/train/model.pt"
    accel: str | None = None
    out: str = "runs/firmware"
    verify: int = 200
    io_type: str = "auto"
    backend: str = "vitis"
    target_ii: float | None = None
    data: str | None = None
    data_dir: str | None = None
    force: bool = False
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "emit") -> EmitConfig:
        cfg = cls(**check_fields(cls, raw, source))
        if cfg.io_type not in ("auto", "io_stream", "io_parallel"):
            raise ExperimentError(
                f"{source}.io_type: '{cfg.io_type}': expected auto, io_stream or io_parallel"
            )
        if cfg.backend not in ("vitis", "vivado"):
            raise ExperimentError(f"{source}.backend: '{cfg.backend}': expected vitis or vivado")
        if cfg.verify < 0:
            raise ExperimentError(f"{source}.verify: {cfg.verify}: expected a count >= 0")
        return cfg


SIMULATE_OWNED = {"out", "force", "model_file", "model", "allocation", "progress"}
EMIT_OWNED = {"out", "force", "model_file", "progress", "data", "data_dir"}


# ---- field checking ----
def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, t) for t in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if tp is Any:
        return True
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is not None or isinstance(tp, types.UnionType):
        return str(tp).replace("typing.", "").replace("NoneType", "None")
    return getattr(tp, "__name__", str(tp))


def check_fields(
    cls: type, raw: Any, path: str, exclude: set[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Validate ``raw`` against the dataclass ``cls``'s fields (minus ``exclude``): every key
    known, every value of the declared type; returns the dict (ints given for floats as floats)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ExperimentError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")

    def key(k: str) -> str:
        return f"{path}{k}" if path.endswith(": ") else f"{path}.{k}"

    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in exclude]
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in names:
            owned = " (set by the pipeline)" if k in exclude else ""
            raise ExperimentError(
                f"{key(k)}: unknown key{owned} (known: {', '.join(sorted(names))})"
            )
        tp = hints[k]
        if not _type_ok(v, tp):
            raise ExperimentError(f"{key(k)}: {v!r} is not of type {_type_name(tp)}")
        if tp is float and isinstance(v, int):
            v = float(v)
        out[k] = v
    return out


# ---- the experiment ----
@dataclass
class Experiment:
    """One ``edmips run`` experiment (version 1).

    Top level: the network (``model``, ``data``, ``data_dir``), quantizer ``family`` and layer
    policy (``first``/``last``), ``seed``. Sections: ``search`` (SearchConfig fields: accel, metric,
    target or lam, w_bits, a_bits, epochs, ...), ``train`` (TrainConfig fields for the final and
    the baseline trainings), ``baselines`` (uniform "W/A" networks to train for comparison),
    ``simulate`` (``accels``: configs to simulate on, ``batch``) and ``emit`` (EmitConfig fields:
    fpga ``accel``, ``io_type``, ``verify`` N, ...; ``null`` skips the firmware stage).
    """

    version: int = VERSION
    name: str = "experiment"
    model: str = "digits_cnn"
    model_args: dict[str, Any] | None = None  # keyword arguments of a model factory (issue 13)
    data: str = "digits"
    data_dir: str | None = None
    family: str = "fixed"
    first: str = "float"
    last: str = "float"
    seed: int = 0
    search: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    baselines: list[str] = field(default_factory=list)
    simulate: dict[str, Any] = field(default_factory=dict)
    emit: dict[str, Any] | None = field(default_factory=dict)

    # -- (de)serialisation --
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_yaml())

    @classmethod
    def from_dict(
        cls, raw: Any, source: str = "experiment", base: str | os.PathLike | None = None
    ) -> Experiment:
        """Validate and build; every error names ``source`` and the key path.

        Relative paths in the experiment (``data_dir``, ``search.accel``, ``simulate.accels``,
        ``emit.accel``) resolve against the folder ``base`` (the experiment file's; the current
        folder when None); accelerator config names not found there also resolve against the
        shipped ``accel_configs/`` (see :func:`hwsim.config.resolve_input_path`).
        """
        if not isinstance(raw, dict):
            raise ExperimentError(f"{source}: expected a mapping at the top level")
        if "version" not in raw:
            raise ExperimentError(f"{source}: version: missing (this tool reads version {VERSION})")
        if raw["version"] != VERSION:
            raise ExperimentError(
                f"{source}: version: {raw['version']!r} is not supported (expected {VERSION})"
            )
        top = {k: v for k, v in raw.items() if k not in ("search", "train", "simulate", "emit")}
        exp = cls(**check_fields(cls, top, f"{source}: "))
        pre = f"{source}: "
        from search.api import SearchConfig, TrainConfig

        exp.search = check_fields(
            SearchConfig, raw.get("search"), pre + "search", set(COMMON) | SEARCH_OWNED
        )
        exp.train = check_fields(
            TrainConfig, raw.get("train"), pre + "train", set(COMMON) | TRAIN_OWNED
        )
        exp.simulate = check_fields(
            SimulateConfig, raw.get("simulate"), pre + "simulate", SIMULATE_OWNED
        )
        exp.emit = (
            None
            if "emit" in raw and raw["emit"] is None
            else check_fields(EmitConfig, raw.get("emit"), pre + "emit", EMIT_OWNED)
        )
        exp._resolve_paths(base)
        exp.check(source)
        return exp

    def _resolve_paths(self, base: str | os.PathLike | None) -> None:
        from hwsim.config import resolve_input_path

        if self.data_dir is not None:
            self.data_dir = resolve_input_path(self.data_dir, base)
        from search.models import canonical_spec

        self.model = canonical_spec(self.model, base)  # a model file next to the experiment
        for sec in (self.search, self.emit or {}):
            if isinstance(sec.get("accel"), str):
                sec["accel"] = resolve_input_path(sec["accel"], base, config=True)
        if self.simulate.get("accels"):
            self.simulate["accels"] = [
                resolve_input_path(a, base, config=True) for a in self.simulate["accels"]
            ]

    @classmethod
    def load(cls, path: str | os.PathLike) -> Experiment:
        """Read and validate an experiment YAML/JSON file; relative paths in it resolve against
        the file's folder."""
        raw = read_structured(path, ExperimentError)
        return cls.from_dict(raw, source=str(path), base=Path(path).absolute().parent)

    def check(self, source: str = "experiment") -> None:
        """Cross-field checks (one-line errors naming the key)."""
        from hwsim.allocation import parse_bits
        from hwsim.errors import AllocationError

        if self.family not in ("paper", "fixed"):
            raise ExperimentError(f"{source}: family: '{self.family}': expected paper or fixed")
        for key in ("first", "last"):
            if getattr(self, key) not in ("float", "search"):
                raise ExperimentError(
                    f"{source}: {key}: '{getattr(self, key)}': expected float or search"
                )
        s = self.search
        if (s.get("target") is None) == (s.get("lam") is None):
            raise ExperimentError(
                f"{source}: search: give exactly one of search.target (e.g. lut=0.6x) or search.lam"
            )
        if s.get("target"):  # parsed now, not when the search stage starts
            from search.budget import parse_target

            try:
                tmetric = parse_target(s["target"]).metric
            except HwsimError as exc:
                raise ExperimentError(f"{source}: search.target: {exc}") from None
            if s.get("metric") is None:
                s["metric"] = tmetric
            elif s["metric"] != tmetric:
                raise ExperimentError(
                    f"{source}: search.target: '{s['target']}' is on {tmetric} but"
                    f" search.metric is {s['metric']}"
                )
        for i, b in enumerate(self.baselines):
            try:
                parse_bits(b)
            except AllocationError as exc:
                raise ExperimentError(f"{source}: baselines[{i}]: {exc}") from None
            if self.family == "fixed" and parse_bits(b)[0] < 2:
                raise ExperimentError(
                    f"{source}: baselines[{i}]: '{b}': the fixed family needs weights of >= 2 bits"
                )
        if len(set(self.baselines)) != len(self.baselines):
            raise ExperimentError(f"{source}: baselines: listed twice: {self.baselines}")
        if self.emit is not None and self.family != "fixed":
            raise ExperimentError(
                f"{source}: emit: firmware needs family: fixed (got '{self.family}');"
                " set emit: null to skip the firmware stage"
            )
        if self.emit is not None:
            EmitConfig.from_dict(self.emit, f"{source}: emit")
        for i, a in enumerate(self.simulate.get("accels", [])):
            if not Path(a).is_file():
                raise ExperimentError(f"{source}: simulate.accels[{i}]: {a}: file not found")
        for key, sec in (("search.accel", s), ("emit.accel", self.emit or {})):
            a = sec.get("accel")
            if a is not None and not Path(a).is_file():
                raise ExperimentError(f"{source}: {key}: {a}: file not found")

    # -- stage configs --
    def _common(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in COMMON}

    def search_config(self, out: str, progress: bool = True) -> Any:
        """The :class:`search.api.SearchConfig` of the search stage."""
        from search.api import SearchConfig

        s = dict(self.search)  # weight bits default per family in SearchConfig
        return SearchConfig(**self._common(), **s, out=out, progress=progress)

    def train_config(
        self,
        out: str,
        allocation: str | None = None,
        bits: str | None = None,
        progress: bool = True,
    ) -> Any:
        """The :class:`search.api.TrainConfig` of the final training or of one baseline."""
        from search.api import TrainConfig

        return TrainConfig(
            **self._common(),
            **self.train,
            allocation=allocation,
            bits=bits,
            out=out,
            progress=progress,
        )

    def simulate_config(self, out: str, model_file: str, progress: bool = True) -> SimulateConfig:
        return SimulateConfig(**self.simulate, model_file=model_file, out=out, progress=progress)

    def emit_config(self, out: str, model_file: str, progress: bool = True) -> EmitConfig:
        assert self.emit is not None
        return EmitConfig(
            **self.emit,
            model_file=model_file,
            out=out,
            data=self.data,
            data_dir=self.data_dir,
            progress=progress,
        )


def config_hash(obj: Any) -> str:
    """sha256 (first 16 hex digits) of a JSON-able object with sorted keys."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bits_dir(bits: str) -> str:
    """Folder name of a uniform baseline: ``"2/3"`` -> ``"w2a3"``."""
    w, a = bits.split("/")
    return f"w{int(w)}a{int(a)}"
