"""Fixed-point R x C systolic array (SCALE-Sim 3.0.0 compute model), dataflow os | ws | is.

Compute cycles follow SCALE-Sim's fold model. With the GEMM mapping (Sr, Sc, T):
os (P, M, K), ws (K, M, P), is (K, P, M), where P = batch x output pixels, K = kh x kw x C/groups,
M = output channels per group, folds Fr = ceil(Sr/R), Fc = ceil(Sc/C), one GEMM run takes

    os:     Fr*Fc*(T + R + C - 2) - 1
    ws, is: Fr*Fc*(T + 2R + C - 2) - 1      (R extra cycles to preload the stationary operand)

cycles (folds do not overlap). A grouped / depthwise layer runs one GEMM per group, as SCALE-Sim
splits a ``DP`` layer into one single-channel layer per channel, so its cycles are the sum of the
per-group runs. Validated exactly against SCALE-Sim 3.0.0 on every layer of
``bench/data/scalesim_reference.csv`` (``tests/test_systolic.py``).

``array.weight_preload: overlapped`` models an array that double-buffers its stationary operand
in the PEs (TPU v1 shifts the next weight tile in while the current one computes; Jouppi et al.,
ISCA 2017): the 2R-cycle preload and the fill/drain of each fold then hide behind the previous
fold, so a run takes ``R + Fr*Fc*max(T, R) + R + C - 2`` cycles (first preload, the folds, one
drain). The default ``serial`` is SCALE-Sim's and stays exact against it.

Precision: the datapath is ``native_bits`` wide. Narrower operands do not speed compute (they are
zero-extended) but shrink memory traffic; wider operands take ceil(w/native_w)*ceil(a/native_a)
passes, each a full run of the layer's GEMMs.

Memory (bits; operands packed at their width in DRAM and SRAM). Inputs are charged the pixels
the kernel touches (a 1x1 stride-2 layer reads a quarter of its input, as SCALE-Sim counts).
Weight and input traffic follow from buffer capacity and the fold order (see
:func:`dram_bits`): the operand the array sweeps once per column fold (ws, os: the input; is:
the weights) is fetched once when it fits its buffer half (double-buffered) and re-fetched on
every column fold when it does not, unless tiling the streamed T loop (the resident operand then
swept once per tile) is cheaper; os picks the cheaper of its two fold orders. Outputs leave once
at their width; when the reduction is split over row folds (ws, is) and one column fold's
partial sums (T x C words of ``psum_bits``) do not fit the output buffer's half, they spill to
DRAM and come back on every row fold but the last, or T is tiled so that they fit: the cheapest
schedule is charged. SCALE-Sim's USER mode moves far more (``bench/scalesim_reference.py
--mode user``): its DRAM counts are entries of the im2col operand matrices with the null padding
of partial folds, partial sums are written on every row fold and never read back, a refill is
charged a whole buffer half however little it brings, and its circular prefetch window re-reads
the whole operand when a fold asks for a line just behind it; none of these is modelled.
Time: with ``overlap: max`` transfers overlap compute
(double buffering), so a layer waits ``max(fill, memory - compute)`` cycles, ``fill`` being the
first input tile plus, for ws, the first fold's R x C weights (ZigZag's "onloading"); ``dram.ports: per_operand`` gives each operand its own interface
of ``bw_bits_per_cycle`` (SCALE-Sim's USER mode) instead of one shared one.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from ..components import (
    Energy,
    Memory,
    Tech,
    assemble,
    mac_energy_pj,
)
from ..section import Section
from ..workload import LayerArrays
from .base import Accelerator, register


class Array(Section):
    rows: int = Field(ge=1, description="PE rows R")
    cols: int = Field(ge=1, description="PE columns C")
    dataflow: Literal["os", "ws", "is"]
    weight_preload: Literal["serial", "overlapped"] = Field(
        default="serial",
        description="serial: SCALE-Sim's per-fold preload; overlapped: double-buffered in the PEs",
    )


class NativeBits(Section):
    w: int = Field(ge=1, le=32)
    a: int = Field(ge=1, le=32)


class SystolicParams(Section):
    name: str | None = None
    description: str | None = None
    tech: Tech
    array: Array
    native_bits: NativeBits
    memory: Memory
    energy: Energy
    dram_ports: Literal["shared", "per_operand"] = Field(
        default="shared",
        description="one DRAM interface for all operands, or one each (SCALE-Sim USER mode)",
    )


def fold_cycles(
    sr: np.ndarray, sc: np.ndarray, t: np.ndarray, rows: int, cols: int, dataflow: str
) -> np.ndarray:
    """SCALE-Sim 3.0.0 compute cycles of one GEMM mapped as (Sr, Sc, T) on an R x C array.

    Sr, Sc, T are element counts (see :func:`gemm_mapping`); the result is in cycles.
    """
    fr = np.ceil(sr / rows)
    fc = np.ceil(sc / cols)
    overhead = rows + cols - 2 if dataflow == "os" else 2 * rows + cols - 2
    return fr * fc * (t + overhead) - 1


def overlapped_fold_cycles(
    sr: np.ndarray, sc: np.ndarray, t: np.ndarray, rows: int, cols: int, dataflow: str
) -> np.ndarray:
    """Cycles of one GEMM when the array double-buffers its stationary operand (ws, is): the
    first preload (R), then each fold takes max(T, R) (the next tile shifts in meanwhile), then
    one drain (R + C - 2). os has nothing to preload and keeps SCALE-Sim's count."""
    if dataflow == "os":
        return fold_cycles(sr, sc, t, rows, cols, dataflow)
    fr = np.ceil(sr / rows)
    fc = np.ceil(sc / cols)
    return rows + fr * fc * np.maximum(t, rows) + rows + cols - 2


