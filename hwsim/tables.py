"""Cost tables: every metric for every layer at every (weight bits, activation bits) pair.

Two views of the same model:

* **raw** (``monotone=False``, the default): the simulator's value at exactly ``(w, a)``, the
  same number :func:`hwsim.simulate` reports. It can fall when a width rises (a 1-bit operand
  padded to the 2-bit mode with a worse tiling, a wider width that happens to divide the array
  better), as the published simulators do too (e.g. Bit Fusion, ``hsharma35/bitfusion``).
* **monotone** (``monotone=True``): hardware that runs ``w'``-bit weights and ``a'``-bit
  activations also runs any narrower operand (sign- or zero-extended), so a ``(w, a)`` layer costs
  at most the cheapest mode ``(w', a')`` with ``w' >= w`` and ``a' >= a``. The envelope is taken over
  every integer width up to the hardware's widest native mode (``Accelerator.widest_mode``: Bit
  Fusion's Fusion Unit width, 8 bits; ``MODE_MAX_BITS`` = 16 for kinds without such a limit) or
  the widest candidate if that is wider -- not only over the candidates asked for -- so
  candidates ``[2, 4]`` still see a 3-bit or 8-bit mode that happens to be cheaper. Widths the
  hardware does not run natively are included with the value its model gives them (padded to a
  native width), which is the cost of executing that width anyway. Widths above the widest native
  mode are not modes but several passes of it: on Bit Fusion a 9-bit "mode" can come out cheaper
  in energy than every 8-bit one only because its doubled compute time makes the fewest-cycles
  tiling rule pick a tiling with less traffic (ResNet-50 layer4.1.conv1 on
  ``bitfusion_stripes_cmp``: 0.44 vs 3.29 mJ at 8/6, ``bench/bitfusion_multipass.py``), which
  says nothing about a mode. So they
  never lower a native pair's cost, and when candidates wider than the native modes are asked for,
  such a width costs at least the widest native mode it needs (:func:`floor_multipass`): a pair's
  cost does not depend on which other candidates are asked for.

Kinds whose hardware is generated for the exact widths (``fpga_dataflow``, a pipelined
dataflow design: the emitted firmware *is* the simulated design) have no wider mode to fall back
on -- costing a 3-bit layer as a 9-bit DSP design would price firmware that is never emitted, and
LUT and DSP counts trade against each other across widths -- so their monotone view is the raw
table (:func:`runs_in_modes` says which kinds have modes).

Metric groups in the monotone view. Latency parts (``cycles``, ``compute_cycles``,
``stall_cycles``, ``latency_s``, ``utilization``) are all taken from the one mode with the fewest
``cycles``, so ``cycles = compute + stall`` still holds; the energy parts likewise from the mode
with the least ``energy_pj``. The totals are monotone, their parts need not be (a cheaper mode may
stall more while computing less). Every other cost (``dram_bytes``, ``sram_bits``, ``bitops``, FPGA
``lut``, ``dsp``, ``bram_18k``, ``ii_cycles``) is its own minimum, since the search optimises one
metric at a time. Design descriptors that are not costs (an FPGA's ``reuse_factor``,
``resource_strategy``) stay raw. A composite such as energy-delay product is computed by its user
from the monotone energy and latency; the product of two non-negative non-decreasing tables is
non-decreasing. It can take energy and latency from different modes, so it is a lower bound on the
EDP of any one mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import numpy as np

from .config import AccelConfig
from .errors import HwsimError
from .workload import LayerArrays, Workload

MODE_MAX_BITS = 16
"""Widest operand (bits) considered as an execution mode for the monotone envelope of a kind
without a widest native mode (``Accelerator.widest_mode() is None``)."""

# primary key -> the keys taken from the mode that minimises it
MODE_GROUPS: dict[str, tuple[str, ...]] = {
    "cycles": ("cycles", "compute_cycles", "stall_cycles", "latency_s", "utilization"),
    "energy_pj": (
        "energy_pj",
        "energy_mac_pj",
        "energy_sram_pj",
        "energy_dram_pj",
        "energy_static_pj",
    ),
}
NOT_COSTS = ("reuse_factor", "resource_strategy")
"""Keys that describe a design rather than cost it: left raw in the monotone view."""


def _bits_array(bits: Sequence[int], label: str) -> np.ndarray:
    arr = np.asarray(list(bits), dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or np.any(arr < 1) or np.any(arr != np.round(arr)):
        raise HwsimError(
            f"{label}: expected a non-empty list of positive integer bit-widths, got {list(bits)}"
        )
    return arr


def _distinct_layers(L: LayerArrays, names_matter: bool) -> tuple[LayerArrays, np.ndarray]:
    """The distinct layers of ``L`` (every field equal, the name too when ``names_matter``), in
    order of first appearance, and the index of each layer's distinct one."""
    n = len(L)
    if names_matter and len(set(np.asarray(L.names).ravel().tolist())) == n:
        return L, np.arange(n)
    cols = []
    for f in fields(L):
        v = np.asarray(getattr(L, f.name))
        if v.dtype.kind in "OUS":  # text (the names): compared by value
            if f.name != "names" or names_matter:
                cols.append(np.unique(v.astype(str), return_inverse=True)[1].ravel())
        else:
            cols.append(v.astype(np.float64).ravel())
    _, first, inv = np.unique(
        np.stack(cols, axis=1), axis=0, return_index=True, return_inverse=True
    )
    order = np.argsort(first)
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    keep = first[order]
    return LayerArrays(**{f.name: getattr(L, f.name)[keep] for f in fields(L)}), pos[inv.ravel()]


