"""Bit-serial accelerators (``type: bitserial``): Stripes, UNPU, Loom and BISMO.

A bit-serial lane consumes ``b`` bits of its serial operand(s) per cycle, so one MAC takes

    serial a  (Stripes):    ceil(a/b_a) * ceil(w/native_w)       cycles
    serial w  (UNPU):       ceil(w/b_w) * ceil(a/native_a)       cycles
    serial wa (Loom, BISMO): ceil(w/b_w) * ceil(a/b_a)           cycles

(hwsim-models.md §4-§6; the parallel operand takes extra passes only beyond its native width).

Two array geometries:

``lanes`` (Stripes/Loom/UNPU, DaDianNao-style tiles): ``tiles x filters_per_tile`` output channels,
``terms`` reduction terms per filter (a brick of input channels) and ``windows`` output pixels are
processed at once. A conv group costs

    ceil(B*P / windows) * ceil(M_g / (tiles*filters_per_tile)) * kh*kw*ceil(C_g / terms) * steps

cycles (P output pixels, M_g/C_g output/input channels per group, B batch), summed over groups.
Fully-connected layers follow ``fc_mode``:

* ``conv``: like a 1x1 conv on a 1x1 map (the batch fills the window lanes);
* ``parallel`` (Stripes): no window parallelism and no serial gain: the bit-parallel baseline
  speed, ``B * ceil(M/F) * ceil(K/terms) * ceil(w/native_w) * ceil(a/native_a)``;
* ``serial_w`` (Loom): weights serial, the window columns take the activation bits in parallel,
  ``B * ceil(M/F) * ceil(K/terms) * ceil(w/b_w) * ceil(a/(windows*b_a))`` (~ Pw/16 of the
  equal-throughput baseline).

``dpa`` (BISMO): a Dm x Dn array of Dk-bit binary dot-product units. A layer is the matrix product
(M_g x K) x (K x B*P) per group, and costs ``ceil(M_g/Dm) * ceil(B*P/Dn) * ceil(K/Dk) * steps``
binary-matrix cycles plus ``fill_cycles`` of pipeline fill per layer (§5). BISMO's runtime pads
both operands to whole array tiles (rows to Dm or Dn, the common dimension K to Dk; EECS-NTNU/bismo,
``bismo_inference``) and its fetch stage writes one ``readChanWidth``-bit word per cycle into the
LHS/RHS buffers, with ``readChanWidth == Dk``. ``dpa.feed_bits_per_cycle`` sets that width: the
padded bit-planes of both operands, ``ceil(M_g/Dm)*Dm*Kp*w + ceil(B*P/Dn)*Dn*Kp*a`` bits per group
(Kp = ceil(K/Dk)*Dk), must be fed through it. A layer whose weight matrix does not fill the
array's weight side (a depthwise group has M_g = 1 row for Dm of them, the first conv and thin
projections a few Dm) does little work per fed activation word, so it waits on the feed of its
activation bit-planes and its latency grows with ``a`` only, until ``w`` makes the execute stage
slower than the feed.

Memory (shared ``memory`` section): DRAM reads and writes under a two-level tiling (weights-outer
or inputs-outer, the cheaper one). A layer whose kernel is smaller than its stride (a 1x1
stride-2 conv) reads only the input rows and columns its windows touch. When one array block of
rows (or columns) with its whole reduction does not fit the weight (input) buffer, the reduction
is split; the partial sums live in the output buffer, and when they do not fit it they are
written to DRAM and read back at ``psum_bits`` once per extra reduction chunk.
Fetch, execute and result overlap (``memory.overlap: max``), so a layer costs about
max(execute, memory, feed) plus the first tile's fill. ``dram_ports: separate`` gives fetch
(reads) and result (writes) their own DRAM port (BISMO's decoupled stages), ``shared`` makes them
compete.
Energy: bit-serial engines spend about constant energy per cycle (``energy.mac.model:
per_cycle``, §9). Units: cycles, bits, pJ.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ..components import (
    Energy,
    Memory,
    Tech,
    assemble,
    operand_bits,
    stall_cycles,
)
from ..errors import ConfigError
from ..section import Section
from ..workload import LayerArrays
from .base import Accelerator, register


class Lanes(Section):
    """DaDianNao-style tile organisation of serial lanes (Stripes, Loom, UNPU)."""

    tiles: int = Field(default=1, ge=1, description="tiles, each with its own filters")
    filters_per_tile: int = Field(ge=1, description="output channels per tile processed at once")
    terms: int = Field(ge=1, description="input channels (reduction terms) per filter per cycle")
    windows: int = Field(default=1, ge=1, description="output pixels (windows) processed at once")

    @property
    def filters(self) -> int:
        return self.tiles * self.filters_per_tile

    @property
    def lanes(self) -> int:
        """Serial lanes: each multiplies one serial bit slice by one term per cycle."""
        return self.filters * self.terms * self.windows


class Dpa(Section):
    """BISMO dot-product array: Dm x Dn units, each a Dk-bit binary dot product per cycle."""

    dm: int = Field(ge=1, description="rows Dm (weight rows of the left-hand matrix)")
    dn: int = Field(ge=1, description="columns Dn (activation columns of the right-hand matrix)")
    dk: int = Field(ge=1, description="binary dot-product length Dk in bits")
    feed_bits_per_cycle: float | None = Field(
        default=None,
        gt=0,
        description="bits per cycle the fetch stage writes into the operand buffers (BISMO's"
        " readChanWidth); None: the feed is not a limit",
    )


class SerialBits(Section):
    """Bits consumed per cycle of each serial operand."""

    w: int = Field(default=1, ge=1, le=16)
    a: int = Field(default=1, ge=1, le=16)


class ParallelBits(Section):
    """Native width of a bit-parallel operand (one pass per ``native`` bits)."""

    w: int = Field(default=16, ge=1, le=32)
    a: int = Field(default=16, ge=1, le=32)


class BitserialParams(Section):
    name: str | None = None
    description: str | None = None
    tech: Tech
    serial: Literal["a", "w", "wa"]
    bits_per_cycle: SerialBits = SerialBits()
    native_bits: ParallelBits = ParallelBits()
    lanes: Lanes | None = None
    dpa: Dpa | None = None
    fc_mode: Literal["conv", "parallel", "serial_w"] = "conv"
    fill_cycles: int = Field(default=0, ge=0, description="pipeline fill per layer, cycles")
    dram_ports: Literal["shared", "separate"] = "shared"
    memory: Memory
    energy: Energy

    @model_validator(mode="before")
    @classmethod
    def _scalar_bits(cls, data: Any) -> Any:
        # ``bits_per_cycle: 2`` is shorthand for both serial operands
        if isinstance(data, dict):
            b = data.get("bits_per_cycle")
            if isinstance(b, int) and not isinstance(b, bool):
                data = {**data, "bits_per_cycle": {"w": b, "a": b}}
        return data


def serial_steps(p: BitserialParams, w: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Cycles one lane spends per MAC at (w, a) bits."""
    bw, ba = p.bits_per_cycle.w, p.bits_per_cycle.a
    nw, na = p.native_bits.w, p.native_bits.a
    if p.serial == "a":
        return np.ceil(a / ba) * np.ceil(w / nw)
    if p.serial == "w":
        return np.ceil(w / bw) * np.ceil(a / na)
    return np.ceil(w / bw) * np.ceil(a / ba)


