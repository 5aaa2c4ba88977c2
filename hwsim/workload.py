"""Workloads: an ordered list of conv/linear layers with their real shapes, plus the dataflow graph.

Units: element counts (MACs, weights, activations) are plain numbers; nothing here knows bits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import networkx as nx
import numpy as np

from .errors import WorkloadError
from .fileio import dump_structured, read_structured
from .scalesim_io import parse_topology

WORKLOAD_VERSION = 1
KINDS = ("conv", "linear")


def _pair(value: Any, key: str, where: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise WorkloadError(
            f"{where}: key '{key}': expected an integer or a pair of integers, got {value!r}"
        )
    if isinstance(value, int):
        return (value, value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise WorkloadError(
        f"{where}: key '{key}': expected an integer or a pair of integers, got {value!r}"
    )


@dataclass(frozen=True)
class LayerSpec:
    """One conv or linear layer with the shapes it sees at run time.

    ``in_hw``/``out_hw`` are spatial sizes in pixels; a linear layer has (1, 1). ``batch`` counts
    independent inputs (images, or tokens for a linear layer applied per position).
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    in_hw: tuple[int, int] = (1, 1)
    out_hw: tuple[int, int] | None = None
    batch: int = 1
    bias: bool = False
    weight_density: float = 1.0  # fraction of non-zero weights (1.0 = dense; pruning lowers it)

    def __post_init__(self) -> None:
        where = f"layer '{self.name}'"
        if not isinstance(self.name, str) or not self.name:
            raise WorkloadError(f"layer name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise WorkloadError(
                f"{where}: key 'kind': expected one of {list(KINDS)}, got {self.kind!r}"
            )
        for key in ("in_channels", "out_channels", "groups", "batch"):
            v = getattr(self, key)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise WorkloadError(f"{where}: key '{key}': expected a positive integer, got {v!r}")
        d = self.weight_density
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 < d <= 1.0:
            raise WorkloadError(
                f"{where}: key 'weight_density': expected 0 < value <= 1, got {d!r}"
            )
        object.__setattr__(self, "weight_density", float(d))
        for key in ("kernel", "stride", "dilation", "in_hw"):
            p = _pair(getattr(self, key), key, where)
            if min(p) < 1:
                raise WorkloadError(
                    f"{where}: key '{key}': expected positive integers, got {list(p)}"
                )
            object.__setattr__(self, key, p)
        pad = _pair(self.padding, "padding", where)
        if min(pad) < 0:
            raise WorkloadError(
                f"{where}: key 'padding': expected non-negative integers, got {list(pad)}"
            )
        object.__setattr__(self, "padding", pad)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise WorkloadError(
                f"{where}: key 'groups': {self.groups} does not divide in_channels {self.in_channels}"
                f" and out_channels {self.out_channels}"
            )
        if self.kind == "linear" and (
            self.kernel != (1, 1) or self.in_hw != (1, 1) or self.groups != 1
        ):
            raise WorkloadError(f"{where}: a linear layer has kernel 1, in_hw 1x1 and groups 1")
        expected = tuple(
            (self.in_hw[i] + 2 * self.padding[i] - self.dilation[i] * (self.kernel[i] - 1) - 1)
            // self.stride[i]
            + 1
            for i in range(2)
        )
        if min(expected) < 1:
            raise WorkloadError(
                f"{where}: kernel {list(self.kernel)} does not fit input {list(self.in_hw)} with padding {list(self.padding)}"
            )
        if self.out_hw is None:
            object.__setattr__(self, "out_hw", expected)
        else:
            out = _pair(self.out_hw, "out_hw", where)
            if out != expected:
                raise WorkloadError(
                    f"{where}: key 'out_hw': {list(out)} disagrees with the shape the kernel, stride and"
                    f" padding give, {list(expected)}"
                )
            object.__setattr__(self, "out_hw", out)

    # ---- derived sizes (element counts) ----
    @property
    def is_depthwise(self) -> bool:
        return self.kind == "conv" and self.groups > 1 and self.groups == self.in_channels

    @property
    def reduction(self) -> int:
        """Reduction length K of one output: kh*kw*in_channels/groups."""
        return self.kernel[0] * self.kernel[1] * self.in_channels // self.groups

    @property
    def out_pixels(self) -> int:
        assert self.out_hw is not None
        return self.out_hw[0] * self.out_hw[1]

    @property
    def macs(self) -> int:
        """Multiply-accumulates for the whole batch."""
        return self.batch * self.out_pixels * self.reduction * self.out_channels

    @property
    def weights(self) -> int:
        """Weight elements (bias excluded)."""
        return self.reduction * self.out_channels

    @property
    def params(self) -> int:
        """Parameters: weights plus bias."""
        return self.weights + (self.out_channels if self.bias else 0)

    @property
    def ifmap(self) -> int:
        """Input activation elements for the whole batch."""
        return self.batch * self.in_channels * self.in_hw[0] * self.in_hw[1]

    @property
    def ofmap(self) -> int:
        """Output activation elements for the whole batch."""
        return self.batch * self.out_channels * self.out_pixels

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("kernel", "stride", "padding", "dilation", "in_hw", "out_hw"):
            d[k] = list(d[k])
        if d["weight_density"] == 1.0:
            del d["weight_density"]  # dense is the default: keep saved workloads unchanged
        return d

    @classmethod
    def from_dict(cls, raw: Any, where: str = "layer") -> LayerSpec:
        if not isinstance(raw, dict):
            raise WorkloadError(
                f"{where}: expected a mapping of layer keys, got {type(raw).__name__}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise WorkloadError(
                f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})"
            )
        for req in ("name", "kind", "in_channels", "out_channels"):
            if req not in raw:
                raise WorkloadError(f"{where}: missing key '{req}'")
        return cls(**raw)


