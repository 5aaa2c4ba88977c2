"""Shared hardware components: clock, on-chip buffers + DRAM (tiling, traffic, stalls), energy.

Every function is elementwise over numpy arrays so it broadcasts over layers x w_bits x a_bits.
Units are in the names: cycles, bits, bytes, pJ, mW, Hz, KiB.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from .metrics import bitops
from .section import Section
from .workload import LayerArrays

# ---------------------------------------------------------------------------------------------
# config sections


class Tech(Section):
    """Process and clock."""

    freq_mhz: float = Field(gt=0, description="clock in MHz")
    node_nm: float | None = Field(
        default=None, gt=0, description="process node in nm (informative)"
    )
    vdd_v: float | None = Field(default=None, gt=0, description="supply voltage in V (informative)")


class Buffer(Section):
    """One on-chip SRAM buffer."""

    size_kib: float = Field(gt=0, description="capacity in KiB (1024 bytes)")
    double_buffered: bool = True
    read_pj_per_bit: float = Field(default=0.0, ge=0)
    write_pj_per_bit: float = Field(default=0.0, ge=0)

    @property
    def tile_bits(self) -> float:
        """Bits one tile may occupy: half the buffer when double-buffered."""
        bits = self.size_kib * 1024 * 8
        return bits / 2 if self.double_buffered else bits


class Dram(Section):
    """Off-chip memory interface."""

    bw_bits_per_cycle: float = Field(
        gt=0, description="interface width in bits per accelerator cycle"
    )
    read_pj_per_bit: float = Field(default=0.0, ge=0)
    write_pj_per_bit: float = Field(default=0.0, ge=0)


class Memory(Section):
    """Weight / input / output buffers and DRAM.

    ``output_bits``: width at which outputs leave the array: ``a`` (re-quantized to the layer's
    activation bits, the input width of the next layer) or ``psum`` (``psum_bits`` wide).
    ``overlap``: ``max`` (double-buffered, stall = memory time beyond compute time),
    ``sum`` (no overlap: every DRAM cycle stalls) or ``stall_free`` (SCALE-Sim CALC mode: zero).
    """

    weight_buffer: Buffer
    input_buffer: Buffer
    output_buffer: Buffer
    dram: Dram
    psum_bits: int = Field(default=32, ge=1, le=64)
    output_bits: Literal["a", "psum"] = "a"
    overlap: Literal["max", "sum", "stall_free"] = "max"


class MacEnergy(Section):
    """Energy of the arithmetic.

    ``per_mac``: each MAC costs ``floor_pj + e8_pj * (w*a/64)**alpha`` (an array multiplier scales
    with w*a, the accumulator adds a width-independent floor). ``per_cycle``: the whole array
    spends ``array_pj_per_cycle`` every compute cycle whatever the precision (Bit Fusion,
    bit-serial engines).
    """

    model: Literal["per_mac", "per_cycle"]
    e8_pj: float | None = Field(default=None, ge=0, description="pJ of one 8b x 8b MAC")
    alpha: float = Field(default=1.0, gt=0)
    floor_pj: float = Field(default=0.0, ge=0)
    array_pj_per_cycle: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> MacEnergy:
        if self.model == "per_mac" and self.e8_pj is None:
            raise ValueError("model per_mac needs e8_pj")
        if self.model == "per_cycle" and self.array_pj_per_cycle is None:
            raise ValueError("model per_cycle needs array_pj_per_cycle")
        return self


class Energy(Section):
    mac: MacEnergy
    static_mw: float = Field(default=0.0, ge=0, description="leakage + clock power in mW")


# ---------------------------------------------------------------------------------------------
# memory model


def operand_bits(
    L: LayerArrays, w: np.ndarray, a: np.ndarray, mem: Memory
) -> tuple[np.ndarray, ...]:
    """(weight, input, output) sizes of a layer in bits at the given precisions."""
    out_bits = a if mem.output_bits == "a" else mem.psum_bits
    return L.weights * w, L.ifmap * a, L.ofmap * out_bits


def stall_cycles(
    compute: np.ndarray,
    dram_bits: np.ndarray,
    L: LayerArrays,
    w: np.ndarray,
    a: np.ndarray,
    mem: Memory,
) -> np.ndarray:
    """Cycles the array waits for DRAM.

    ``max``: double buffering overlaps DRAM transfers with compute, except the first tile (one
    weight tile and one input tile), which must arrive before compute starts. A layer then takes
    ``max(compute + fill, memory)`` cycles, so the stall is ``max(fill, memory - compute)``.
    """
    mem_cycles = dram_bits / mem.dram.bw_bits_per_cycle
    if mem.overlap == "stall_free":
        return np.zeros(np.broadcast(compute, mem_cycles).shape)
    if mem.overlap == "sum":
        return np.ceil(mem_cycles)
    wb, ib, _ = operand_bits(L, w, a, mem)
    fill = (
        np.minimum(wb, mem.weight_buffer.tile_bits) + np.minimum(ib, mem.input_buffer.tile_bits)
    ) / mem.dram.bw_bits_per_cycle
    return np.ceil(np.maximum(np.minimum(fill, mem_cycles), mem_cycles - compute))


# ---------------------------------------------------------------------------------------------
# energy model


def mac_energy_pj(
    energy: Energy, macs: np.ndarray, compute_cycles: np.ndarray, w: np.ndarray, a: np.ndarray
) -> np.ndarray:
    """Arithmetic energy in pJ."""
    m = energy.mac
    if m.model == "per_cycle":
        return compute_cycles * m.array_pj_per_cycle
    return macs * (m.floor_pj + m.e8_pj * (w * a / 64.0) ** m.alpha)


def static_energy_pj(energy: Energy, cycles: np.ndarray, freq_hz: float) -> np.ndarray:
    """Static energy in pJ: static_mw x time."""
    return energy.static_mw * 1e-3 * (cycles / freq_hz) * 1e12


def assemble(
    *,
    L: LayerArrays,
    w: np.ndarray,
    a: np.ndarray,
    compute_cycles: np.ndarray,
    stall: np.ndarray,
    peak_macs_per_cycle: np.ndarray,
    dram_read_bits: np.ndarray,
    dram_write_bits: np.ndarray,
    sram_read_bits: np.ndarray,
    sram_write_bits: np.ndarray,
    e_sram_pj: np.ndarray,
    energy: Energy,
    dram: Dram,
    freq_hz: float,
    e_mac_pj: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The standard per-layer metric dict every model returns (all arrays broadcast to one shape).

    Keys: compute_cycles, stall_cycles, cycles (cycles); latency_s (s); utilization (useful MACs /
    (cycles x peak MACs per cycle)); dram_bytes; sram_bits; energy_mac_pj, energy_sram_pj,
    energy_dram_pj, energy_static_pj, energy_pj (pJ); bitops (MACs x w x a).
    """
    cycles = compute_cycles + stall
    e_mac = mac_energy_pj(energy, L.macs, compute_cycles, w, a) if e_mac_pj is None else e_mac_pj
    e_dram = dram_read_bits * dram.read_pj_per_bit + dram_write_bits * dram.write_pj_per_bit
    e_static = static_energy_pj(energy, cycles, freq_hz)
    out = {
        "compute_cycles": compute_cycles,
        "stall_cycles": stall,
        "cycles": cycles,
        "latency_s": cycles / freq_hz,
        "utilization": L.macs / np.maximum(cycles * peak_macs_per_cycle, 1e-30),
        "dram_bytes": (dram_read_bits + dram_write_bits) / 8.0,
        "sram_bits": sram_read_bits + sram_write_bits,
        "energy_mac_pj": e_mac,
        "energy_sram_pj": e_sram_pj,
        "energy_dram_pj": e_dram,
        "energy_static_pj": e_static,
        "energy_pj": e_mac + e_sram_pj + e_dram + e_static,
        "bitops": bitops(L.macs, w, a),
    }
    shape = np.broadcast_shapes(*(np.shape(v) for v in out.values()))
    return {
        k: np.broadcast_to(np.asarray(v, dtype=np.float64), shape).copy() for k, v in out.items()
    }