def _raw(workload: Workload, config: AccelConfig, w: np.ndarray, a: np.ndarray):
    """Raw tables ``{metric: [L, nW, nA]}``; a model evaluates each distinct layer once
    (ResNet-50 has 54 layers of 24 shapes)."""
    L, inv = _distinct_layers(workload.arrays(), config.model.layer_names_matter())
    out = config.model.evaluate(L.reshape((len(L), 1, 1)), w.reshape(1, -1, 1), a.reshape(1, 1, -1))
    shape = (len(L), w.size, a.size)
    out = {k: v if v.shape == shape else np.broadcast_to(v, shape) for k, v in out.items()}
    return {k: v[inv] for k, v in out.items()}


def _suffix_min(t: np.ndarray) -> np.ndarray:
    """``out[l, i, j] = min(t[l, i:, j:])``."""
    r = np.minimum.accumulate(t[:, ::-1, :], axis=1)[:, ::-1, :]
    return np.minimum.accumulate(r[:, :, ::-1], axis=2)[:, :, ::-1]


def _suffix_argmin(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i', j')``, ``i' >= i``, ``j' >= j``, of ``min(t[l, i:, j:])``; ties go to the
    narrowest mode (the pair itself when it is a cheapest one)."""
    nl, nw, na = t.shape
    # along activations, then along weights
    val = t.copy()
    ja = np.broadcast_to(np.arange(na), t.shape).copy()
    for j in range(na - 2, -1, -1):
        take = val[:, :, j + 1] < val[:, :, j]
        val[:, :, j] = np.where(take, val[:, :, j + 1], val[:, :, j])
        ja[:, :, j] = np.where(take, ja[:, :, j + 1], ja[:, :, j])
    iw = np.broadcast_to(np.arange(nw)[None, :, None], t.shape).copy()
    for i in range(nw - 2, -1, -1):
        take = val[:, i + 1, :] < val[:, i, :]
        val[:, i, :] = np.where(take, val[:, i + 1, :], val[:, i, :])
        iw[:, i, :] = np.where(take, iw[:, i + 1, :], iw[:, i, :])
        ja[:, i, :] = np.where(take, ja[:, i + 1, :], ja[:, i, :])
    return iw, ja


def monotone_envelope(tables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Monotone view of raw tables ``[L, nW, nA]`` laid out on consecutive widths (see module doc).

    The widths of axis 1 and 2 must each be a run of consecutive integers ending at the widest
    mode; entry ``[l, i, j]`` becomes the cost of the cheapest mode at or above ``(i, j)``.
    """
    out: dict[str, np.ndarray] = {}
    grouped: set[str] = set()
    for primary, keys in MODE_GROUPS.items():
        if primary not in tables:
            continue
        iw, ja = _suffix_argmin(tables[primary])
        li = np.arange(iw.shape[0])[:, None, None]
        for k in keys:
            if k in tables:
                out[k] = tables[k][li, iw, ja]
                grouped.add(k)
    for k, t in tables.items():
        if k in grouped:
            continue
        out[k] = t.copy() if k in NOT_COSTS else _suffix_min(t)
    return out


