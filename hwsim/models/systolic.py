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

Precision: the datapath is ``native_bits`` wide. Narrower operands do not speed compute (they are
zero-extended) but shrink memory traffic; wider operands take ceil(w/native_w)*ceil(a/native_a)
passes, each a full run of the layer's GEMMs.
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
    dram_traffic_bits,
    mac_energy_pj,
    stall_cycles,
)
from ..config import Section
from ..workload import LayerArrays
from .base import Accelerator, register


class Array(Section):
    rows: int = Field(ge=1, description="PE rows R")
    cols: int = Field(ge=1, description="PE columns C")
    dataflow: Literal["os", "ws", "is"]


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

    def evaluate(self, L: LayerArrays, w: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
        p = self.params
        R, C, df = p.array.rows, p.array.cols, p.array.dataflow
        passes = np.ceil(w / p.native_bits.w) * np.ceil(a / p.native_bits.a)
        sr, sc, t = gemm_mapping(L, df)
        # one SCALE-Sim run per group and per pass over the operand bits
        compute = L.groups * passes * fold_cycles(sr, sc, t, R, C, df)
        # SRAM accesses in elements (SCALE-Sim's counts), then bits
        fr, fc = np.ceil(sr / R), np.ceil(sc / C)
        g = L.groups
        if df == "os":
            ifmap_rd, filt_rd, ofmap_wr = fc * sr * t, fr * sc * t, sr * sc
        elif df == "ws":
            ifmap_rd, filt_rd, ofmap_wr = fc * sr * t, sr * sc, fr * t * sc
        else:
            ifmap_rd, filt_rd, ofmap_wr = sr * sc, fc * t * sr, fr * t * sc
        mem = p.memory
        sram_rd = g * passes * (ifmap_rd * a + filt_rd * w)
        sram_wr_out = g * passes * ofmap_wr * mem.psum_bits
        dram_rd, dram_wr = dram_traffic_bits(L, w, a, mem)
        stall = stall_cycles(compute, dram_rd + dram_wr, L, w, a, mem)
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
            + dram_wr * mem.output_buffer.read_pj_per_bit
            + dram_rd
            * 0.5
            * (mem.input_buffer.write_pj_per_bit + mem.weight_buffer.write_pj_per_bit)
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