def sram_access_words(
    sr: np.ndarray, sc: np.ndarray, t: np.ndarray, rows: int, cols: int, dataflow: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ifmap reads, filter reads, ofmap writes) of one GEMM in words, SCALE-Sim 3.0.0's counts
    without its os counting artefact (checked against its DETAILED_ACCESS_REPORT in
    ``tests/test_systolic.py``)."""
    fr, fc = np.ceil(sr / rows), np.ceil(sc / cols)
    if dataflow == "os":
        return fc * sr * t, fr * sc * t, sr * sc
    if dataflow == "ws":
        return fc * sr * t, sr * sc, fr * t * sc
    return sr * sc, fc * t * sr, fr * t * sc


def ifmap_read_elements(L: LayerArrays) -> np.ndarray:
    """Input elements a layer reads: along each axis every row/column when the kernel is at least
    the stride, else only the ``out x kernel`` ones the windows touch (1x1 stride 2: a quarter)."""

    def touched(n_in: np.ndarray, n_out: np.ndarray, k: np.ndarray, s: np.ndarray) -> np.ndarray:
        return np.where(k < s, np.minimum(n_out * k, n_in), n_in)

    return (
        L.batch
        * L.cin
        * touched(L.in_h, L.out_h, L.kh, L.sh)
        * touched(L.in_w, L.out_w, L.kw, L.sw)
    )


def _steps(x: np.ndarray, tile: float, factor: np.ndarray) -> np.ndarray:
    """``factor`` where an operand of ``x`` bits overflows a buffer half of ``tile`` bits, else 1."""
    return np.where(x > tile, factor, 1.0)


def dram_bits(
    L: LayerArrays, w: np.ndarray, a: np.ndarray, mem: Memory, rows: int, cols: int, dataflow: str
) -> dict[str, np.ndarray]:
    """DRAM traffic of one layer in bits: ``weight_rd``, ``ifmap_rd``, ``psum_rd`` (spilled
    partial sums read back), ``ofmap_wr`` (outputs plus spilled partial sums) and ``fill`` (the
    first input tile and, for ws, the first fold's weights: what must arrive before compute
    starts).

    Operands are packed at their widths (``w``, ``a`` bits). The array runs its folds column fold
    outer, row fold inner, as the compute model counts them (Samajdar et al., SCALE-Sim, ISPASS
    2020). Re-fetch follows from buffer capacity, per group (a grouped layer runs one GEMM per
    group with its own slice of both operands):

    - the *streamed* operand (ws, os: the input; is: the weights, T = M streaming every output
      channel) is swept once per column fold: fetched once when it fits its buffer half
      (``tile_bits``), otherwise re-fetched on every column fold (a double-buffered half streams
      it; nothing of it survives to the next sweep);
    - the *resident* operand (ws: each fold's R x C weights; is: each R x C input tile) is loaded
      once per fold;
    - ws, is: the T loop may be tiled into n pieces so that a piece of the streamed operand fits
      its half (then it is fetched once) or so that one column fold's partial sums (T/n x C
      words of ``psum_bits``) fit the output buffer's half; the resident operand is then swept
      once per piece, re-fetched per piece unless it fits its half. Without tiling, partial
      sums that do not fit spill to DRAM and come back on every row fold but the last. The
      cheapest n is charged (the minimum over every n lies at 1 or a capacity breakpoint);
    - os (no partial sums): one column fold's K x C weights serve every row fold in turn,
      re-fetched per row fold when they do not fit; the other order (row fold outer, the
      weights swept per row fold, a row fold's input kept) is as legal; the cheaper is charged.

    For a given schedule (fold order, n) every term is a step up in the operand's bits, and the
    candidates tried reach the minimum over every n in 1..T (between breakpoints the cost only
    grows with n), a set that does not depend on the widths: the total is non-decreasing in
    both widths (``tests/test_systolic.py`` checks it on random layers and buffers).
    """
    wb = L.weights * w
    ib = ifmap_read_elements(L) * a
    out_bits = a if mem.output_bits == "a" else mem.psum_bits
    ob = L.ofmap * out_bits
    wt, it, ot = (
        mem.weight_buffer.tile_bits,
        mem.input_buffer.tile_bits,
        mem.output_buffer.tile_bits,
    )
    g = L.groups
    sr, sc, t = gemm_mapping(L, dataflow)
    fr, fc = np.ceil(sr / rows), np.ceil(sc / cols)
    shape = np.broadcast_shapes(np.shape(wb), np.shape(ib), np.shape(ob))
    zero = np.zeros(shape)
    if dataflow == "os":
        # column fold outer (a column fold's weights kept across the row folds) or row fold
        # outer (a row fold's input kept across the column folds)
        col_w, col_i = wb * _steps(wb / g / fc, wt, fr), ib * _steps(ib / g, it, fc)
        row_w, row_i = wb * _steps(wb / g, wt, fr), ib * _steps(ib / g / fr, it, fc)
        col = col_w + col_i <= row_w + row_i
        weight_rd, ifmap_rd, psum_rd = (
            np.where(col, col_w, row_w),
            np.where(col, col_i, row_i),
            zero,
        )
    else:
        # streamed operand s, resident operand r (bits, all groups) and their buffer halves
        s_b, s_t, r_b, r_t = (ib, it, wb, wt) if dataflow == "ws" else (wb, wt, ib, it)
        live = t * np.minimum(sc, cols) * mem.psum_bits  # one column fold's partial sums
        spill = g * (fr - 1) * t * sc * mem.psum_bits  # written and read back once each
        best = None
        for n in (
            np.ones(shape),
            np.ceil(s_b / g / s_t),
            np.ceil(live / ot),
            np.maximum(np.ceil(s_b / g / s_t), np.ceil(live / ot)),
        ):
            n = np.clip(n, 1.0, t) + zero
            s_rd = s_b * _steps(s_b / g / n, s_t, fc)
            r_rd = r_b * _steps(r_b / g, r_t, n)
            p_rd = np.where((fr > 1) & (live / n > ot), spill, zero)
            cost = s_rd + r_rd + 2 * p_rd
            if best is None:
                best = [cost, s_rd, r_rd, p_rd]
            else:
                take = cost < best[0]
                best = [
                    np.where(take, new, old) for new, old in zip((cost, s_rd, r_rd, p_rd), best)
                ]
        _, s_rd, r_rd, psum_rd = best  # type: ignore[misc]
        ifmap_rd, weight_rd = (s_rd, r_rd) if dataflow == "ws" else (r_rd, s_rd)
    # before compute starts, the first input tile (a buffer half, or the whole input when it
    # fits) and the first fold's stationary weights (ws: R x C) must be on chip; later tiles
    # arrive under double buffering while earlier ones compute
    fill = np.minimum(ib, it) + zero
    if dataflow == "ws":
        fill = fill + np.minimum(rows * cols, L.weights / L.groups) * w
    return {
        "weight_rd": weight_rd,
        "ifmap_rd": ifmap_rd,
        "psum_rd": psum_rd,
        "ofmap_wr": ob + psum_rd,
        "fill": fill,
    }


def gemm_mapping(L: LayerArrays, dataflow: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Sr, Sc, T) of one group of a layer under a dataflow (element counts).

    Sr is spread over the array rows, Sc over the columns, T is streamed in time.
    """
    p = L.batch * L.out_pixels
    k = L.reduction
    m = L.cout / L.groups
    if dataflow == "os":
        return p, m, k
    if dataflow == "ws":
        return k, m, p
    return k, p, m


@register("systolic")
class Systolic(Accelerator):
    Params = SystolicParams

    @property
    def freq_hz(self) -> float:
        return self.params.tech.freq_mhz * 1e6

    def supports(self, w_bits: int, a_bits: int) -> bool:
        nb = self.params.native_bits
        return w_bits <= nb.w and a_bits <= nb.a

    def stall_from_traffic(self, compute: np.ndarray, d: dict[str, np.ndarray]) -> np.ndarray:
        """Cycles waiting for DRAM given a layer's traffic ``d`` in bits (keys as returned by
        :func:`dram_bits`): ``max(fill, memory - compute)`` under double buffering (``overlap:
        max``); ``sum`` stalls for all memory time, ``stall_free`` for none."""
        mem = self.params.memory
        bw = mem.dram.bw_bits_per_cycle
        if self.params.dram_ports == "per_operand":
            bits = np.maximum(
                np.maximum(d["weight_rd"], d["ifmap_rd"] + d["psum_rd"]), d["ofmap_wr"]
            )
        else:
            bits = d["weight_rd"] + d["ifmap_rd"] + d["psum_rd"] + d["ofmap_wr"]
        mem_cycles = bits / bw
        if mem.overlap == "stall_free":
            return np.zeros(np.broadcast(compute, mem_cycles).shape)
        if mem.overlap == "sum":
            return np.ceil(mem_cycles)
        fill = np.minimum(d["fill"] / bw, mem_cycles)
        return np.ceil(np.maximum(fill, mem_cycles - compute))

    def evaluate(self, L: LayerArrays, w: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
        p = self.params
        R, C, df = p.array.rows, p.array.cols, p.array.dataflow
        passes = np.ceil(w / p.native_bits.w) * np.ceil(a / p.native_bits.a)
        sr, sc, t = gemm_mapping(L, df)
        # one SCALE-Sim run per group and per pass over the operand bits
        runs = overlapped_fold_cycles if p.array.weight_preload == "overlapped" else fold_cycles
        compute = L.groups * passes * runs(sr, sc, t, R, C, df)
        # SRAM accesses in elements (SCALE-Sim's counts), then bits
        g = L.groups
        ifmap_rd, filt_rd, ofmap_wr = sram_access_words(sr, sc, t, R, C, df)
        mem = p.memory
        d = dram_bits(L, w, a, mem, R, C, df)
        dram_rd = d["weight_rd"] + d["ifmap_rd"] + d["psum_rd"]
        dram_wr = d["ofmap_wr"]
        stall = self.stall_from_traffic(compute, d)
        sram_rd = g * passes * (ifmap_rd * a + filt_rd * w) + d["psum_rd"]
        sram_wr_out = g * passes * ofmap_wr * mem.psum_bits
        # buffers are filled from DRAM and the output buffer drains to it
        sram_wr = sram_wr_out + dram_rd
        e_sram = (
            g
            * passes
            * (
                ifmap_rd * a * mem.input_buffer.read_pj_per_bit
                + filt_rd * w * mem.weight_buffer.read_pj_per_bit
            )
            + sram_wr_out * mem.output_buffer.write_pj_per_bit
            + (dram_wr + d["psum_rd"]) * mem.output_buffer.read_pj_per_bit
            + d["ifmap_rd"] * mem.input_buffer.write_pj_per_bit
            + d["weight_rd"] * mem.weight_buffer.write_pj_per_bit
        )
        nb = p.native_bits
        out = assemble(
            L=L,
            w=w,
            a=a,
            compute_cycles=compute,
            stall=stall,
            peak_macs_per_cycle=np.float64(R * C) / passes,
            dram_read_bits=dram_rd,
            dram_write_bits=dram_wr,
            sram_read_bits=sram_rd,
            sram_write_bits=sram_wr,
            e_sram_pj=e_sram,
            energy=p.energy,
            dram=mem.dram,
            freq_hz=self.freq_hz,
            # the datapath is native-width: each MAC pass costs a native MAC whatever the width
            e_mac_pj=mac_energy_pj(
                p.energy, L.macs * passes, compute, np.float64(nb.w), np.float64(nb.a)
            ),
        )
        return out