def floor_multipass(tables: dict[str, np.ndarray], kw: int, ka: int) -> dict[str, np.ndarray]:
    """Raw tables ``[L, nW, nA]`` on consecutive widths whose first ``kw`` weight and ``ka``
    activation widths are native modes, the rest several passes of the widest native mode: a
    multi-pass entry costs at least the monotone cost of the widest native mode it needs (the
    entry clamped into the native block). A grouped total below it takes that mode's parts with
    it (see ``MODE_GROUPS``). Native entries are unchanged, so the envelope of the result equals
    the native block's own envelope there, whatever the widest width in the grid."""
    native = monotone_envelope({k: v[:, :kw, :ka] for k, v in tables.items()})
    nw, na = next(iter(tables.values())).shape[1:]
    ci = np.minimum(np.arange(nw), kw - 1)[:, None]
    cj = np.minimum(np.arange(na), ka - 1)[None, :]
    floor = {k: v[:, ci, cj] for k, v in native.items()}  # [L, nW, nA]
    out = {k: v.copy() for k, v in tables.items()}
    grouped: set[str] = set()
    for primary, keys in MODE_GROUPS.items():
        if primary not in tables:
            continue
        low = tables[primary] < floor[primary]
        for k in keys:
            if k in tables:
                out[k][low] = floor[k][low]
                grouped.add(k)
    for k in tables:
        if k not in grouped and k not in NOT_COSTS:
            np.maximum(out[k], floor[k], out=out[k])
    return out


def runs_in_modes(config: AccelConfig) -> bool:
    """Whether ``config``'s hardware is fixed and runs a narrower operand in a wider mode (every
    layer-by-layer kind), rather than being generated for the exact widths (a pipelined FPGA
    dataflow design, whose monotone view is therefore its raw table)."""
    return config.model.aggregate != "pipeline"


def mode_top(config: AccelConfig, widest_candidate: int) -> int:
    """Widest mode (bits, both operands) of the monotone envelope: the hardware's widest native
    mode when no candidate is wider, else (and for a model without one) ``MODE_MAX_BITS`` or
    ``widest_candidate`` if that is wider."""
    native = config.model.widest_mode()
    if native is not None and widest_candidate <= native:
        return int(native)
    return max(MODE_MAX_BITS, int(widest_candidate))


def cost_tables(
    workload: Workload,
    config: AccelConfig,
    w_bits: Sequence[int],
    a_bits: Sequence[int],
    monotone: bool = False,
) -> dict[str, np.ndarray]:
    """``{metric: ndarray[L, nW, nA]}``: per-layer costs of ``workload`` on ``config``.

    Raw (default): entry ``[l, i, j]`` is layer ``l`` run at ``w_bits[i]`` weight and
    ``a_bits[j]`` activation bits, exactly what :func:`hwsim.simulate` reports for that layer at
    that pair. ``monotone=True``: the cost of the cheapest mode able to run that pair (at least as
    wide in both operands, up to :func:`mode_top` bits), so no metric ever
    falls when an operand gets wider (raw for hardware generated per width, see
    :func:`runs_in_modes`). Units are the metrics' own (cycles, s, pJ, bytes, ...).
    """
    w = _bits_array(w_bits, "w_bits")
    a = _bits_array(a_bits, "a_bits")
    if not monotone or not runs_in_modes(config):
        return _raw(workload, config, w, a)
    native = config.model.widest_mode()
    top = mode_top(config, max(int(w.max()), int(a.max())))
    multipass = native is not None and top > native
    w0, a0 = int(w.min()), int(a.min())
    if multipass:  # the grid holds the widest native mode
        w0, a0 = min(w0, native), min(a0, native)
    gw = np.arange(w0, top + 1, dtype=np.float64)
    ga = np.arange(a0, top + 1, dtype=np.float64)
    raw = _raw(workload, config, gw, ga)
    if multipass:
        raw = floor_multipass(raw, native - w0 + 1, native - a0 + 1)
    env = monotone_envelope(raw)
    iw = (w - w0).astype(np.int64)
    ja = (a - a0).astype(np.int64)
    return {k: v[:, iw][:, :, ja] for k, v in env.items()}
