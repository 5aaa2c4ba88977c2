"""Bit Fusion (Sharma et al., ISCA 2018): a systolic array of bit-flexible Fusion Units.

Model of the published simulator (hsharma35/bitfusion, ``src/simulator`` and
``src/optimizer/optimizer.py``), re-derived and vectorized; see hwsim-models.md §3.

Compute. ``rows x cols`` (N x M) Fusion Units of 2-bit BitBricks; at ``a``/``w`` bits one FU does
``pf = floor(8/max(a,2)) * floor(8/max(w,2))`` MACs per cycle (``max_bits`` = 8, ``min_bits`` = 2
from the config). Input channels go down the rows, output channels across the columns. Per tile
(b, oh, ow, ic, oc) the simulator's closed form is, in cycles::

    normal conv:  b * ceil(oc/M) * oh*ow * kh*kw * ceil(ic / (N*pf))
    im2col:       b * oh*ow * ceil(oc/M) * ceil(kh*kw*ic / (N*pf))     (first conv layer)

and a layer costs ``n_tiles x`` that, so tiles that do not divide the layer pay for the padding.
Fully connected layers are 1x1 convolutions on a 1x1 output with ``batch`` rows (the simulator's
``get_FC_cycles``). Grouped and depthwise convolutions run one group after the other, each group
a dense conv with ``C/groups`` inputs and ``M/groups`` outputs (a depthwise group fills one row
and one column: the array is badly used, as it would be). Widths above ``max_bits`` are not in
the released simulator (it caps precision at 8): here they take
``ceil(w/8) * ceil(a/8)`` passes at the 8-bit rate, with traffic at the true widths.

Tiling. As the simulator: power-of-two tiles of batch, output rows/columns (one size for both),
input channels and output channels (multiples of M for normal convs). A tile must fit half its
buffer (double buffering): weights ``ceil(kh*kw*ic/(N*pf))*N*pf*oc*w`` bits, inputs
``ih*iw*ic*b*a`` (im2col: ``oh*ow*kh*kw*ic*b*a``), outputs ``oh*ow*ceil(oc/M)*M*b*32``. The five
tile loops (B, OW, OH, IC, OC) run in any of their 120 orders, as in the simulator's search. For
an order, the DRAM traffic of an operand is its tile size times the trip counts of the loops it
depends on, times the trip counts of the loops it does not depend on that sit outside the
loop at which its block stops growing: going from the innermost loop outwards the resident block
grows by each dependent loop's trips while it fits half its buffer (the simulator's
"promotion", ``optimizer.get_stats_fast``); the first fill is the last block that fit. Batch,
rows and columns are separate loops: their traffic is the same in any arrangement, but the block
grows one of them at a time, which sets the fill and drain time and so which tiling wins.
Outputs move as 32-bit partial sums; like the simulator, every output write to DRAM is matched
by a read of the same size (accumulation into DRAM). Inside a tile the buffer access order
(input-, output- or weight-stationary) is chosen by the simulator's estimate of bits moved.
Checked against the simulator itself by ``bench/bitfusion_reference.py``: every layer of
ResNet-18, ResNet-20 and a small CNN at batch 1 and 16 and 9 bit pairs gives the same cycles,
DRAM bits and energy.

Timing. ``stall = max(0, ceil(mid_bits/if_width) - compute) + ceil(fill_bits/if_width)
+ ceil(drain_bits/if_width)`` where fill is the first resident block of every operand and drain
the last outputs; ``cycles = compute + stall``. The best tiling and order has the fewest cycles,
then the least energy. Energy (pJ) = core pJ/cycle x compute cycles + buffer bits x pJ/bit +
DRAM bits x pJ/bit + static power x time.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import permutations
from typing import NamedTuple

import numpy as np
from pydantic import Field, model_validator

from ..components import Buffer, Dram, Energy, Tech, assemble
from ..errors import HwsimError
from ..section import Section
from ..workload import LayerArrays
from .base import Accelerator, register

# loops, as the simulator names them: 0 B/b, 1 OW/ow, 2 OH/oh, 3 IC/ic, 4 OC/oc
_LOOPS = ("B", "OW", "OH", "IC", "OC")
_ORDERS = tuple(permutations(range(5)))  # outer -> inner: the simulator's 120 orders
# per operand: bit mask of the loops its data depends on
_DEPS = {"wgt": 0b11000, "act": 0b01111, "out": 0b10111}


def _order_tables(dep: int) -> tuple[np.ndarray, np.ndarray]:
    """(pref, free) for one operand, per order.

    ``pref[o, j]``: mask of the first ``j`` dependent loops counted from the innermost (the
    resident block after ``j`` promotions); ``free[o, s]``: mask of the independent loops that
    sit outside the dependent loop at which promotion stops after ``s`` promotions (they
    multiply the operand's traffic; 0 when all dependent loops were promoted).
    """
    k = bin(dep).count("1")
    pref = np.zeros((len(_ORDERS), k + 1), dtype=np.intp)
    free = np.zeros((len(_ORDERS), k + 1), dtype=np.intp)
    for o, order in enumerate(_ORDERS):
        inner_first = order[::-1]
        seq = [lp for lp in inner_first if (dep >> lp) & 1]
        for j in range(1, k + 1):
            pref[o, j] = pref[o, j - 1] | (1 << seq[j - 1])
        for s in range(k):
            stop = inner_first.index(seq[s])
            free[o, s] = sum(1 << lp for lp in inner_first[stop + 1 :] if not (dep >> lp) & 1)
    return pref, free


_TABLES = {k: _order_tables(v) for k, v in _DEPS.items()}


def _canonical_orders() -> tuple[np.ndarray, np.ndarray]:
    """Orders worth evaluating per trip pattern: (concatenated order indices, offsets).

    Pattern ``p``: bit ``l`` (l < 5) set when loop ``l`` has one trip, bit 5 set when the OW and
    OH loops have equal trips (same dependencies, so swapping them changes nothing). Orders that
    coincide once one-trip loops are dropped and OH is renamed OW give identical costs; the first
    of each such set is kept.
    """
    cat, off = [], [0]
    for p in range(64):
        seen = set()
        for o, order in enumerate(_ORDERS):
            red = tuple(1 if (lp == 2 and p & 32) else lp for lp in order if not (p >> lp) & 1)
            if red not in seen:
                seen.add(red)
                cat.append(o)
        off.append(len(cat))
    return np.asarray(cat, dtype=np.intp), np.asarray(off, dtype=np.intp)


_CANON, _CANON_OFF = _canonical_orders()
_UB_ROUNDS = 3  # rounds of upper-bound tightening on the survivors (see BitFusion._table)
_UB_MIN_OPEN = 3  # ... in the groups with at least this many tilings still to evaluate


class FusionArray(Section):
    rows: int = Field(ge=1, description="FU rows N (input-channel side)")
    cols: int = Field(ge=1, description="FU columns M (output-channel side)")


class FusionUnit(Section):
    """Precision range of one Fusion Unit (BitBricks of ``min_bits``)."""

    max_bits: int = Field(
        default=8, ge=1, le=32, description="widest operand fused in one pass, bits"
    )
    min_bits: int = Field(
        default=2, ge=1, le=32, description="BitBrick width: narrower operands pad up, bits"
    )

    @model_validator(mode="after")
    def _check(self) -> FusionUnit:
        if self.min_bits > self.max_bits:
            raise ValueError(f"min_bits {self.min_bits} exceeds max_bits {self.max_bits}")
        return self


class BitFusionMemory(Section):
    """Double-buffered WBUF / IBUF / OBUF and the DRAM interface."""

    weight_buffer: Buffer
    input_buffer: Buffer
    output_buffer: Buffer
    dram: Dram
    psum_bits: int = Field(
        default=32, ge=1, le=64, description="width of outputs/partial sums, bits"
    )


class BitFusionParams(Section):
    name: str | None = None
    description: str | None = None
    tech: Tech
    array: FusionArray
    fusion_unit: FusionUnit = FusionUnit()
    memory: BitFusionMemory
    energy: Energy

    @model_validator(mode="after")
    def _check(self) -> BitFusionParams:
        if self.energy.mac.model != "per_cycle":
            raise ValueError("energy.mac.model must be per_cycle for bitfusion (core pJ per cycle)")
        return self


class _Cands(NamedTuple):
    """Candidate tilings of one layer (one group), one entry per tiling (element counts)."""

    trips: np.ndarray  # (5, R) trip counts of the loops B, OW, OH, IC, OC
    sub: np.ndarray  # (R, 32) product of the trips of every subset (bit l: loop l) of the loops
    red: np.ndarray  # reduction elements per tile handled by the rows (ic, or kh*kw*ic for im2col)
    kk_outer: np.ndarray  # kernel positions looped outside the row reduction (kh*kw, or 1)
    pix: np.ndarray  # b * oh * ow per tile
    oc: np.ndarray
    macs_tile: np.ndarray  # kh*kw*ic*oc*b*oh*ow
    act_el: np.ndarray  # input elements per tile
    kkic: np.ndarray  # kh*kw*ic
    pattern: np.ndarray  # trip pattern (see _canonical_orders), int
    n_slots: np.ndarray  # canonical loop orders per tiling (see _canonical_orders), int
    slot_order: np.ndarray  # (n_slots.sum(),) the order (index into _ORDERS) of each slot
    pp_wgt: np.ndarray  # (n_slots.sum(), K + 1) per slot: trip products of the blocks
    fp_wgt: np.ndarray  # promotion reaches and of the free loops after s promotions, see _slots
    pp_act: np.ndarray
    fp_act: np.ndarray
    pp_out: np.ndarray
    fp_out: np.ndarray
    out_t: np.ndarray  # (n_slots.sum(),) output DRAM bits and first fill per slot
    out_f: np.ndarray
    ps_wgt: np.ndarray  # (R, S) block tables of each operand, see _block_tables
    gr_wgt: np.ndarray
    ps_act: np.ndarray
    gr_act: np.ndarray
    ps_out: np.ndarray
    gr_out: np.ndarray


_BUILD_ONLY = ("pattern", "pp_out", "fp_out")  # _Cands fields the search itself does not read


def _pow2_tiles(n: int, step: int = 1) -> list[int]:
    """The simulator's power-of-two tile sizes: min(2**k * step, n), k = 0..ceil(log2(ceil(n/step)))."""
    top = int(np.ceil(np.log2(max(1.0, np.ceil(n / step)))))
    return sorted({min((1 << k) * step, n) for k in range(top + 1)})


def _subset_products(trips: np.ndarray) -> np.ndarray:
    """(R, 32): for every subset mask of the 5 loops, the product of their trip counts."""
    sub = np.ones((trips.shape[1], 32))
    for m in range(1, 32):
        low = m & -m
        sub[:, m] = sub[:, m ^ low] * trips[low.bit_length() - 1]
    return sub


@lru_cache(maxsize=4096)
def _candidates(
    shape: tuple[int, ...], im2col: bool, M: int, out_tile_bits: float, psum_bits: int
) -> _Cands:
    B, OH, OW, KH, KW, SH, SW, IC, OC = shape
    bs = np.asarray(_pow2_tiles(B), dtype=np.float64)
    ts = _pow2_tiles(max(OH, OW))
    hw = np.asarray(sorted({(min(t, OH), min(t, OW)) for t in ts}), dtype=np.float64)
    ics = np.asarray(_pow2_tiles(IC), dtype=np.float64)
    ocs = np.asarray(_pow2_tiles(OC, 1 if im2col else M), dtype=np.float64)
    ib, ihw, iic, ioc = np.meshgrid(
        np.arange(bs.size),
        np.arange(len(hw)),
        np.arange(ics.size),
        np.arange(ocs.size),
        indexing="ij",
    )
    b, oh, ow = bs[ib.ravel()], hw[ihw.ravel(), 0], hw[ihw.ravel(), 1]
    ic, oc = ics[iic.ravel()], ocs[ioc.ravel()]
    out_el = oh * ow * np.ceil(oc / M) * M * b
    keep = out_el * psum_bits <= out_tile_bits  # bits-independent: prune now
    b, oh, ow, ic, oc = b[keep], oh[keep], ow[keep], ic[keep], oc[keep]
    kk = float(KH * KW)
    trips = np.stack(
        [np.ceil(B / b), np.ceil(OW / ow), np.ceil(OH / oh), np.ceil(IC / ic), np.ceil(OC / oc)]
    )
    pattern = (1 << np.arange(5)) @ (trips == 1).astype(np.intp) + 32 * (trips[1] == trips[2])
    if im2col:
        red, kk_outer = kk * ic, np.ones_like(ic)
        act_el = oh * ow * kk * ic * b
    else:
        red, kk_outer = ic, np.full_like(ic, kk)
        act_el = (KH + (oh - 1) * SH) * (KW + (ow - 1) * SW) * ic * b
    sub = _subset_products(trips)
    blocks = _block_tables(sub)
    pattern = pattern.astype(np.intp)
    n_slots, slot_order, slot_tables = _slots(sub, pattern)
    # outputs do not depend on the widths: their traffic in every slot is known now
    tile_o = b * oh * ow * np.ceil(oc / M) * M * float(psum_bits)  # as BitFusion._out_tile
    rep = np.repeat(np.arange(tile_o.size), n_slots)
    out_t, out_f = _slot_traffic(
        tile_o[rep],
        sub[rep, _DEPS["out"]],
        slot_tables["pp_out"],
        slot_tables["fp_out"],
        np.arange(rep.size),
        out_tile_bits,
    )
    return _Cands(
        out_t=out_t,
        out_f=out_f,
        n_slots=n_slots,
        slot_order=slot_order,
        **slot_tables,
        trips=trips,
        sub=sub,
        red=red,
        kk_outer=kk_outer,
        pix=b * oh * ow,
        oc=oc,
        macs_tile=kk * ic * oc * b * oh * ow,
        act_el=act_el,
        kkic=kk * ic,
        pattern=pattern,
        **{f"{k}_{op}": v[i] for op, v in blocks.items() for i, k in enumerate(("ps", "gr"))},
    )


def _slots(sub: np.ndarray, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """The canonical loop orders of every tiling, one slot each, tiling after tiling: (orders
    per tiling, order of each slot, per operand ``pp`` and ``fp`` tables (slots, K + 1)).

    ``pp[g, j]``: trip product of the operand's block after ``j`` promotions in slot ``g``'s
    order; ``fp[g, s]``: trip product of the loops that multiply its traffic when promotion
    stops after ``s`` promotions (see ``_order_tables``). Width-independent: built once per
    layer with its candidates, so the search only compares block sizes with the buffer."""
    n_slots = _CANON_OFF[pattern + 1] - _CANON_OFF[pattern]
    start = np.cumsum(n_slots) - n_slots
    rep = np.repeat(np.arange(pattern.size), n_slots)
    j = np.arange(rep.size) - start[rep]
    order = _CANON[_CANON_OFF[pattern][rep] + j]
    tables = {}
    for op, (pref, free) in _TABLES.items():
        tables[f"pp_{op}"] = np.ascontiguousarray(sub[rep[:, None], pref[order]])
        tables[f"fp_{op}"] = np.ascontiguousarray(sub[rep[:, None], free[order]])
    return n_slots, order, tables


def _dense_unique(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True)`` for integer keys in ``[0, size)``, by marking
    rather than sorting."""
    mark = np.zeros(size, dtype=bool)
    mark[key] = True
    u = np.flatnonzero(mark)
    rank = np.cumsum(mark) - 1
    return u, rank[key]


def _slot_traffic(
    tile: np.ndarray, dep: np.ndarray, pp: np.ndarray, fp: np.ndarray, g: np.ndarray, half: float
) -> tuple[np.ndarray, np.ndarray]:
    """(DRAM bits, first-fill bits) of one operand, as :func:`_traffic`, in slots ``g`` of the
    slot tables ``pp``/``fp`` with tiles ``tile`` and dependent-loop trip products ``dep`` (flat,
    one length)."""
    lim = half / tile
    k = pp.shape[1]
    gk = g * k
    flat = pp.ravel()
    s = (flat[gk + 1] <= lim).astype(np.intp)
    for j in range(2, k):
        s += flat[gk + j] <= lim
    gk += s
    fill = tile * flat[gk]
    traffic = tile * dep * fp.ravel()[gk]
    return traffic, fill


def _traffic(
    tile: np.ndarray, sub: np.ndarray, r: np.ndarray, half: float, operand: str, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(DRAM bits, first-fill bits) of one operand of tilings ``r`` (rows of ``sub``) run in
    loop orders ``order`` (indices into ``_ORDERS``); ``tile``, ``r`` and ``order`` are flat and
    of one length.

    The simulator's promotion (``optimizer.get_stats_fast``): going from the innermost loop
    outwards, the operand's resident block grows by the trip count of each loop it depends on
    while it fits ``half`` (bits); loops it does not depend on are free inside that block and
    multiply its traffic outside it.
    """
    pref, free = _TABLES[operand]
    flat = sub.ravel()
    base = r * 32
    k = pref.shape[1] - 1
    s = np.zeros(r.size, dtype=np.intp)  # promotions made (block sizes only grow)
    lim = half / tile
    for j in range(1, k + 1):
        s += flat[base + pref[order, j]] <= lim
    fill = tile * flat[base + pref[order, s]]
    traffic = tile * flat[base + _DEPS[operand]] * flat[base + free[order, s]]
    return traffic, fill


def _block_tables(sub: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per operand, for every block ``Q`` of its dependent loops: (R, S) trip products of ``Q``
    and the largest product one more promotion from ``Q`` makes (inf when ``Q`` is all of
    them). Width-independent, so built once per layer with its candidates."""
    out = {}
    for operand, dep in _DEPS.items():
        subsets = [m for m in range(32) if m & ~dep == 0]
        grow = np.full((sub.shape[0], len(subsets)), np.inf)
        for i, m in enumerate(subsets):
            nxt = [m | (1 << lp) for lp in range(5) if (dep >> lp) & 1 and not (m >> lp) & 1]
            if nxt:
                grow[:, i] = sub[:, nxt].max(axis=1)
        out[operand] = (sub[:, subsets], grow)
    return out


def _fill_bounds(
    tile: np.ndarray, ps: np.ndarray, grow: np.ndarray, half: float
) -> tuple[np.ndarray, np.ndarray]:
    """Over all loop orders, for tile sizes ``tile`` (..., R): (least first fill, largest first
    fill), bits. Block sizes only grow, so a block of loops ``Q`` (trip products ``ps``) is
    reachable whenever it fits, and promotion can stop there when it is all the dependent loops
    or one more of them overflows (``grow``)."""
    lim = half / tile
    lo = np.full(np.shape(lim), np.inf)
    hi = np.zeros(np.shape(lim))
    for q in range(ps.shape[1]):  # a few blocks: elementwise over (..., R) is faster
        size = ps[:, q]
        fits = size <= lim
        np.minimum(lo, np.where(fits & (grow[:, q] > lim), size, np.inf), out=lo)
        np.maximum(hi, np.where(fits, size, 0.0), out=hi)
    return tile * lo, tile * hi


@register("bitfusion")
class BitFusion(Accelerator):
    """Bit Fusion: N x M Fusion Units, pf = floor(8/a)*floor(8/w) MACs per FU per cycle."""

    Params = BitFusionParams

    @property
    def freq_hz(self) -> float:
        return self.params.tech.freq_mhz * 1e6

    def supports(self, w_bits: int, a_bits: int) -> bool:
        """Native widths: powers of two from the BitBrick width to the FU width (2, 4, 8)."""
        fu = self.params.fusion_unit
        ok = {
            b
            for b in range(fu.min_bits, fu.max_bits + 1)
            if b % fu.min_bits == 0 and fu.max_bits % b == 0
        }
        ok = {b for b in ok if (b // fu.min_bits) & (b // fu.min_bits - 1) == 0}
        return int(w_bits) in ok and int(a_bits) in ok

    def widest_mode(self) -> int:
        """The Fusion Unit's ``max_bits``: wider operands take ``ceil(w/8) * ceil(a/8)`` passes,
        which the released simulator does not model (it caps precision at 8 bits)."""
        return int(self.params.fusion_unit.max_bits)

    def perf_factor(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(MACs per FU per cycle, passes) at weight/activation widths ``w``/``a`` bits."""
        fu = self.params.fusion_unit
        w = np.asarray(w, dtype=np.float64)
        a = np.asarray(a, dtype=np.float64)
        hi, lo = float(fu.max_bits), float(fu.min_bits)
        pf = np.floor(hi / np.clip(a, lo, hi)) * np.floor(hi / np.clip(w, lo, hi))
        passes = np.ceil(w / hi) * np.ceil(a / hi)
        return pf, passes

    # -----------------------------------------------------------------------------------------
    def evaluate(self, L: LayerArrays, w: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
        fields = (L.batch, L.out_h, L.out_w, L.kh, L.kw, L.sh, L.sw, L.cin, L.cout, L.groups)
        flags = (L.is_first & ~L.is_linear, L.macs, L.is_linear)
        w = np.asarray(w, dtype=np.float64)
        a = np.asarray(a, dtype=np.float64)
        shape_l = np.broadcast_shapes(*(np.shape(f) for f in (*fields, *flags)))
        shape_b = np.broadcast_shapes(np.shape(w), np.shape(a))
        shape = np.broadcast_shapes(shape_l, shape_b)
        # unique layers
        cols = [
            np.broadcast_to(np.asarray(f, dtype=np.float64), shape_l).ravel()
            for f in (*fields, flags[0])
        ]
        table = np.stack(cols, axis=1)
        uniq, linv = np.unique(table, axis=0, return_inverse=True)
        # unique widths
        wv, winv = np.unique(np.broadcast_to(w, shape_b).ravel(), return_inverse=True)
        av, ainv = np.unique(np.broadcast_to(a, shape_b).ravel(), return_inverse=True)
        res = self._cached_table(uniq, wv, av)  # metric -> (nW, nA, nU)
        li = np.broadcast_to(linv.reshape(shape_l), shape)
        wi = np.broadcast_to(winv.reshape(shape_b), shape)
        ai = np.broadcast_to(ainv.reshape(shape_b), shape)
        got = {k: v[wi, ai, li] for k, v in res.items()}
        pf, passes = self.perf_factor(w, a)
        p = self.params
        peak = p.array.rows * p.array.cols * pf / passes
        mem = p.memory
        return assemble(
            L=L,
            w=w,
            a=a,
            compute_cycles=got["compute"],
            stall=got["stall"],
            peak_macs_per_cycle=peak,
            dram_read_bits=got["dram_rd"],
            dram_write_bits=got["dram_wr"],
            sram_read_bits=got["sram_rd"],
            sram_write_bits=got["sram_wr"],
            e_sram_pj=got["e_sram"],
            energy=p.energy,
            dram=mem.dram,
            freq_hz=self.freq_hz,
        )

    _KEYS = ("compute", "stall", "dram_rd", "dram_wr", "sram_rd", "sram_wr", "e_sram")
    _CACHE_MAX = 1 << 18  # (layer shape, w, a) entries kept per config

    def _cached_table(
        self, uniq: np.ndarray, wv: np.ndarray, av: np.ndarray
    ) -> dict[str, np.ndarray]:
        """:meth:`_table`, remembered per unique layer shape and width pair for this config (a
        search, ``simulate`` and the monotone tables ask for the same layers again): only the
        layer shapes with a width pair not seen before are searched, at every pair asked for.
        The cached values are the exact search results, so cached and fresh tables are equal."""
        cache = self.__dict__.setdefault("_bf_cache", {})
        blocks = self.__dict__.setdefault("_bf_blocks", {})  # the same width grid again: fast
        rows = [tuple(float(x) for x in row) for row in uniq]
        grid = (tuple(wv.tolist()), tuple(av.tolist()))
        if all((rk, grid) in blocks for rk in rows):
            got = np.stack([blocks[(rk, grid)] for rk in rows], axis=2)  # (nW, nA, nU, K)
            return {k: got[..., n] for n, k in enumerate(self._KEYS)}
        pairs = [(float(w), float(a)) for w in wv for a in av]
        todo = [i for i, rk in enumerate(rows) if any((rk, *wa) not in cache for wa in pairs)]
        got = None
        if todo:
            if len(cache) + len(todo) * len(pairs) > self._CACHE_MAX:
                cache.clear()
                blocks.clear()
            fresh = self._table(uniq[todo], wv, av)
            stack = np.stack([fresh[k] for k in self._KEYS], axis=-1)  # (nW, nA, nT, K)
            per_row = stack.transpose(2, 0, 1, 3).reshape(len(todo), len(pairs), -1)
            for t, i in enumerate(todo):
                cache.update(zip([(rows[i], *wa) for wa in pairs], per_row[t], strict=True))
            if len(todo) == len(rows):  # every layer fresh (a first call): no gathering
                got = stack
        if got is None:
            got = np.array([[[cache[(rk, w, a)] for rk in rows] for a in av] for w in wv])
        if len(blocks) > 4096:
            blocks.clear()
        for u, rk in enumerate(rows):
            blocks[(rk, grid)] = got[:, :, u]
        return {k: got[..., n] for n, k in enumerate(self._KEYS)}

    def _table(self, uniq: np.ndarray, wv: np.ndarray, av: np.ndarray) -> dict[str, np.ndarray]:
        """Best tiling and loop order per unique layer (rows of ``uniq``) and width pair:
        metric -> (nW, nA, nU).

        Exact, but organised to stay fast (a search queries it often): stage 0 bounds, per
        operand and tiling, the first fill and the traffic over all 120 loop orders (weights per
        (w, pf), inputs per a, outputs once) and computes the compute cycles once per (pf,
        passes) class; stage 1 keeps, per width pair, the tilings whose lower bound does not
        exceed the exact cycles of the most promising tiling, then tightens that upper bound on
        the survivors alone with the next most promising tilings; stage 2 evaluates the exact
        cycles of what survives under every order that can differ (orders equal once one-trip
        loops are dropped are evaluated once, orders whose traffic alone exceeds the upper bound
        not at all); stage 3 breaks ties at the minimum by energy, as the simulator does, and
        evaluates every metric of the winner with the same code. Every bound is a true bound,
        so the result is the exhaustive search's (``tests/test_bitfusion_pinned.py``).
        """
        p = self.params
        M = p.array.cols
        mem = p.memory
        h_w, h_a, h_o = (
            b.tile_bits for b in (mem.weight_buffer, mem.input_buffer, mem.output_buffer)
        )
        cands, groups = [], []
        for row in uniq:
            B, OH, OW, KH, KW, SH, SW, C, Mo, G, im2 = (int(x) for x in row)
            key = (B, OH, OW, KH, KW, SH, SW, C // G, Mo // G)
            cands.append(_candidates(key, bool(im2), M, h_o, int(mem.psum_bits)))
            groups.append(G)
        counts = np.asarray([c.red.size for c in cands])
        if np.any(counts == 0):
            self._no_fit(uniq[int(np.argmin(counts))])
        cat = {
            f: np.concatenate([getattr(c, f) for c in cands], axis=1 if f == "trips" else 0)
            for f in _Cands._fields
            if f not in _BUILD_ONLY
        }
        cat["slot_start"] = np.cumsum(cat["n_slots"]) - cat["n_slots"]
        nW, nA, nU = wv.size, av.size, len(cands)
        pf, passes = self.perf_factor(wv.reshape(-1, 1), av.reshape(1, -1))  # (nW, nA)
        # ---- stage 0: per operand, bounds over all orders, on the operand's own grid. The
        # weight operand depends on (w, pf) only: it is evaluated once per distinct pair.
        wpf = np.stack([np.broadcast_to(wv.reshape(-1, 1), pf.shape), pf]).reshape(2, -1)
        wk, kidx = np.unique(wpf, axis=1, return_inverse=True)
        kidx = kidx.reshape(pf.shape)
        sub = cat["sub"]
        tw = self._weight_tile(cat, wk[0].reshape(-1, 1), wk[1].reshape(-1, 1))  # (nK, R)
        ta = cat["act_el"] * av.reshape(-1, 1)  # (nA, R)
        to = self._out_tile(cat)  # (R,)
        fw0, fw1 = _fill_bounds(tw, cat["ps_wgt"], cat["gr_wgt"], h_w)
        fa0, fa1 = _fill_bounds(ta, cat["ps_act"], cat["gr_act"], h_a)
        fo0, fo1 = _fill_bounds(to, cat["ps_out"], cat["gr_out"], h_o)
        # compute cycles depend on the pair through (pf, passes) only: one row per class
        cls = np.stack([pf, passes]).reshape(2, -1)
        ck, cidx = np.unique(cls, axis=1, return_inverse=True)
        cidx = cidx.reshape(pf.shape)
        cvals = self._compute(cat, ck[0].reshape(-1, 1), ck[1].reshape(-1, 1))  # (nC, R)
        # ---- stage 1: a lower bound over the orders prunes tilings that cannot be the fastest
        # (infinite where a weight or input tile does not fit half its buffer)
        ifw = mem.dram.bw_bits_per_cycle
        R = int(counts.sum())
        seg_r = np.repeat(np.arange(nU), counts)
        starts = np.concatenate([[0], np.cumsum(counts[:-1])])
        dw, da, do = (t * sub[:, _DEPS[k]] for k, t in (("wgt", tw), ("act", ta), ("out", to)))
        bad_w = np.where(tw <= h_w, 0.0, np.inf)
        bad_a = np.where(ta <= h_a, 0.0, np.inf)
        # cycles >= max(compute, mid / if_width) + fill and drain time, with mid at least the
        # least traffic less the largest first fills; and >= all traffic / if_width
        lb = (dw - fw1 + 2.0 * (do - fo1))[kidx]
        lb += (da - fa1)[None]
        lb /= ifw
        np.ceil(lb, out=lb)
        np.maximum(lb, cvals[cidx], out=lb)
        x = (fw0 + fo0)[kidx]
        x += fa0[None]
        x /= ifw
        np.ceil(x, out=x)
        x += np.ceil(fo0 / ifw)
        lb += x
        x = (dw + 2.0 * do + bad_w)[kidx]
        x += (da + bad_a)[None]
        x /= ifw
        np.ceil(x, out=x)
        np.maximum(lb, x, out=lb)
        del x
        if not np.all(np.isfinite(np.minimum.reduceat(lb, starts, axis=-1))):
            bad = np.nonzero(~np.isfinite(np.minimum.reduceat(lb, starts, axis=-1)))
            self._no_fit(uniq[int(bad[2][0])])
        stage0 = {
            # per entry (weight class, input width, tiling): largest first fills (bits) and
            # the fill and drain time bound (cycles) of stage 1
            "fill_max": lambda k, a, r: fw1[k, r] + fa1[a, r] + 2.0 * fo1[r],
            "fill_min": lambda k, a, r: (
                np.ceil((fw0[k, r] + fa0[a, r] + fo0[r]) / ifw) + np.ceil(fo0[r] / ifw)
            ),
        }
        stage0 |= {"cvals": cvals, "cidx": cidx, "tw": tw, "ta": ta, "to": to, "kidx": kidx, "R": R}
        # upper bound: the exact cycles (best order) of the tiling with the least lower bound
        jw, ja = (np.indices((nW, nA, nU))[i].ravel() for i in (0, 1))
        ends = np.r_[starts[1:], R]
        jr = np.stack(
            [np.argmin(lb[:, :, s0:s1], axis=-1) + s0 for s0, s1 in zip(starts, ends, strict=True)],
            axis=-1,
        ).ravel()  # (nW * nA * nU,): the first tiling of least lower bound in each group
        ub = self._best_cycles(cat, jw, ja, jr, stage0)[0]
        iw, ia, ir = np.nonzero(lb <= ub.reshape(nW, nA, nU)[:, :, seg_r])
        # then, on the survivors only, a few more rounds: the exact cycles of each group's next
        # tiling by lower bound tighten the upper bound and prune (groups with few survivors
        # are left to stage 2)
        grp = (iw * nA + ia) * nU + seg_r[ir]  # non-decreasing
        lbs = lb[iw, ia, ir]
        done = ir == jr[grp]
        for _ in range(_UB_ROUNDS):
            new = np.r_[True, grp[1:] != grp[:-1]]
            gs = np.flatnonzero(new)
            open_ = np.add.reduceat((~done).astype(np.intp), gs)
            cand = np.where(done | (open_ < _UB_MIN_OPEN)[np.cumsum(new) - 1], np.inf, lbs)
            m = np.minimum.reduceat(cand, gs)
            first = np.minimum.reduceat(
                np.where(cand == m[np.cumsum(new) - 1], np.arange(cand.size), cand.size), gs
            )
            first = first[first < cand.size]
            first = first[np.isfinite(cand[first])]
            if first.size == 0:
                break
            got = self._best_cycles(cat, iw[first], ia[first], ir[first], stage0, ub[grp[first]])[0]
            ub[grp[first]] = np.minimum(ub[grp[first]], got)
            done[first] = True
            keep = lbs <= ub[grp]
            iw, ia, ir, grp, lbs, done = (x[keep] for x in (iw, ia, ir, grp, lbs, done))
        # ---- stage 2: exact cycles of the surviving (width pair, tiling) x every order
        cmin, rep, o, cyc = self._best_cycles(cat, iw, ia, ir, stage0, ub[grp])
        # grp: non-decreasing, every group present
        # ---- stage 3: energy of the candidates at the minimum; keep the least per group
        gs = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
        gid = np.cumsum(np.r_[True, grp[1:] != grp[:-1]]) - 1
        gmin = np.minimum.reduceat(cmin, gs)
        at_min = np.flatnonzero(cyc == gmin[gid[rep]])
        k = rep[at_min]
        o = cat["slot_order"][cat["slot_start"][ir[k]] + o[at_min]]
        r, jw, ja, gt = ir[k], iw[k], ia[k], gid[k]
        st = np.flatnonzero(np.r_[True, gt[1:] != gt[:-1]])
        n_at = np.diff(np.r_[st, gt.size])
        e = np.zeros(gt.size)  # a group's only candidate needs no energy to win
        t = np.flatnonzero(np.repeat(n_at > 1, n_at))
        if t.size:
            x = (r[t], wv[jw[t]], av[ja[t]], pf[jw[t], ja[t]], passes[jw[t], ja[t]], o[t])
            e[t] = self._metrics(cat, *x, full=True)["energy"]
        emin = np.minimum.reduceat(e, st)
        pick = np.minimum.reduceat(np.where(e == emin[gt], np.arange(e.size), e.size), st)
        assert pick.size == nW * nA * nU
        r, o, jw, ja = r[pick], o[pick], jw[pick], ja[pick]
        met = self._metrics(cat, r, wv[jw], av[ja], pf[jw, ja], passes[jw, ja], o, full=True)
        g = np.tile(np.asarray(groups, dtype=np.float64), nW * nA)
        return {k: (met[k] * g).reshape(nW, nA, nU) for k in self._KEYS}

    def _best_cycles(self, cat, iw, ia, ir, st, ub=None):
        """Exact cycles of tilings ``ir`` at width pairs (``iw``, ``ia``) under every order that
        can differ: (least cycles per entry, entry of each evaluated order, slot of the order in
        the tiling's canonical list, their cycles), evaluated orders entry by entry in slot
        order. ``st``: stage-0 arrays (compute cycles per (pf, passes) class, operand tiles,
        bounds). Weight and input traffic is evaluated once per distinct (width class, tiling,
        order); output traffic comes from the slot tables.

        With ``ub`` (cycles, per entry), what cannot reach it is skipped, an entry left without
        orders getting infinite cycles: entries whose least traffic over the orders of weights
        and outputs together plus the inputs' least (or of inputs and outputs plus the weights'
        least) needs more cycles; then orders whose weight and output traffic plus the inputs'
        least does; then orders whose exact traffic does."""
        mem = self.params.memory
        R, ifw = st["R"], mem.dram.bw_bits_per_cycle
        cnt_r, slot0, sub = cat["n_slots"], cat["slot_start"], cat["sub"]
        out_t, out_f = cat["out_t"], cat["out_f"]
        kw = st["kidx"][iw, ia]
        ops = {}
        for op, key, tile, half in (
            ("wgt", kw * R + ir, st["tw"].ravel(), mem.weight_buffer.tile_bits),
            ("act", ia * R + ir, st["ta"].ravel(), mem.input_buffer.tile_bits),
        ):
            size = tile.size
            u, inv = _dense_unique(key, size)  # entry -> its (class, tiling) u
            ur = u % R
            ucnt = cnt_r[ur]
            ustart = np.cumsum(ucnt) - ucnt
            urep = np.repeat(np.arange(u.size), ucnt)  # (u, slot) -> u
            g = slot0[ur][urep] + (np.arange(urep.size) - ustart[urep])  # (u, slot) -> slot
            t, f = _slot_traffic(
                tile[u][urep], sub[ur, _DEPS[op]][urep], cat[f"pp_{op}"], cat[f"fp_{op}"], g, half
            )
            ops[op] = (t, f, ustart, inv, urep, t + 2.0 * out_t[g])
        tw_, fw_, sw, iwk, uw, two = ops["wgt"]
        ta_, fa_, sa, iak, _, tao = ops["act"]
        compute = st["cvals"][st["cidx"][iw, ia], ir]
        if ub is None:
            keep_e = np.arange(ir.size)
            cnt = cnt_r[ir]
            rep = np.repeat(keep_e, cnt)
            j = np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        else:
            min_a = np.minimum.reduceat(ta_, sa)[iak]
            lo_t = np.maximum(
                np.minimum.reduceat(two, sw)[iwk] + min_a,
                np.minimum.reduceat(tw_, sw)[iwk] + np.minimum.reduceat(tao, sa)[iak],
            )
            lo = np.maximum(
                np.maximum(compute, np.ceil((lo_t - st["fill_max"](kw, ia, ir)) / ifw))
                + st["fill_min"](kw, ia, ir),
                np.ceil(lo_t / ifw),
            )
            keep_e = np.flatnonzero(lo <= ub)
            # per (weight class, tiling): the orders that some kept entry may still need
            # (bits; with slack for rounding, the exact test follows)
            cap = np.full(sw.size, -np.inf)
            np.maximum.at(cap, iwk[keep_e], (ub * ifw - min_a)[keep_e])
            alive = two <= cap[uw] * (1.0 + 1e-9) + 1.0
            live = np.flatnonzero(alive)
            n_live = np.add.reduceat(alive.astype(np.intp), sw)
            cnt = n_live[iwk[keep_e]]
            rep = np.repeat(keep_e, cnt)
            first = np.repeat((np.cumsum(n_live) - n_live)[iwk[keep_e]] - np.cumsum(cnt) + cnt, cnt)
            j = live[first + np.arange(rep.size)] - sw[iwk[rep]]
        g = slot0[ir[rep]] + j
        xw = sw[iwk[rep]] + j
        xa = sa[iak[rep]] + j
        if ub is not None:
            keep = np.ceil((two[xw] + ta_[xa]) / ifw) <= ub[rep]
            rep, j, g, xw, xa = rep[keep], j[keep], g[keep], xw[keep], xa[keep]
        f = fw_[xw]
        mid = tw_[xw] - f
        fill = f.copy()
        f = fa_[xa]
        mid += ta_[xa] - f
        fill += f
        drain = out_f[g]
        mid += 2.0 * (out_t[g] - drain)
        fill += drain
        cyc, _ = self._combine(compute[rep], mid, fill, drain)
        cmin = np.full(ir.size, np.inf)
        if rep.size:
            seg = np.flatnonzero(np.r_[True, rep[1:] != rep[:-1]])
            cmin[rep[seg]] = np.minimum.reduceat(cyc, seg)
        return cmin, rep, j, cyc

    def _no_fit(self, row: np.ndarray) -> None:
        B, OH, OW, KH, KW, _, _, C, Mo, G = (int(x) for x in row[:10])
        mem = self.params.memory
        raise HwsimError(
            f"bitfusion: no tiling of a layer (C={C // G}, M={Mo // G}, kernel {KH}x{KW},"
            f" output {OH}x{OW}, batch {B}) fits half of the buffers (weight_buffer"
            f" {mem.weight_buffer.size_kib} KiB, input_buffer {mem.input_buffer.size_kib} KiB,"
            f" output_buffer {mem.output_buffer.size_kib} KiB)"
        )

    def _compute(self, c: dict[str, np.ndarray], pf: np.ndarray, passes: np.ndarray) -> np.ndarray:
        """Compute cycles of a layer tiled as ``c``: n_tiles x the per-tile closed form."""
        N, M = self.params.array.rows, self.params.array.cols
        n_tiles = np.prod(c["trips"], axis=0)
        per_tile = c["pix"] * np.ceil(c["oc"] / M) * c["kk_outer"] * np.ceil(c["red"] / (N * pf))
        return n_tiles * per_tile * passes

    def _weight_tile(self, c: dict[str, np.ndarray], w: np.ndarray, pf: np.ndarray) -> np.ndarray:
        """Weight tile, bits: the row reduction padded to N x pf."""
        npf = self.params.array.rows * pf
        return np.ceil(c["kkic"] / npf) * npf * c["oc"] * w

    def _out_tile(self, c: dict[str, np.ndarray]) -> np.ndarray:
        """Output tile (psum_bits wide partial sums, columns padded to M), bits."""
        M = self.params.array.cols
        return c["pix"] * np.ceil(c["oc"] / M) * M * float(self.params.memory.psum_bits)

    def _combine(self, compute, mid, fill, drain):
        """(cycles, stall cycles): the simulator's max(compute, memory) + fill + drain.

        ``mid``: DRAM bits beyond the first fill and the last drain, ``fill``: bits of the first
        resident block of every operand, ``drain``: bits of the last output write-back.
        """
        ifw = self.params.memory.dram.bw_bits_per_cycle
        mem_cycles = np.ceil(mid / ifw)
        lat = np.ceil(fill / ifw) + np.ceil(drain / ifw)
        cycles = np.maximum(compute, mem_cycles) + lat
        with np.errstate(invalid="ignore"):
            return cycles, cycles - compute

    def _metrics(
        self,
        cat: dict[str, np.ndarray],
        r: np.ndarray,
        w: np.ndarray,
        a: np.ndarray,
        pf: np.ndarray,
        passes: np.ndarray,
        order: np.ndarray,
        full: bool,
    ) -> dict[str, np.ndarray]:
        """Cycles (and with ``full`` every count and energy) of tilings ``r`` (indices into the
        candidates ``cat``) run in loop orders ``order`` at widths ``w``/``a`` (bits), all flat
        and of one length. Units: cycles, bits, pJ."""
        p = self.params
        N, M = p.array.rows, p.array.cols
        mem = p.memory
        ps = float(mem.psum_bits)
        wb, ib, ob = mem.weight_buffer, mem.input_buffer, mem.output_buffer
        names = ("trips", "red", "kk_outer", "pix", "oc", "macs_tile", "act_el", "kkic")
        c = {k: cat[k][..., r] for k in names}
        sub = cat["sub"]
        compute = self._compute(c, pf, passes)
        tile_w, tile_a, tile_o = self._weight_tile(c, w, pf), c["act_el"] * a, self._out_tile(c)
        tw, fw = _traffic(tile_w, sub, r, wb.tile_bits, "wgt", order)
        ta, fa = _traffic(tile_a, sub, r, ib.tile_bits, "act", order)
        to, fo = _traffic(tile_o, sub, r, ob.tile_bits, "out", order)
        mid = (tw - fw) + (ta - fa) + 2.0 * (to - fo)
        cycles, stall = self._combine(compute, mid, fw + fa + fo, fo)
        cycles = np.where((tile_w <= wb.tile_bits) & (tile_a <= ib.tile_bits), cycles, np.inf)
        if not full:
            return {"cycles": cycles}
        dram_rd = tw + ta + to  # outputs are read back as often as written (the simulator's count)
        # buffer accesses inside a tile: the simulator's IS / OS / WS choice by bits moved
        npf = N * pf
        n_tiles = np.prod(c["trips"], axis=0)
        red_pad = np.ceil(c["red"] / npf)
        is_loop = np.ceil(c["oc"] / M) * M
        os_loop = red_pad * npf * c["kk_outer"]
        ws_loop = c["pix"]
        e_is = os_loop * ws_loop * (a + is_loop * (w + ps))
        e_os = is_loop * ws_loop * (ps + os_loop * (a + w))
        e_ws = os_loop * is_loop * (w + ws_loop * (a + ps))
        mt = c["macs_tile"]
        use_is = (e_is <= e_os) & (e_is <= e_ws)
        use_os = ~use_is & (e_os <= e_ws)
        k = n_tiles * passes
        act_rd = np.where(use_is, c["kkic"] * c["pix"], mt) * a * k
        wgt_rd = np.where(use_is | use_os, mt, c["kkic"] * c["oc"]) * w * k
        out_rw = np.where(use_os, c["oc"] * c["pix"], mt) * ps * k
        e_sram = (
            act_rd * ib.read_pj_per_bit
            + wgt_rd * wb.read_pj_per_bit
            + (out_rw + to) * (ob.read_pj_per_bit + ob.write_pj_per_bit)
            + tw * wb.write_pj_per_bit
            + ta * ib.write_pj_per_bit
        )
        e_dram = dram_rd * mem.dram.read_pj_per_bit + to * mem.dram.write_pj_per_bit
        energy = compute * p.energy.mac.array_pj_per_cycle + e_sram + e_dram
        return {
            "cycles": cycles,
            "compute": compute,
            "stall": stall,
            "dram_rd": dram_rd,
            "dram_wr": to,
            "sram_rd": act_rd + wgt_rd + out_rw + to,
            "sram_wr": out_rw + tw + ta + to,
            "e_sram": e_sram,
            "energy": energy,
        }