def read_input(L: LayerArrays) -> LayerArrays:
    """``L`` with ``ifmap`` cut to the input elements the windows touch.

    A kernel smaller than its stride (a 1x1 stride-2 conv) skips rows and columns: only
    ``out_h * kh`` rows (``out_w * kw`` columns) are read, never more than the input has.
    """
    rows = np.where(L.kh < L.sh, np.minimum(L.in_h, L.out_h * L.kh), L.in_h)
    cols = np.where(L.kw < L.sw, np.minimum(L.in_w, L.out_w * L.kw), L.in_w)
    return dataclasses.replace(L, ifmap=L.batch * L.cin * rows * cols)


def traffic_bits(
    L: LayerArrays,
    w: np.ndarray,
    a: np.ndarray,
    mem: Memory,
    unit_rows: float,
    unit_cols: float,
) -> tuple[np.ndarray, np.ndarray]:
    """DRAM (read_bits, write_bits) of one layer, partial-sum spills included.

    ``L.ifmap`` is the input actually read (:func:`read_input`). Two loop orders, the cheaper
    (reads + writes) is taken:

    * weights outer: weight tiles of whole filters stay while the inputs stream past, inputs are
      re-read once per weight tile (when they do not fit their buffer). If one array block of
      ``unit_rows`` filters with its whole reduction does not fit the weight tile, the reduction
      is split into ``k`` chunks; the partial sums of those filters over all output pixels stay
      in the output buffer, or, when they do not fit it, go to DRAM and come back at
      ``psum_bits``, ``k - 1`` times each way;
    * inputs outer: the same with the roles swapped (``unit_cols`` output pixels' inputs, the
      partial sums of all filters over those pixels).

    Outputs are written once at their width.
    """
    wb, ib, ob = operand_bits(L, w, a, mem)
    wt, it = mem.weight_buffer.tile_bits, mem.input_buffer.tile_bits
    ot = mem.output_buffer.tile_bits
    psum = float(mem.psum_bits)
    m = L.cout / L.groups
    n = L.batch * L.out_pixels
    w_tiles, i_tiles = np.ceil(wb / wt), np.ceil(ib / it)

    k_w = np.ceil(np.minimum(unit_rows, m) * L.reduction * w / wt)
    held_w = np.minimum(unit_rows, m) * n * psum
    spill_w = np.where((k_w > 1) & (held_w > ot), (k_w - 1) * L.ofmap * psum, 0.0)
    rd_w = wb + ib * np.where(i_tiles > 1, w_tiles, 1.0) + spill_w

    k_i = np.ceil(np.minimum(unit_cols, n) * L.reduction * L.groups * a / it)
    held_i = L.cout * np.minimum(unit_cols, n) * psum
    spill_i = np.where((k_i > 1) & (held_i > ot), (k_i - 1) * L.ofmap * psum, 0.0)
    rd_i = ib + wb * np.where(w_tiles > 1, i_tiles, 1.0) + spill_i

    w_first = rd_w + spill_w <= rd_i + spill_i
    return np.where(w_first, rd_w, rd_i), ob + np.where(w_first, spill_w, spill_i)


