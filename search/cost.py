"""Differentiable expected hardware cost of a search network, from hwsim cost tables.

For searched layer ``l`` with weight-bit probabilities ``pw_l`` and activation-bit probabilities
``pa_l`` the expected cost is ``E_l = sum_ij pw_li pa_lj T_l[i, j]``; layers combine by a sum
(layer-by-layer accelerator) or a smooth maximum (pipelined dataflow: the slowest stage sets the
throughput). Float (first/last) layers add a constant: their cost at the float-layer width
(``hwsim.formats.FLOAT_LAYER_BITS``).

Which metrics exist, their table keys, units and how layers combine (a sum, the slowest stage of
a pipeline, or a composite such as EDP = network energy x network latency) is read from
:mod:`hwsim.metrics`; nothing here names a metric.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hwsim import AccelConfig, Workload, cost_tables
from hwsim.formats import float_layer_format
from hwsim.metrics import COSTS, REGISTRY, Metric, bitops_table

from .errors import SearchError

METRICS: Mapping[str, Metric] = COSTS
"""The metrics a search may budget, by name (a live view of ``hwsim.metrics.REGISTRY``)."""


class _Units(Mapping[str, str]):
    def __getitem__(self, name: str) -> str:
        return COSTS[name].unit

    def __iter__(self) -> Iterator[str]:
        return iter(COSTS)

    def __len__(self) -> int:
        return len(COSTS)


UNITS: Mapping[str, str] = _Units()
"""Metric name -> the unit of its tables and budgets (s, pJ, pJ*s, bytes, counts)."""
FLOAT_W_BITS, FLOAT_A_BITS = float_layer_format().bits  # the one rule: hwsim.formats
REFERENCE_BITS = 8  # relative costs are in units of the network at uniform 8/8

__all__ = [
    "FLOAT_A_BITS",
    "FLOAT_W_BITS",
    "REFERENCE_BITS",
    "METRICS",
    "UNITS",
    "HardwareCost",
    "bitops_table",
    "metric_spec",
    "metric_tables",
    "supported_candidates",
]


def metric_spec(metric: str) -> Metric:
    """The registry record of a budgetable ``metric``; :class:`SearchError` when unknown."""
    if metric not in COSTS:
        raise SearchError(f"unknown metric '{metric}' (known: {', '.join(COSTS)})")
    return COSTS[metric]


def _part_keys(spec: Metric) -> list[tuple[str, ...]]:
    """The table keys whose per-layer sums are multiplied (one group per part), or one group."""
    if spec.composite:
        return [REGISTRY[p].keys for p in spec.parts]
    return [spec.keys]


def supported_candidates(
    config: AccelConfig | None, w_bits: Sequence[int], a_bits: Sequence[int], quiet: bool = False
) -> tuple[list[int], list[int]]:
    """Drop candidate widths the accelerator does not run natively (printing a notice).

    Raises :class:`SearchError` when no weight or no activation width is left.
    """
    w_bits, a_bits = [int(b) for b in w_bits], [int(b) for b in a_bits]
    if config is None:
        return w_bits, a_bits
    ws, as_ = config.model.supported_bits(w_bits, a_bits)
    dropped_w = [b for b in w_bits if b not in ws]
    dropped_a = [b for b in a_bits if b not in as_]
    if (dropped_w or dropped_a) and not quiet:
        print(
            f"notice: accelerator '{config.name}' does not run natively: "
            f"weight bits {dropped_w or '-'}, activation bits {dropped_a or '-'}; removed from the candidates"
        )
    if not ws or not as_:
        raise SearchError(
            f"accelerator '{config.name}' supports none of the candidate "
            f"{'weight' if not ws else 'activation'} bits {w_bits if not ws else a_bits}"
        )
    return ws, as_


def metric_tables(
    workload: Workload,
    config: AccelConfig | None,
    metric: str,
    w_bits: Sequence[int],
    a_bits: Sequence[int],
) -> dict[str, np.ndarray]:
    """Tables ``[L, nW, nA]`` of ``metric``'s table keys (a composite needs its parts' keys, e.g.
    EDP energy and latency). An accelerator-free metric (BitOps) ignores ``config``."""
    spec = metric_spec(metric)
    if spec.accel_free is not None:
        L = workload.arrays().reshape((len(workload), 1, 1))
        w = np.asarray(list(w_bits), dtype=np.float64).reshape(1, -1, 1)
        a = np.asarray(list(a_bits), dtype=np.float64).reshape(1, 1, -1)
        shape = (len(workload), w.size, a.size)
        (key,) = spec.keys
        return {key: np.broadcast_to(spec.accel_free(L, w, a), shape).astype(np.float64)}
    if config is None:
        raise SearchError(f"metric '{metric}' needs an accelerator config (--accel)")
    # the monotone view: a narrower operand never costs more than a wider mode that runs it
    tabs = cost_tables(workload, config, w_bits, a_bits, monotone=True)
    keys = list(spec.keys)
    for k in keys:
        if k not in tabs:
            raise SearchError(
                f"metric '{metric}': accelerator '{config.name}' (type {config.type}) reports no '{k}'"
                f" (it reports: {', '.join(sorted(tabs))})"
            )
    return {k: tabs[k] for k in keys}


class HardwareCost(nn.Module):
    """Expected hardware cost of the searched layers plus the constant cost of float layers.

    ``tables``: ``{key: ndarray[L, nW, nA]}`` over the searched layers in ``layer_names`` order
    (the metric's table keys: for a composite such as EDP its parts' keys, ``energy_pj`` and
    ``latency_s``, whose network sums are multiplied). ``constant``: ``{key: ndarray[F]}`` costs of float layers (at 8/8). ``scale``: the
    reference cost (uniform 8/8) by which the loss normalises; units are the metric's
    (seconds, pJ, pJ*s, bytes, counts). ``aggregate``: ``sum`` or ``smoothmax``
    (temperature ``tau`` relative to ``scale``).
    """

    def __init__(
        self,
        tables: dict[str, np.ndarray],
        metric: str,
        layer_names: Sequence[str],
        aggregate: str = "sum",
        scale: float = 1.0,
        constant: dict[str, np.ndarray] | None = None,
        tau: float = 0.02,
        allowed: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        spec = metric_spec(metric)
        if aggregate not in ("sum", "smoothmax"):
            raise SearchError(f"aggregate '{aggregate}': expected sum or smoothmax")
        if spec.composite and aggregate != "sum":
            raise SearchError(f"metric '{metric}' needs a layer-by-layer (sum) accelerator")
        self.metric = metric
        self.spec = spec
        self.groups = _part_keys(spec)
        self.aggregate = aggregate
        self.layer_names = list(layer_names)
        self.keys = sorted(tables)
        self.scale = float(scale)
        self.tau = float(tau)
        shapes = {np.asarray(t).shape for t in tables.values()}
        if (
            len(shapes) != 1
            or len(next(iter(shapes))) != 3
            or next(iter(shapes))[0] != len(self.layer_names)
        ):
            raise SearchError(
                f"cost tables: expected equal [L={len(self.layer_names)}, nW, nA] arrays, got {shapes}"
            )
        self.shape = next(iter(shapes))
        self.np_tables = {k: np.asarray(tables[k], dtype=np.float64) for k in self.keys}
        const = constant or {}
        self.np_constant = {
            k: np.asarray(const.get(k, []), dtype=np.float64).ravel() for k in self.keys
        }
        # pairs a search may pick (unsupported pairs excluded from the repair)
        self.allowed = (
            np.ones(self.shape[1:], dtype=bool) if allowed is None else np.asarray(allowed, bool)
        )
        for k in self.keys:
            self.register_buffer(
                f"t_{k}", torch.tensor(self.np_tables[k], dtype=torch.float64), persistent=False
            )
            self.register_buffer(
                f"c_{k}", torch.tensor(self.np_constant[k], dtype=torch.float64), persistent=False
            )

    # ---- construction from hwsim ----
    @classmethod
    def from_workload(
        cls,
        workload: Workload,
        config: AccelConfig | None,
        metric: str,
        searched: Sequence[str],
        w_bits: Sequence[int],
        a_bits: Sequence[int],
        aggregate: str | None = None,
    ) -> HardwareCost:
        """Tables for the ``searched`` layers at the candidates; every other workload layer is
        a float layer costed at ``hwsim.formats.FLOAT_LAYER_BITS``. ``aggregate`` defaults to ``smoothmax`` for a pipelined
        accelerator's latency and ``sum`` otherwise. ``scale`` = the whole network at 8/8."""
        names = workload.names
        unknown = [n for n in searched if n not in names]
        if unknown:
            raise SearchError(f"searched layer '{unknown[0]}' is not in workload '{workload.name}'")
        idx = [names.index(n) for n in searched]
        fidx = [i for i in range(len(names)) if names[i] not in set(searched)]
        full = metric_tables(workload, config, metric, list(w_bits), list(a_bits))
        floats = metric_tables(workload, config, metric, [FLOAT_W_BITS], [FLOAT_A_BITS])
        eight = (  # the reference: uniform 8/8
            floats
            if (FLOAT_W_BITS, FLOAT_A_BITS) == (REFERENCE_BITS, REFERENCE_BITS)
            else metric_tables(workload, config, metric, [REFERENCE_BITS], [REFERENCE_BITS])
        )
        if aggregate is None:
            pipelined = config is not None and config.model.aggregate == "pipeline"
            aggregate = "smoothmax" if pipelined and metric_spec(metric).pipeline_max else "sum"
        tables = {k: v[idx] for k, v in full.items()}
        constant = {k: v[fidx, 0, 0] for k, v in floats.items()}
        allowed = np.ones((len(w_bits), len(a_bits)), dtype=bool)
        if config is not None:
            for i, w in enumerate(w_bits):
                for j, a in enumerate(a_bits):
                    allowed[i, j] = config.model.supports(int(w), int(a))
        obj = cls(tables, metric, list(searched), aggregate, 1.0, constant, allowed=allowed)
        ref = obj._combine_np({k: v[:, 0, 0] for k, v in eight.items()}, include_constant=False)
        obj.scale = float(ref) if ref > 0 else 1.0
        if not obj.spec.composite and aggregate == "sum":
            (k,) = obj.keys
            obj.const_total = float(obj.np_constant[k].sum())
            obj.searched_ref = float(eight[k][idx, 0, 0].sum())
        obj.w_bits, obj.a_bits = list(w_bits), list(a_bits)
        return obj

    # ---- relative costs ----
    const_total: float = 0.0
    searched_ref: float | None = None

    def from_relative(self, fraction: float) -> float:
        """Absolute budget for a relative target: for a sum cost the searched layers get
        ``fraction`` of their uniform-8/8 cost and the float layers keep theirs (as the paper counts
        BitOps only on quantized layers); otherwise ``fraction`` of the whole network at 8/8."""
        if self.searched_ref is not None:
            return self.const_total + fraction * self.searched_ref
        return fraction * self.scale

    def to_relative(self, value: float) -> float:
        """Inverse of :meth:`from_relative`."""
        if self.searched_ref is not None and self.searched_ref > 0:
            return (value - self.const_total) / self.searched_ref
        return value / self.scale

    # ---- numpy evaluation ----
    def _combine_np(self, per_layer: dict[str, np.ndarray], include_constant: bool = True) -> float:
        vals = {}
        for k in self.keys:
            v = np.asarray(per_layer[k], dtype=np.float64)
            if include_constant:
                v = np.concatenate([v, self.np_constant[k]])
            vals[k] = v
        if self.spec.composite:  # the product of the parts' network sums
            out = 1.0
            for group in self.groups:
                out = out * sum(vals[k].sum() for k in group)
            return float(out)
        (v,) = vals.values()
        return float(v.max() if self.aggregate == "smoothmax" else v.sum())

    def per_layer_discrete(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Per searched layer cost at ``indices[l] = (i, j)`` (candidate indices)."""
        ind = np.asarray(indices, dtype=np.int64).reshape(-1, 2)
        rows = np.arange(len(self.layer_names))
        return {k: t[rows, ind[:, 0], ind[:, 1]] for k, t in self.np_tables.items()}

    def discrete(self, allocation_indices: np.ndarray) -> float:
        """Exact cost (metric units) of one discrete choice: ``allocation_indices[l] = (i, j)``;
        a hard maximum for ``smoothmax``."""
        return self._combine_np(self.per_layer_discrete(allocation_indices))

    def uniform(self, i: int, j: int) -> float:
        """Cost with every searched layer at candidate pair (i, j)."""
        return self.discrete(np.tile([i, j], (len(self.layer_names), 1)))

    def minimum(self) -> float:
        """Cheapest achievable cost over the allowed pairs (exact for sum and max; for a composite
        such as EDP a lower bound)."""
        per = {}
        for k, t in self.np_tables.items():
            masked = np.where(self.allowed[None], t, np.inf)
            per[k] = masked.reshape(len(self.layer_names), -1).min(axis=1)
        return self._combine_np(per)

    # ---- differentiable evaluation ----
    def forward(self, probs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Expected cost (metric units, float64 scalar) from per-layer ``(pw_l, pa_l)`` in
        ``layer_names`` order."""
        if len(probs) != len(self.layer_names):
            raise SearchError(
                f"cost: expected probabilities for {len(self.layer_names)} layers, got {len(probs)}"
            )
        pw = torch.stack([p[0] for p in probs]).to(torch.float64)
        pa = torch.stack([p[1] for p in probs]).to(torch.float64)
        per = {k: torch.einsum("li,lij,lj->l", pw, getattr(self, f"t_{k}"), pa) for k in self.keys}
        if self.spec.composite:  # the product of the parts' network sums
            out = None
            for group in self.groups:
                part = sum(per[k].sum() + getattr(self, f"c_{k}").sum() for k in group)
                out = part if out is None else out * part
            return out
        (k,) = self.keys
        v = torch.cat([per[k], getattr(self, f"c_{k}")])
        if self.aggregate == "sum":
            return v.sum()
        temp = self.tau * self.scale
        return temp * torch.logsumexp(v / temp, dim=0)

    def expected_per_layer(
        self, probs: Sequence[tuple[torch.Tensor, torch.Tensor]]
    ) -> dict[str, np.ndarray]:
        pw = torch.stack([p[0] for p in probs]).detach().to(torch.float64)
        pa = torch.stack([p[1] for p in probs]).detach().to(torch.float64)
        return {
            k: torch.einsum("li,lij,lj->l", pw, getattr(self, f"t_{k}"), pa).cpu().numpy()
            for k in self.keys
        }
