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
Weight and input traffic: compulsory when an operand fits its (half, if double-buffered) buffer,
otherwise the better of two loop orders re-reads one operand once per tile of the other. Outputs
leave once at their width; when the reduction is split over row folds (ws, is) and one column
fold's partial sums (T x C words of ``psum_bits``) do not fit the output buffer's tile, the
cheaper of two schedules is charged: every row fold but the last spills them to DRAM and reads
them back, or T is tiled to fit and the weights are re-read once per T tile (free when they fit
their buffer). (SCALE-Sim writes ws/is partial sums to DRAM on every row fold whatever the
buffer size.) Time: with ``overlap: max`` transfers overlap compute
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


def dram_bits(
    L: LayerArrays, w: np.ndarray, a: np.ndarray, mem: Memory, rows: int, cols: int, dataflow: str
) -> dict[str, np.ndarray]:
    """DRAM traffic of one layer in bits: ``weight_rd``, ``ifmap_rd``, ``psum_rd`` (spilled
    partial sums read back), ``ofmap_wr`` (outputs plus spilled partial sums) and ``fill`` (the
    first input tile and, for ws, the first fold's weights: what must arrive before compute
    starts)."""
    wb = L.weights * w
    ib = ifmap_read_elements(L) * a
    out_bits = a if mem.output_bits == "a" else mem.psum_bits
    ob = L.ofmap * out_bits
    wt, it = mem.weight_buffer.tile_bits, mem.input_buffer.tile_bits
    w_tiles, i_tiles = np.ceil(wb / wt), np.ceil(ib / it)
    # weights outer (inputs re-read per weight tile) or inputs outer (weights per input tile)
    w_outer_i = ib * np.where(i_tiles > 1, w_tiles, 1.0)
    i_outer_w = wb * np.where(w_tiles > 1, i_tiles, 1.0)
    w_first = wb + w_outer_i <= ib + i_outer_w
    weight_rd = np.where(w_first, wb, i_outer_w)
    ifmap_rd = np.where(w_first, w_outer_i, ib)
    # a reduction split over row folds (ws, is) keeps one column fold's partial sums (T x C) live
    # in the output buffer; when they overflow its tile, either they spill to DRAM and come back
    # on every row fold but the last, or T is tiled to fit and the weights are re-read per T tile
    # (free when they fit their buffer): the cheaper of the two
    zero = np.zeros(np.broadcast_shapes(np.shape(wb), np.shape(ob)))
    psum_rd = zero
    if dataflow != "os":
        sr, sc, t = gemm_mapping(L, dataflow)
        fr = np.ceil(sr / rows)
        live = t * np.minimum(sc, cols) * mem.psum_bits
        overflow = (fr > 1) & (live > mem.output_buffer.tile_bits)
        spill = L.groups * (fr - 1) * t * sc * mem.psum_bits
        t_tiles = np.ceil(live / mem.output_buffer.tile_bits)
        reload = np.where(wb > wt, (t_tiles - 1) * wb, 0.0)
        use_spill = overflow & (2 * spill < reload)
        psum_rd = np.where(use_spill, spill, zero)
        weight_rd = weight_rd + np.where(overflow & ~use_spill, reload, zero)
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
