"""Layer-by-layer simulation of a workload under an allocation, and its report."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from .allocation import Allocation
from .config import AccelConfig
from .fileio import atomic_write_bytes, atomic_write_text
from .metrics import network_totals
from .tables import cost_tables
from .workload import Workload

# per-layer columns shown in tables, in order
TABLE_COLUMNS = (
    "compute_cycles",
    "stall_cycles",
    "cycles",
    "utilization",
    "dram_bytes",
    "energy_pj",
)
ENERGY_PARTS = ("energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_static_pj")
FPGA_COLUMNS = ("ii_cycles", "dsp", "lut", "bram_18k")


@dataclass
class Report:
    """Per-layer rows and totals of one simulation.

    Totals: ``cycles``, ``latency_s`` (one batch, s), ``inferences_per_s``, for pipelined FPGA
    designs the bottleneck ``ii_cycles``, then every metric of :data:`hwsim.metrics.REGISTRY`
    the rows report (``energy_per_inference_pj``, ``edp_js`` = energy per inference x latency in
    J*s, ``dram_bytes``, FPGA ``lut``/``dsp``/``bram_18k``, ``bitops``), the energy parts per
    inference and ``macs``.
    """

    accelerator: str
    accel_type: str
    workload: str
    batch: int
    rows: list[dict[str, Any]]
    totals: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accelerator": self.accelerator,
            "type": self.accel_type,
            "workload": self.workload,
            "batch": self.batch,
            "layers": self.rows,
            "totals": self.totals,
            "notes": self.notes,
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    def to_markdown(self) -> str:
        cols = list(TABLE_COLUMNS) + [c for c in FPGA_COLUMNS if c in self.rows[0]]
        head = "| layer | w/a | " + " | ".join(cols) + " |"
        sep = "|---|---|" + "---|" * len(cols)
        lines = [
            f"**{self.accelerator}** ({self.accel_type}) on {self.workload}, batch {self.batch}",
            "",
            head,
            sep,
        ]
        for r in self.rows:
            vals = " | ".join(_fmt(r[c]) for c in cols)
            lines.append(f"| {r['name']} | {r['w_bits']}/{r['a_bits']} | {vals} |")
        lines.append("")
        lines.append("| total | value |")
        lines.append("|---|---|")
        for k, v in self.totals.items():
            lines.append(f"| {k} | {_fmt(v)} |")
        for n in self.notes:
            lines.append(f"\nNote: {n}")
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        """Fixed-width table for a terminal."""
        cols = [
            "cycles",
            "compute_cycles",
            "stall_cycles",
            "utilization",
            "dram_bytes",
            "energy_pj",
        ]
        cols += [c for c in FPGA_COLUMNS if c in self.rows[0]]
        width = max(8, max(len(r["name"]) for r in self.rows) + 1)
        out = [f"{self.accelerator} ({self.accel_type}) | {self.workload} | batch {self.batch}"]
        out.append(f"{'layer':<{width}} {'w/a':>5} " + " ".join(f"{c:>14}" for c in cols))
        for r in self.rows:
            out.append(
                f"{r['name']:<{width}} {str(r['w_bits']) + '/' + str(r['a_bits']):>5} "
                + " ".join(f"{_fmt(r[c]):>14}" for c in cols)
            )
        out.append("totals: " + ", ".join(f"{k}={_fmt(v)}" for k, v in self.totals.items()))
        out.extend(f"note: {n}" for n in self.notes)
        return "\n".join(out)

    def plot(self, path: str | os.PathLike) -> None:
        """PNG: per-layer cycles (compute/stall) and energy split (MAC/SRAM/DRAM/static)."""
        plot_reports([self], path)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e6 or abs(v) < 1e-3:
            return f"{v:.4g}"
        if v == int(v):
            return str(int(v))
        return f"{v:.4g}"
    return str(v)


def simulate(
    workload: Workload, allocation: Allocation, config: AccelConfig, monotone: bool = False
) -> Report:
    """Run every layer of ``workload`` at its allocated bits on ``config``, one layer at a time.

    ``monotone=True``: each layer is costed as the search sees it, in the cheapest mode at least
    as wide as its widths (``cost_tables(..., monotone=True)``); the report says so.
    """
    w, a = allocation.arrays(workload)
    L = workload.arrays()
    model = config.model
    rows: list[dict[str, Any]] = []
    env: dict[str, np.ndarray] = {}
    if monotone:
        ws, as_ = sorted({int(x) for x in w}), sorted({int(x) for x in a})
        env = cost_tables(workload, config, ws, as_, monotone=True)
    for i, lyr in enumerate(workload.layers):
        if monotone:
            iw, ja = ws.index(int(w[i])), as_.index(int(a[i]))
            m = {k: v[i, iw, ja] for k, v in env.items()}
        else:
            m = model.evaluate(L.take(i), np.float64(w[i]), np.float64(a[i]))
        row: dict[str, Any] = {
            "name": lyr.name,
            "w_bits": int(w[i]),
            "a_bits": int(a[i]),
            "macs": int(lyr.macs),
        }
        row.update({k: float(np.asarray(v)) for k, v in m.items()})
        rows.append(row)
    totals = _totals(workload, rows, model.aggregate, model.freq_hz)
    notes = list(model.annotate_totals(totals))
    unsupported = sorted(
        {(int(w[i]), int(a[i])) for i in range(len(w)) if not model.supports(int(w[i]), int(a[i]))}
    )
    if monotone:
        notes.append(
            "monotone costs: each layer in the cheapest mode at least as wide as its widths"
            " (the search's view)"
        )
    if unsupported:
        notes.append(
            "widths "
            + ", ".join(f"{x}/{y}" for x, y in unsupported)
            + " are not native on this accelerator (a search excludes them);"
            " the model pads their compute to a native width"
        )
    return Report(
        config.name, config.type, workload.name, workload.layers[0].batch, rows, totals, notes
    )


def _totals(
    workload: Workload, rows: list[dict[str, Any]], aggregate: str, freq_hz: float
) -> dict[str, float]:
    batch = max(lyr.batch for lyr in workload.layers)
    t: dict[str, float] = {}
    if aggregate == "pipeline":
        cyc = {r["name"]: r["cycles"] for r in rows}
        g = workload.graph
        longest: dict[str, float] = {}
        for n in nx.topological_sort(g):
            longest[n] = cyc[n] + max((longest[p] for p in g.predecessors(n)), default=0.0)
        latency_cycles = max(longest.values())
        ii = max(r["ii_cycles"] for r in rows)
        t["cycles"] = float(latency_cycles)
        t["latency_s"] = latency_cycles / freq_hz
        t["ii_cycles"] = float(ii)
        t["inferences_per_s"] = freq_hz / ii
    else:
        cycles = sum(r["cycles"] for r in rows)
        t["cycles"] = float(cycles)
        t["compute_cycles"] = float(sum(r["compute_cycles"] for r in rows))
        t["stall_cycles"] = float(sum(r["stall_cycles"] for r in rows))
        t["latency_s"] = cycles / freq_hz
        t["inferences_per_s"] = batch / t["latency_s"] if t["latency_s"] > 0 else math.inf
    # every registered metric: energy per inference, EDP, DRAM, FPGA resources, BitOps, ...
    network_totals(rows, batch, t)
    parts = {
        part.replace("_pj", "_per_inference_pj"): sum(r[part] for r in rows) / batch
        for part in ENERGY_PARTS
    }
    out: dict[str, float] = {}
    for k, v in t.items():  # the energy split right after the energy total
        out[k] = v
        if k == "energy_per_inference_pj":
            out.update(parts)
    out.update({k: v for k, v in parts.items() if k not in out})
    out["macs"] = float(sum(r["macs"] for r in rows))
    return out


def plot_reports(reports: list[Report], path: str | os.PathLike) -> None:
    """Side-by-side PNG of one or more reports: per-layer cycles and energy split."""
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    n = len(reports)
    fig, axes = plt.subplots(
        2, n, figsize=(max(6, 0.35 * len(reports[0].rows)) * n, 7), squeeze=False
    )
    colors = {
        "energy_mac_pj": "tab:blue",
        "energy_sram_pj": "tab:orange",
        "energy_dram_pj": "tab:red",
        "energy_static_pj": "tab:gray",
    }
    for k, rep in enumerate(reports):
        names = [r["name"] for r in rep.rows]
        x = np.arange(len(names))
        ax = axes[0, k]
        comp = np.array([r["compute_cycles"] for r in rep.rows])
        stall = np.array([r["stall_cycles"] for r in rep.rows])
        ax.bar(x, comp, label="compute")
        ax.bar(x, stall, bottom=comp, label="stall")
        ax.set_title(f"{rep.accelerator}: cycles per layer")
        ax.set_ylabel("cycles")
        ax.set_xticks(x, names, rotation=90, fontsize=7)
        ax.legend(fontsize=8)
        ax = axes[1, k]
        bottom = np.zeros(len(names))
        for part, c in colors.items():
            vals = np.array([r[part] for r in rep.rows]) * 1e-6
            ax.bar(
                x,
                vals,
                bottom=bottom,
                color=c,
                label=part.replace("energy_", "").replace("_pj", ""),
            )
            bottom += vals
        ax.set_ylabel("energy (uJ)")
        ax.set_title(f"{rep.accelerator}: energy per layer")
        ax.set_xticks(x, names, rotation=90, fontsize=7)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
