"""The experiment file of ``edmips run``: one versioned YAML for search -> train -> baselines ->
simulate -> firmware -> report, plus the per-stage configs :class:`SimulateConfig` and
:class:`EmitConfig`.

Every section is a pydantic model derived from the stage's config
(:class:`search.config.SearchConfig`, :class:`search.config.TrainConfig`, :class:`SimulateConfig`,
:class:`EmitConfig`) without the keys the experiment sets once at the top level or the pipeline
sets itself, so a field, its type, its default and its value check are written once. A section
keeps only the keys the file gives (the stage's own defaults fill the rest).

Unknown keys and wrongly typed or out-of-range values raise :class:`ExperimentError` in one line
naming the file and the key path (``e.yaml: train.epochs: 'many' is not of type int``).

Versions: 2 adds the optional ``fpga:`` section (``target_ii`` in cycles per image, ``io_type``):
the throughput target of the FPGA design, applied to every ``fpga_dataflow`` config the search,
``simulate`` and ``emit`` read. Version 1 files load unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from hwsim.allocation import parse_bits
from hwsim.config import resolve_input_path
from hwsim.errors import AllocationError, HwsimError
from hwsim.fileio import atomic_write_text, read_structured
from search.config import (
    ConfigBase,
    Count,
    Family,
    FpgaTarget,
    NetworkConfig,
    PositiveFloat,
    PositiveInt,
    SearchConfig,
    TrainConfig,
    describe,
    one_of,
)
from search.models import canonical_spec

VERSION = 2
SUPPORTED_VERSIONS = (1, 2)

# fields the experiment sets once for every stage (top level of the file)
COMMON = ("model", "model_args", "data", "data_dir", "family", "first", "last", "seed")
# stage-config fields the pipeline owns (paths, resume, progress; the fpga target is top level)
SEARCH_OWNED = {"out", "resume", "force", "progress", "fpga"}
TRAIN_OWNED = {"out", "force", "progress", "allocation", "bits", "init_from_search"}
SIMULATE_OWNED = {"out", "force", "model_file", "model", "allocation", "progress", "fpga"}
EMIT_OWNED = {"out", "force", "model_file", "progress", "data", "data_dir", "fpga", "zoo"}
EMIT_OWNED |= {"alloc", "bits", "model_args"}


class ExperimentError(HwsimError):
    """An experiment file or run folder that does not validate (names the file and key path)."""


def accel_key(path: str) -> str:
    """File stem used for an accelerator's outputs: ``accel_configs/stripes.yaml`` -> ``stripes``."""
    return Path(path).stem


class SimulateConfig(ConfigBase):
    """Simulate a trained network (or an allocation of a zoo model) on accelerators.

    ``model_file``: ``model.pt`` from training (its allocation and zoo model); or ``model`` (zoo
    name) with ``allocation`` (YAML). Writes ``out/<accel>.json`` and ``out/<accel>.png``
    (per-layer cycles and energy in pJ), ``out/all.png`` and ``out/summary.json``. ``fpga``: the
    throughput target applied to every fpga_dataflow config.
    """

    accels: list[str] = Field(default_factory=list, description="accelerator configs")
    model_file: str | None = None
    model: str | None = None
    allocation: str | None = None
    batch: PositiveInt = Field(1, description="batch size of the simulated inference")
    out: str = "runs/simulate"
    force: bool = False
    progress: bool = True
    fpga: FpgaTarget | None = None


class EmitConfig(ConfigBase):
    """Emit a trained fixed-family network as an hls4ml project in ``out`` and verify ``verify``
    held-out test samples bit-exactly with g++ C simulation (0: no verification).

    The design is the budgeted one (the FPGA plan stored in ``alloc`` for ``accel``, else the one
    hwsim computes from ``accel`` under the ``fpga`` target); ``io_type`` (auto: the design's)
    and ``target_ii`` (cycles per image) override it explicitly, and the report then says by how
    much the firmware differs.
    """

    model_file: str | None = Field(None, description="model.pt written by 'edmips train'")
    zoo: str | None = Field(
        None,
        description="build an untrained model instead: a zoo name or file.py:factory /"
        " module:factory (tests/smoke runs; needs --alloc or --bits)",
    )
    alloc: str | None = Field(
        None,
        description="allocation.yaml with the model's widths, e.g. one carrying the FPGA plan"
        " written by 'simulate' (default: the model file's allocation)",
    )
    bits: str | None = Field(None, description="with --zoo: uniform W/A for non-float layers")
    model_args: dict[str, Any] | None = Field(
        None, description="with --zoo FILE.py:factory: keyword arguments of the factory"
    )
    accel: str | None = Field(
        None,
        description="fpga_dataflow accelerator config: part, clock and the budgeted design"
        " (without it: RF 1, Latency strategy, part xc7z020clg400-1, 10 ns)",
    )
    out: str = Field("runs/firmware", description="project folder to create")
    verify: Count = Field(200, description="held-out samples to C-simulate, 0 to skip")
    io_type: Annotated[str, AfterValidator(one_of("auto", "io_stream", "io_parallel"))] = Field(
        "auto",
        description="override the budgeted design's io type (auto: the budgeted design's, i.e. the"
        " config's io_type; without --accel: stream when a conv is too big for io_parallel)",
    )
    backend: Annotated[str, AfterValidator(one_of("vitis", "vivado"))] = Field(
        "vitis", description="hls4ml backend the project is written for"
    )
    target_ii: PositiveFloat | None = Field(
        None,
        description="override the budgeted design's throughput target, cycles per image: reuse"
        " factors are re-chosen for it (default: the budgeted design's)",
    )
    data: str | None = Field(None, description="data set for samples (default: the model's)")
    data_dir: str | None = Field(None, description="folder of the data set files")
    force: bool = Field(False, description="replace an existing --out folder")
    progress: bool = Field(True, description="progress bar")
    fpga: FpgaTarget | None = None