def pipelined_stall(
    compute: np.ndarray,
    port_bits: np.ndarray,
    L: LayerArrays,
    w: np.ndarray,
    a: np.ndarray,
    mem: Memory,
    feed: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Stall cycles of a fetch / execute / result pipeline (``memory.overlap: max``).

    The first weight and input tiles are fetched before execution starts (``fill``); the rest of
    the DRAM time overlaps execution, so a layer takes ``max(compute + fill, memory, feed)``
    cycles and the stall is that minus ``compute``. ``feed`` is the time the fetch stage needs to
    write the operands into the array's buffers (cycles; 0 when not modelled).
    (``hwsim.components.stall_cycles`` adds the fill on top of a memory-bound layer's memory
    time; here it is part of it.) ``sum`` and ``stall_free`` follow
    ``hwsim.components.stall_cycles``.
    """
    if mem.overlap != "max":
        return stall_cycles(compute, port_bits, L, w, a, mem)
    bw = mem.dram.bw_bits_per_cycle
    mem_cycles = np.maximum(port_bits / bw, feed)
    wb, ib, _ = operand_bits(L, w, a, mem)
    fill = (
        np.minimum(wb, mem.weight_buffer.tile_bits) + np.minimum(ib, mem.input_buffer.tile_bits)
    ) / bw
    fill = np.minimum(fill, mem_cycles)
    return np.ceil(np.maximum(fill, mem_cycles - compute))


@register("bitserial")
class Bitserial(Accelerator):
    """Bit-serial accelerator cost model (see the module docstring for the formulas)."""

    Params = BitserialParams

    def __init__(self, params: BitserialParams) -> None:
        if (params.lanes is None) == (params.dpa is None):
            raise ConfigError(
                "keys 'lanes' / 'dpa': give exactly one array geometry, 'lanes' (Stripes, Loom, UNPU)"
                " or 'dpa' (BISMO)"
            )
        if params.dpa is not None and params.fc_mode != "conv":
            raise ConfigError(
                f"key 'fc_mode': a 'dpa' (BISMO) array runs FC layers as matrix products, so fc_mode"
                f" must be 'conv' (got {params.fc_mode!r})"
            )
        if params.fc_mode == "serial_w" and params.serial == "a":
            raise ConfigError(
                "key 'fc_mode': 'serial_w' needs serial weights (serial: w or wa), got serial: a"
            )
        super().__init__(params)

    @property
    def freq_hz(self) -> float:
        return self.params.tech.freq_mhz * 1e6

    def supports(self, w_bits: int, a_bits: int) -> bool:
        p = self.params
        if p.serial == "a":
            return w_bits <= p.native_bits.w
        if p.serial == "w":
            return a_bits <= p.native_bits.a
        return True

    @property
    def peak_lanes(self) -> int:
        """Binary (1b x serial-step) lanes: MACs per cycle when one step per MAC suffices."""
        p = self.params
        if p.dpa is not None:
            return p.dpa.dm * p.dpa.dn * p.dpa.dk
        assert p.lanes is not None
        return p.lanes.lanes

    def compute_cycles(
        self, L: LayerArrays, w: np.ndarray, a: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """(compute cycles, weight SRAM read elements, input SRAM read elements) of each layer.

        SRAM reads count each operand element once per use by an array pass: weights once per
        group of windows (or Dn columns), activations once per group of filters (or Dm rows).
        """
        p = self.params
        steps = serial_steps(p, w, a)
        g = L.groups
        n = L.batch * L.out_pixels  # output columns (windows) over the batch
        m = L.cout / g  # output channels per group
        cg = L.cin / g
        k = L.reduction  # kh*kw*C_g
        if p.dpa is not None:
            d = p.dpa
            col_blocks, row_blocks = np.ceil(n / d.dn), np.ceil(m / d.dm)
            per_group = row_blocks * col_blocks * np.ceil(k / d.dk)
            compute = g * per_group * steps + p.fill_cycles
            return compute, col_blocks * L.weights, g * row_blocks * n * k
        lanes = p.lanes
        assert lanes is not None
        col_blocks = np.ceil(n / lanes.windows)
        row_blocks = np.ceil(m / lanes.filters)
        kred = L.kh * L.kw * np.ceil(cg / lanes.terms)
        conv = g * col_blocks * row_blocks * kred * steps
        w_reads = col_blocks * L.weights
        if p.fc_mode == "conv":
            compute = conv
        else:
            fc_cols = L.batch  # no window parallelism: one input vector at a time
            if p.fc_mode == "parallel":
                fc_steps = np.ceil(w / p.native_bits.w) * np.ceil(a / p.native_bits.a)
            else:  # serial_w
                fc_steps = np.ceil(w / p.bits_per_cycle.w) * np.ceil(
                    a / (lanes.windows * p.bits_per_cycle.a)
                )
            fc = fc_cols * row_blocks * kred * fc_steps
            compute = np.where(L.is_linear, fc, conv)
            w_reads = np.where(L.is_linear, fc_cols * L.weights, w_reads)
        compute = compute + p.fill_cycles
        return compute, w_reads, g * row_blocks * n * k

    def feed_cycles(self, L: LayerArrays, w: np.ndarray, a: np.ndarray) -> np.ndarray | float:
        """Cycles the fetch stage needs to write both operands' padded bit-planes into a ``dpa``
        array's buffers (0 for ``lanes`` arrays or when ``dpa.feed_bits_per_cycle`` is unset).

        Per group: weights ``ceil(M_g/Dm)*Dm`` rows and activations ``ceil(B*P/Dn)*Dn`` columns,
        each ``Kp = ceil(K/Dk)*Dk`` bits per bit-plane, ``w`` (``a``) planes rounded up to whole
        serial steps; each padded operand is fed once per layer (reuse across array blocks is
        the buffers' job, costed by :func:`traffic_bits`).
        """
        p = self.params
        d = p.dpa
        if d is None or d.feed_bits_per_cycle is None:
            return 0.0
        g = L.groups
        m = L.cout / g
        n = L.batch * L.out_pixels
        kp = np.ceil(L.reduction / d.dk) * d.dk
        w_planes = np.ceil(w / p.bits_per_cycle.w) * p.bits_per_cycle.w
        a_planes = np.ceil(a / p.bits_per_cycle.a) * p.bits_per_cycle.a
        lhs = np.ceil(m / d.dm) * d.dm * kp * w_planes
        rhs = np.ceil(n / d.dn) * d.dn * kp * a_planes
        return g * (lhs + rhs) / d.feed_bits_per_cycle

    def evaluate(self, L: LayerArrays, w: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
        """Per-layer metrics (cycles, bits, bytes, pJ) broadcast over layers x w bits x a bits."""
        p = self.params
        mem = p.memory
        compute, w_rd_el, i_rd_el = self.compute_cycles(L, w, a)
        L = read_input(L)
        if p.dpa is not None:
            rows, cols = float(p.dpa.dm), float(p.dpa.dn)
        else:
            assert p.lanes is not None
            rows, cols = float(p.lanes.filters), float(p.lanes.windows)
        dram_rd, dram_wr = traffic_bits(L, w, a, mem, rows, cols)
        port_bits = dram_rd + dram_wr if p.dram_ports == "shared" else np.maximum(dram_rd, dram_wr)
        stall = pipelined_stall(compute, port_bits, L, w, a, mem, self.feed_cycles(L, w, a))
        wb, ib, _ = operand_bits(L, w, a, mem)
        out_bits = a if mem.output_bits == "a" else np.float64(mem.psum_bits)
        w_rd, i_rd = w_rd_el * w, i_rd_el * a
        o_wr = L.ofmap * out_bits
        w_share = wb / np.maximum(wb + ib, 1e-30)
        spill = dram_wr - o_wr  # partial sums sent to DRAM come back into the output buffer
        e_sram = (
            w_rd * mem.weight_buffer.read_pj_per_bit
            + i_rd * mem.input_buffer.read_pj_per_bit
            + (o_wr + spill) * mem.output_buffer.write_pj_per_bit
            + dram_wr * mem.output_buffer.read_pj_per_bit
            + (dram_rd - spill)
            * (
                w_share * mem.weight_buffer.write_pj_per_bit
                + (1 - w_share) * mem.input_buffer.write_pj_per_bit
            )
        )
        return assemble(
            L=L,
            w=w,
            a=a,
            compute_cycles=compute,
            stall=stall,
            peak_macs_per_cycle=np.float64(self.peak_lanes) / serial_steps(p, w, a),
            dram_read_bits=dram_rd,
            dram_write_bits=dram_wr,
            sram_read_bits=w_rd + i_rd + dram_wr,
            sram_write_bits=o_wr + dram_rd,
            e_sram_pj=e_sram,
            energy=p.energy,
            dram=mem.dram,
            freq_hz=self.freq_hz,
        )