@dataclass(frozen=True)
class LayerArrays:
    """The layers of a workload as float64 numpy arrays, one entry per layer (or broadcast shape).

    The accelerator models compute on these with numpy broadcasting so the same code evaluates
    one layer at one bit pair or every layer at every bit pair.
    """

    batch: np.ndarray
    cin: np.ndarray
    cout: np.ndarray
    kh: np.ndarray
    kw: np.ndarray
    sh: np.ndarray
    sw: np.ndarray
    groups: np.ndarray
    in_h: np.ndarray
    in_w: np.ndarray
    out_h: np.ndarray
    out_w: np.ndarray
    is_linear: np.ndarray
    is_depthwise: np.ndarray
    is_first: np.ndarray
    reduction: np.ndarray
    out_pixels: np.ndarray
    macs: np.ndarray
    weights: np.ndarray
    ifmap: np.ndarray
    ofmap: np.ndarray
    names: np.ndarray  # layer names (object array): lets a model apply per-layer settings
    density: np.ndarray  # fraction of non-zero weights
    # input vector's words per stream read: a linear layer fed (through pooling/flatten) by a
    # conv reads n_in / C packets of C channels; otherwise the whole input is one packet
    in_packets: np.ndarray

    @classmethod
    def from_layers(
        cls, layers: Sequence[LayerSpec], in_packets: Sequence[int] | None = None
    ) -> LayerArrays:
        def arr(vals: Iterable[Any]) -> np.ndarray:
            return np.asarray(list(vals), dtype=np.float64)

        return cls(
            batch=arr(lyr.batch for lyr in layers),
            cin=arr(lyr.in_channels for lyr in layers),
            cout=arr(lyr.out_channels for lyr in layers),
            kh=arr(lyr.kernel[0] for lyr in layers),
            kw=arr(lyr.kernel[1] for lyr in layers),
            sh=arr(lyr.stride[0] for lyr in layers),
            sw=arr(lyr.stride[1] for lyr in layers),
            groups=arr(lyr.groups for lyr in layers),
            in_h=arr(lyr.in_hw[0] for lyr in layers),
            in_w=arr(lyr.in_hw[1] for lyr in layers),
            out_h=arr(lyr.out_hw[0] for lyr in layers),  # type: ignore[index]
            out_w=arr(lyr.out_hw[1] for lyr in layers),  # type: ignore[index]
            is_linear=np.asarray([lyr.kind == "linear" for lyr in layers], dtype=bool),
            is_depthwise=np.asarray([lyr.is_depthwise for lyr in layers], dtype=bool),
            is_first=np.asarray([i == 0 for i in range(len(layers))], dtype=bool),
            reduction=arr(lyr.reduction for lyr in layers),
            out_pixels=arr(lyr.out_pixels for lyr in layers),
            macs=arr(lyr.macs for lyr in layers),
            weights=arr(lyr.weights for lyr in layers),
            ifmap=arr(lyr.ifmap for lyr in layers),
            ofmap=arr(lyr.ofmap for lyr in layers),
            names=np.asarray([lyr.name for lyr in layers], dtype=object),
            density=arr(lyr.weight_density for lyr in layers),
            in_packets=arr(in_packets if in_packets is not None else [1] * len(layers)),
        )

    def reshape(self, shape: tuple[int, ...]) -> LayerArrays:
        """Every array reshaped (e.g. to (L, 1, 1) to broadcast against (nW, 1) and (nA,))."""
        return LayerArrays(
            **{f.name: np.reshape(getattr(self, f.name), shape) for f in fields(self)}
        )

    def take(self, index: int) -> LayerArrays:
        """One layer's entries as 0-d arrays."""
        return LayerArrays(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def __len__(self) -> int:
        return int(self.macs.size)


@dataclass
class Workload:
    """Ordered conv/linear layers and the producer -> consumer graph between them.

    ``graph`` holds one node per layer name; an edge u -> v means v consumes (possibly through
    non-MAC ops such as ReLU, pooling or an add) what u produced. A chain if not given.
    """

    name: str
    layers: list[LayerSpec]
    edges: list[tuple[str, str]] | None = None
    graph: nx.DiGraph = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.layers:
            raise WorkloadError(f"workload '{self.name}': has no conv or linear layers")
        seen: set[str] = set()
        for lyr in self.layers:
            if lyr.name in seen:
                raise WorkloadError(f"workload '{self.name}': layer '{lyr.name}' appears twice")
            seen.add(lyr.name)
        if self.edges is None:
            self.edges = [(a.name, b.name) for a, b in zip(self.layers, self.layers[1:])]
        g = nx.DiGraph()
        g.add_nodes_from(lyr.name for lyr in self.layers)
        for u, v in self.edges:
            for n in (u, v):
                if n not in seen:
                    raise WorkloadError(f"workload '{self.name}': edge names unknown layer '{n}'")
            g.add_edge(u, v)
        if not nx.is_directed_acyclic_graph(g):
            raise WorkloadError(f"workload '{self.name}': the layer graph has a cycle")
        self.graph = g
        self._arrays: LayerArrays | None = None

    # ---- access ----
    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[LayerSpec]:
        return iter(self.layers)

    @property
    def names(self) -> list[str]:
        return [lyr.name for lyr in self.layers]

    def layer(self, name: str) -> LayerSpec:
        for lyr in self.layers:
            if lyr.name == name:
                return lyr
        raise WorkloadError(f"workload '{self.name}': no layer named '{name}'")

    def arrays(self) -> LayerArrays:
        """Per-layer numpy arrays (cached)."""
        if self._arrays is None:
            self._arrays = LayerArrays.from_layers(self.layers, self.in_packets())
        return self._arrays

    def in_packets(self) -> list[int]:
        """Per layer, the stream packets its input vector arrives in: a linear layer whose one
        producer is a conv with C output channels dividing its n_in reads n_in / C packets
        (channels-last streams; flatten does not repack, hls4ml's ``ReshapeStream``); else 1."""
        by_name = {lyr.name: lyr for lyr in self.layers}
        out = []
        for lyr in self.layers:
            prev = [by_name[u] for u in self.graph.predecessors(lyr.name)]
            c = prev[0].out_channels if len(prev) == 1 and prev[0].kind == "conv" else 0
            n = lyr.in_channels
            out.append(n // c if lyr.kind == "linear" and c and n % c == 0 else 1)
        return out

    @property
    def total_macs(self) -> int:
        return sum(lyr.macs for lyr in self.layers)

    @property
    def total_params(self) -> int:
        return sum(lyr.params for lyr in self.layers)

    # ---- serialisation ----
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": WORKLOAD_VERSION,
            "name": self.name,
            "layers": [lyr.to_dict() for lyr in self.layers],
            "edges": [list(e) for e in (self.edges or [])],
        }

    @classmethod
    def from_dict(cls, raw: Any, source: str = "workload") -> Workload:
        if not isinstance(raw, dict):
            raise WorkloadError(f"{source}: expected a mapping with 'name' and 'layers'")
        unknown = sorted(set(raw) - {"version", "name", "layers", "edges"})
        if unknown:
            raise WorkloadError(
                f"{source}: unknown key '{unknown[0]}' (known: edges, layers, name, version)"
            )
        version = raw.get("version", WORKLOAD_VERSION)
        if version != WORKLOAD_VERSION:
            raise WorkloadError(
                f"{source}: key 'version': expected {WORKLOAD_VERSION}, got {version!r}"
            )
        layers_raw = raw.get("layers")
        if not isinstance(layers_raw, list) or not layers_raw:
            raise WorkloadError(f"{source}: key 'layers': expected a non-empty list of layers")
        layers = []
        for i, item in enumerate(layers_raw):
            where = f"{source}: layers[{i}]"
            try:
                layers.append(LayerSpec.from_dict(item, where))
            except WorkloadError as exc:
                msg = str(exc)
                raise WorkloadError(msg if msg.startswith(source) else f"{where}: {msg}") from None
            except TypeError as exc:
                raise WorkloadError(f"{where}: {exc}") from None
        edges_raw = raw.get("edges")
        edges = None
        if edges_raw is not None:
            if not isinstance(edges_raw, list) or not all(
                isinstance(e, (list, tuple)) and len(e) == 2 for e in edges_raw
            ):
                raise WorkloadError(
                    f"{source}: key 'edges': expected a list of [producer, consumer] pairs"
                )
            edges = [(str(a), str(b)) for a, b in edges_raw]
        try:
            return cls(name=str(raw.get("name", "workload")), layers=layers, edges=edges)
        except WorkloadError as exc:
            raise WorkloadError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Workload:
        """Read a workload from YAML/JSON, or a SCALE-Sim topology CSV (``.csv``)."""
        p = os.fspath(path)
        if p.lower().endswith(".csv"):
            return cls.from_topology(p)
        return cls.from_dict(read_structured(p, WorkloadError), source=p)

    @classmethod
    def from_topology(cls, path: str | os.PathLike, batch: int = 1) -> Workload:
        """A chain workload from a SCALE-Sim topology CSV (see :mod:`hwsim.scalesim_io`)."""
        name, rows = parse_topology(path, batch)
        layers = []
        for where, spec in rows:
            try:
                layers.append(LayerSpec(**spec))
            except WorkloadError as exc:
                raise WorkloadError(f"{where}: {exc}") from None
        try:
            return cls(name=name, layers=layers)
        except WorkloadError as exc:
            raise WorkloadError(f"{os.fspath(path)}: {exc}") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write YAML/JSON by extension, atomically."""
        dump_structured(path, self.to_dict())