# ---- sections of the experiment file, derived from the stage configs ----
class Section(BaseModel):
    """One section of an experiment file: the keys given there (``given()``). ``hints``: why a
    key of the stage's config is refused here (set at the top level, or by the pipeline)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
    hints: ClassVar[dict[str, str]] = {}

    def given(self) -> dict[str, Any]:
        """The keys the file (or a later assignment) set, as plain values."""
        return self.model_dump(exclude_unset=True, mode="json")


def section_of(
    cls: type[BaseModel], name: str, exclude: set[str] | tuple[str, ...], owned: set[str]
) -> type[Section]:
    """A :class:`Section` with ``cls``'s fields (annotation, value checks, default,
    description) minus ``exclude``; ``owned`` are reported as set by the pipeline, the other
    excluded fields of the experiment's top level as set there."""
    fields: dict[str, Any] = {}
    for k, f in cls.model_fields.items():
        if k in exclude:
            continue
        kw: dict[str, Any] = {"description": f.description}
        if f.default_factory is not None:
            kw["default_factory"] = f.default_factory
        else:
            kw["default"] = f.default
        fields[k] = (f.rebuild_annotation(), Field(**kw))
    model = create_model(name, __base__=Section, **fields)
    top = {k: "set at the top level of the experiment" for k in (*COMMON, "fpga")}
    model.hints = {k: top.get(k, "set by the pipeline") for k in exclude if k in top or k in owned}
    return model


SearchSection = section_of(SearchConfig, "SearchSection", {*COMMON, *SEARCH_OWNED}, SEARCH_OWNED)
TrainSection = section_of(TrainConfig, "TrainSection", {*COMMON, *TRAIN_OWNED}, TRAIN_OWNED)
SimulateSection = section_of(SimulateConfig, "SimulateSection", SIMULATE_OWNED, SIMULATE_OWNED)
EmitSection = section_of(EmitConfig, "EmitSection", EMIT_OWNED, EMIT_OWNED)
_Common = section_of(NetworkConfig, "Common", set(NetworkConfig.model_fields) - set(COMMON), set())


