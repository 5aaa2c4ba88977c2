"""Plots for reports (PNG, matplotlib, written atomically): allocations, cost breakdowns, Pareto fronts."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hwsim.allocation import Allocation  # noqa: E402
from hwsim.fileio import atomic_write_bytes  # noqa: E402


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_allocation(
    alloc: Allocation, names: Sequence[str], path: str | os.PathLike, title: str = ""
) -> None:
    """Per-layer weight and activation bits as grouped bars (as the EdMIPS paper shows allocations).

    Float layers (kept unquantized in the network) are hatched.
    """
    x = np.arange(len(names))
    w = [alloc.bits[n][0] for n in names]
    a = [alloc.bits[n][1] for n in names]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names)), 3.6))
    bw = ax.bar(x - 0.2, w, 0.4, label="weight bits", color="tab:blue")
    ba = ax.bar(x + 0.2, a, 0.4, label="activation bits", color="tab:orange")
    for i, n in enumerate(names):
        if n in alloc.float_layers:
            bw[i].set_hatch("//")
            ba[i].set_hatch("//")
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    ax.set_ylabel("bits")
    ax.set_ylim(0, max(w + a) + 1)
    ax.set_title(title or "per-layer bit allocation (hatched: float layer, costed at these bits)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_bit_probabilities(
    log: Sequence[dict], path: str | os.PathLike, title: str = "", max_layers: int = 24
) -> None:
    """Each searched layer's bit probabilities over the search epochs (one small panel per layer,
    weights solid, activations dashed), as the EdMIPS paper's figures show them.

    ``log``: the records of ``search_log.jsonl`` (with ``pw``/``pa``: layer -> probabilities).
    Layers beyond ``max_layers`` are left out (the title says so).
    """
    recs = [r for r in log if "pw" in r]
    if not recs:
        raise ValueError("search log has no per-layer probabilities (pw/pa)")
    layers = list(recs[-1]["pw"])
    shown = layers[:max_layers]
    cfg = recs[-1].get("candidates", {})
    ep = [r["epoch"] for r in recs]
    cols = min(4, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.0 * cols, 2.2 * rows), squeeze=False, sharex=True, sharey=True
    )
    for k, name in enumerate(shown):
        ax = axes[k // cols][k % cols]
        pw = np.asarray([r["pw"][name] for r in recs])
        pa = np.asarray([r["pa"][name] for r in recs])
        wl = cfg.get("w_bits", list(range(1, pw.shape[1] + 1)))
        al = cfg.get("a_bits", list(range(1, pa.shape[1] + 1)))
        for i in range(pw.shape[1]):
            ax.plot(ep, pw[:, i], "-", color=f"C{i}", label=f"w{wl[i]}")
        for j in range(pa.shape[1]):
            ax.plot(ep, pa[:, j], "--", color=f"C{j + 5}", label=f"a{al[j]}")
        ax.set_title(f"layer {name}", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=6, ncol=2)
    for k in range(len(shown), rows * cols):
        axes[k // cols][k % cols].axis("off")
    extra = f" (first {max_layers} of {len(layers)} layers)" if len(layers) > max_layers else ""
    fig.suptitle((title or "bit probabilities over search epochs") + extra, fontsize=9)
    fig.supxlabel("epoch", fontsize=8)
    _save(fig, path)


@dataclass
class Point:
    """One network on an accuracy-vs-cost plot."""

    label: str
    kind: str  # "searched" | "uniform" | "bitops" | other
    accuracy: float
    cost: float


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """Points not dominated by any other (lower cost and higher accuracy are better)."""
    ordered = sorted(points, key=lambda p: (p.cost, -p.accuracy))
    front: list[Point] = []
    best = -np.inf
    for p in ordered:
        if p.accuracy > best:
            front.append(p)
            best = p.accuracy
    return front


_STYLE = {"searched": ("o", "tab:red"), "uniform": ("s", "tab:blue"), "bitops": ("^", "tab:green")}


def plot_accuracy_vs_cost(
    points: Sequence[Point],
    path: str | os.PathLike,
    xlabel: str,
    title: str = "",
    front: bool = True,
) -> None:
    """Scatter of accuracy against a cost, one marker style per kind, with the Pareto front."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for kind in dict.fromkeys(p.kind for p in points):
        pts = [p for p in points if p.kind == kind]
        marker, color = _STYLE.get(kind, ("x", "tab:gray"))
        ax.scatter(
            [p.cost for p in pts],
            [p.accuracy * 100 for p in pts],
            marker=marker,
            color=color,
            label=kind,
            zorder=3,
        )
        for p in pts:
            ax.annotate(
                p.label,
                (p.cost, p.accuracy * 100),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    if front and len(points) > 1:
        f = pareto_front(points)
        ax.step(
            [p.cost for p in f],
            [p.accuracy * 100 for p in f],
            where="post",
            color="black",
            lw=0.8,
            ls="--",
            label="Pareto front",
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