class Experiment(_Common):  # type: ignore[misc, valid-type]
    """One ``edmips run`` experiment (version 2; version 1 files load).

    Top level: the network (``model``, ``data``, ``data_dir``), quantizer ``family`` and layer
    policy (``first``/``last``), ``seed``. Sections: ``search`` (SearchConfig fields: accel,
    metric, target or lam, w_bits, a_bits, epochs, ...), ``train`` (TrainConfig fields for the
    final and the baseline trainings), ``baselines`` (uniform "W/A" networks to train for
    comparison), ``simulate`` (``accels``: configs to simulate on, ``batch``), ``emit``
    (EmitConfig fields: fpga ``accel``, ``io_type``, ``verify`` N, ...; ``null`` skips the
    firmware stage) and ``fpga`` (``target_ii`` cycles per image and/or ``io_type``: the FPGA
    design the search costs, ``simulate`` reports and ``emit`` writes).
    """

    version: int = VERSION
    name: str = "experiment"
    family: Family = "fixed"
    search: SearchSection = Field(default_factory=SearchSection)  # type: ignore[valid-type]
    train: TrainSection = Field(default_factory=TrainSection)  # type: ignore[valid-type]
    baselines: list[str] = Field(default_factory=list)
    simulate: SimulateSection = Field(default_factory=SimulateSection)  # type: ignore[valid-type]
    emit: EmitSection | None = Field(default_factory=EmitSection)  # type: ignore[valid-type]
    fpga: FpgaTarget | None = None

    # -- (de)serialisation --
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: getattr(self, k)
            for k in ("version", "name", *COMMON)
            if k in type(self).model_fields
        }
        out["version"] = VERSION
        out.update(
            search=self.search.given(),
            train=self.train.given(),
            baselines=list(self.baselines),
            simulate=self.simulate.given(),
            emit=None if self.emit is None else self.emit.given(),
        )
        if self.fpga is not None:
            out["fpga"] = self.fpga.model_dump(mode="json", exclude_none=True)
        return out

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
        if raw["version"] not in SUPPORTED_VERSIONS:
            raise ExperimentError(
                f"{source}: version: {raw['version']!r} is not supported (expected"
                f" {' or '.join(map(str, SUPPORTED_VERSIONS))})"
            )
        if raw["version"] == 1 and "fpga" in raw:
            raise ExperimentError(f"{source}: fpga: needs version 2 (the file says version 1)")
        # an empty section in YAML (``train:`` with nothing under it) reads as None
        data = {
            k: ({} if v is None and k in ("search", "train", "simulate") else v)
            for k, v in raw.items()
        }
        try:
            exp = cls.model_validate({**data, "version": VERSION}, strict=True)
        except ValidationError as exc:
            raise ExperimentError(describe(exc, cls, data, lambda p: f"{source}: {p}")) from None
        exp._resolve_paths(base)
        exp.check(source)
        return exp

    def _resolve_paths(self, base: str | os.PathLike | None) -> None:
        if self.data_dir is not None:
            self.data_dir = resolve_input_path(self.data_dir, base)
        self.model = canonical_spec(self.model, base)  # a model file next to the experiment
        for sec in (self.search, self.emit):
            if sec is not None and isinstance(sec.accel, str):
                sec.accel = resolve_input_path(sec.accel, base, config=True)
        if self.simulate.accels:
            self.simulate.accels = [
                resolve_input_path(a, base, config=True) for a in self.simulate.accels
            ]

    @classmethod
    def load(cls, path: str | os.PathLike) -> Experiment:
        """Read and validate an experiment YAML/JSON file; relative paths in it resolve against
        the file's folder."""
        raw = read_structured(path, ExperimentError)
        return cls.from_dict(raw, source=str(path), base=Path(path).absolute().parent)

    def check(self, source: str = "experiment") -> None:
        """Cross-field checks (one-line errors naming the key); per-field types and ranges are
        checked by the section models."""
        s = self.search
        if (s.target is None) == (s.lam is None):
            raise ExperimentError(
                f"{source}: search: give exactly one of search.target (e.g. lut=0.6x) or search.lam"
            )
        try:  # the search stage's own checks (target syntax, metric), now rather than later
            self.search_config("out")
        except HwsimError as exc:
            raise ExperimentError(f"{source}: search: {exc}") from None
        for i, b in enumerate(self.baselines):
            try:
                w, _ = parse_bits(b)
            except AllocationError as exc:
                raise ExperimentError(f"{source}: baselines[{i}]: {exc}") from None
            if self.family == "fixed" and w < 2:
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
        for i, a in enumerate(self.simulate.accels):
            if not Path(a).is_file():
                raise ExperimentError(f"{source}: simulate.accels[{i}]: {a}: file not found")
        for key, a in (("search.accel", s.accel), ("emit.accel", self.emit and self.emit.accel)):
            if a is not None and not Path(a).is_file():
                raise ExperimentError(f"{source}: {key}: {a}: file not found")

    # -- stage configs --
    def _common(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in COMMON}

    def search_config(self, out: str, progress: bool = True) -> SearchConfig:
        """The :class:`search.config.SearchConfig` of the search stage."""
        return SearchConfig(
            **self._common(), **self.search.given(), fpga=self.fpga, out=out, progress=progress
        )

    def train_config(
        self,
        out: str,
        allocation: str | None = None,
        bits: str | None = None,
        progress: bool = True,
    ) -> TrainConfig:
        """The :class:`search.config.TrainConfig` of the final training or of one baseline."""
        return TrainConfig(
            **self._common(),
            **self.train.given(),
            allocation=allocation,
            bits=bits,
            out=out,
            progress=progress,
        )

    def simulate_config(self, out: str, model_file: str, progress: bool = True) -> SimulateConfig:
        return SimulateConfig(
            **self.simulate.given(),
            model_file=model_file,
            out=out,
            progress=progress,
            fpga=self.fpga,
        )

    def emit_config(self, out: str, model_file: str, progress: bool = True) -> EmitConfig:
        if self.emit is None:
            raise ExperimentError("emit: null: this experiment has no firmware stage")
        return EmitConfig(
            **self.emit.given(),
            model_file=model_file,
            out=out,
            data=self.data,
            data_dir=self.data_dir,
            progress=progress,
            fpga=self.fpga,
        )


def config_hash(obj: Any) -> str:
    """sha256 (first 16 hex digits) of a JSON-able object with sorted keys."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bits_dir(bits: str) -> str:
    """Folder name of a uniform baseline: ``"2/3"`` -> ``"w2a3"``."""
    w, a = bits.split("/")
    return f"w{int(w)}a{int(a)}"
