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
``ih*iw*ic*b*a`` (im2col: ``oh*ow*kh*kw*ic*b*a``), outputs ``oh*ow*ceil(oc/M)*M*b*32``. For each
loop order the DRAM traffic of an operand is its tile size times the trip counts of the loops it
depends on, times the trip counts of the loops it does not depend on that sit outside the
innermost block of loops whose data still fits half its buffer (the simulator's "promotion").
Outputs move as 32-bit partial sums; like the simulator, every output write to DRAM is matched
by a read of the same size (accumulation into DRAM). One simplification: the simulator permutes
5 tile loops (120 orders); the three spatial loops (batch, rows, columns) have the same data
dependencies, so here they are one loop and the 6 orders of (spatial, in-channel, out-channel)
are searched. Inside a tile the buffer access order (input-, output- or weight-stationary) is
chosen by the simulator's estimate of bits moved.

Timing. ``stall = max(0, ceil(mid_bits/if_width) - compute) + ceil(fill_bits/if_width)
+ ceil(drain_bits/if_width)`` where fill is the first resident block of every operand and drain
the last outputs; ``cycles = compute + stall``. The best tiling and order has the fewest cycles,
then the least energy. Energy (pJ) = core pJ/cycle x compute cycles + buffer bits x pJ/bit +
DRAM bits x pJ/bit + static power x time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from pydantic import Field, model_validator

from ..components import Buffer, Dram, Energy, Tech, assemble
from ..config import Section
from ..errors import HwsimError
from ..workload import LayerArrays
from .base import Accelerator, register

_ORDERS = (  # outer -> inner, loops: 0 spatial (B, OH, OW), 1 input channels, 2 output channels
    (0, 1, 2),
    (0, 2, 1),
    (1, 0, 2),
    (1, 2, 0),
    (2, 0, 1),
    (2, 1, 0),
)
# per operand: the loops it depends on and the one it does not
_DEPS = {"wgt": ((1, 2), 0), "act": ((0, 1), 2), "out": ((0, 2), 1)}


def _order_tables(deps: tuple[int, int], free_loop: int) -> tuple[np.ndarray, np.ndarray]:
    """Per order: the inner one of the two dependent loops, and the position of the independent
    loop counted from the innermost (0 innermost, 2 outermost)."""
    inner, pos = [], []
    for order in _ORDERS:
        inner_first = order[::-1]
        inner.append(min(deps, key=inner_first.index))
        pos.append(inner_first.index(free_loop))
    return np.asarray(inner), np.asarray(pos)


_TABLES = {k: _order_tables(*v) for k, v in _DEPS.items()}


def _canonical_orders() -> np.ndarray:
    """canon[pattern, order]: whether ``order`` is the first of the orders that are the same once
    the loops with one trip are dropped (pattern bit l set: loop l has one trip). Equivalent
    orders give identical costs, so only one of them is evaluated."""
    canon = np.zeros((8, len(_ORDERS)), dtype=bool)
    for pattern in range(8):
        seen = set()
        for o, order in enumerate(_ORDERS):
            red = tuple(lp for lp in order if not (pattern >> lp) & 1)
            canon[pattern, o] = red not in seen
            seen.add(red)
    return canon


_CANON = _canonical_orders()


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

    n_sp: np.ndarray  # spatial tile trips (batch x rows x cols)
    n_ic: np.ndarray
    n_oc: np.ndarray
    red: np.ndarray  # reduction elements per tile handled by the rows (ic, or kh*kw*ic for im2col)
    kk_outer: (
        np.ndarray
    )  # kernel positions looped outside the row reduction (kh*kw, or 1 for im2col)
    pix: np.ndarray  # b * oh * ow per tile
    oc: np.ndarray
    macs_tile: np.ndarray  # kh*kw*ic*oc*b*oh*ow
    act_el: np.ndarray  # input elements per tile
    kkic: np.ndarray  # kh*kw*ic


def _pow2_tiles(n: int, step: int = 1) -> list[int]:
    """The simulator's power-of-two tile sizes: min(2**k * step, n), k = 0..ceil(log2(ceil(n/step)))."""
    top = int(np.ceil(np.log2(max(1.0, np.ceil(n / step)))))
    return sorted({min((1 << k) * step, n) for k in range(top + 1)})


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
    n_sp = np.ceil(B / b) * np.ceil(OH / oh) * np.ceil(OW / ow)
    if im2col:
        red, kk_outer = kk * ic, np.ones_like(ic)
        act_el = oh * ow * kk * ic * b
    else:
        red, kk_outer = ic, np.full_like(ic, kk)
        act_el = (KH + (oh - 1) * SH) * (KW + (ow - 1) * SW) * ic * b
    return _Cands(
        n_sp=n_sp,
        n_ic=np.ceil(IC / ic),
        n_oc=np.ceil(OC / oc),
        red=red,
        kk_outer=kk_outer,
        pix=b * oh * ow,
        oc=oc,
        macs_tile=kk * ic * oc * b * oh * ow,
        act_el=act_el,
        kkic=kk * ic,
    )


def _traffic(
    tile: np.ndarray, n: tuple[np.ndarray, ...], half: float, operand: str, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(DRAM bits, first-fill bits) of one operand under loop order(s) ``order`` (indices into
    ``_ORDERS``; broadcasts with ``tile`` and the trip counts ``n`` of the 3 loops).

    The simulator's promotion: going from the innermost loop outwards, the operand's resident
    block grows by the trip count of each loop it depends on while it fits ``half`` (bits); loops
    it does not depend on are free inside that block and multiply its traffic outside it.
    """
    (d_a, d_b), u = _DEPS[operand]
    inner_tab, pos_tab = _TABLES[operand]
    inner, pos = inner_tab[order], pos_tab[order]
    n1 = np.where(inner == d_a, n[d_a], n[d_b])
    s1 = tile * n1
    s2 = tile * (n[d_a] * n[d_b])
    f1 = s1 <= half
    f2 = f1 & (s2 <= half)
    free = (pos == 0) | ((pos == 1) & f1) | f2
    traffic = np.where(free, s2, s2 * n[u])
    fill = np.where(f2, s2, np.where(f1, s1, tile))
    return traffic, fill


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
        res = self._table(uniq, wv, av)  # metric -> (nW, nA, nU)
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

    def _table(self, uniq: np.ndarray, wv: np.ndarray, av: np.ndarray) -> dict[str, np.ndarray]:
        """Best tiling per unique layer (rows of ``uniq``) and width pair: metric -> (nW, nA, nU).

        Exact, but organised to stay fast (a search queries it often): stage 0 costs each operand
        under each loop order on its own grid (weights per (w, pf), inputs per a, outputs once);
        stage 1 prunes, per width pair, the tilings whose lower bound over all orders exceeds the
        exact cycles of the most promising tiling; stage 2 evaluates the exact cycles of what
        survives under every order; stage 3 breaks ties at the minimum by energy, as the
        simulator does, and evaluates every metric of the winner with the same code.
        """
        p = self.params
        M = p.array.cols
        h_o = p.memory.output_buffer.tile_bits
        cands, groups = [], []
        for row in uniq:
            B, OH, OW, KH, KW, SH, SW, C, Mo, G, im2 = (int(x) for x in row)
            key = (B, OH, OW, KH, KW, SH, SW, C // G, Mo // G)
            cands.append(_candidates(key, bool(im2), M, h_o, int(p.memory.psum_bits)))
            groups.append(G)
        counts = np.asarray([c.n_sp.size for c in cands])
        if np.any(counts == 0):
            self._no_fit(uniq[int(np.argmin(counts))])
        cat = {f: np.concatenate([getattr(c, f) for c in cands]) for f in _Cands._fields}
        nW, nA, nO = wv.size, av.size, len(_ORDERS)
        pf, passes = self.perf_factor(wv.reshape(-1, 1), av.reshape(1, -1))  # (nW, nA)
        # ---- stage 0: per operand, what each order costs, on the operand's own grid. The weight
        # operand depends on (w, pf) only: it is evaluated once per distinct pair and gathered.
        # Orders lie on the leading axis so that reductions over them are fast.
        orders = np.arange(nO).reshape(-1, 1, 1)
        wpf = np.stack([np.broadcast_to(wv.reshape(-1, 1), pf.shape), pf]).reshape(2, -1)
        wk, kidx = np.unique(wpf, axis=1, return_inverse=True)
        kidx = kidx.reshape(pf.shape)
        wt, wf, w_ok = self._weight_part(cat, wk[0].reshape(-1, 1), wk[1].reshape(-1, 1), orders)
        at, af, a_ok = self._input_part(cat, av.reshape(-1, 1), orders)  # (nO, nA, R)
        ot, of = self._output_part(cat, orders[:, 0])  # (nO, R)
        # inputs and outputs together (integer-valued bit counts: the sums are exact in any order)
        aot, aof = at + ot[:, None], af + of[:, None]
        trivial = (cat["n_sp"] == 1) + 2 * (cat["n_ic"] == 1) + 4 * (cat["n_oc"] == 1)
        aot = np.where(_CANON[trivial].T[:, None], aot, np.inf)  # evaluate one of equivalent orders
        compute = self._compute(cat, pf[:, :, None], passes[:, :, None])
        compute = np.where(w_ok[kidx] & a_ok[None], compute, np.inf)  # (nW, nA, R)
        # ---- stage 1: a lower bound over the orders prunes tilings that cannot be the fastest
        ifw = p.memory.dram.bw_bits_per_cycle
        R = int(counts.sum())
        seg_r = np.repeat(np.arange(len(cands)), counts)
        starts = np.concatenate([[0], np.cumsum(counts[:-1])])
        lb_m = np.ceil((wt.min(axis=0)[kidx] + aot.min(axis=0)[None]) / ifw)
        lb_f = np.ceil((wf.min(axis=0)[kidx] + aof.min(axis=0)[None]) / ifw)
        lb = np.maximum(compute, lb_m) + lb_f + np.ceil(of.min(axis=0) / ifw)
        # upper bound: the exact cycles (best order) of the tiling with the least lower bound
        lb_min = np.minimum.reduceat(lb, starts, axis=-1)
        pos = np.where(lb == lb_min[:, :, seg_r], np.arange(R), R)
        jr = np.minimum.reduceat(pos, starts, axis=-1)  # (nW, nA, nU)
        jw, ja = np.indices(jr.shape)[:2]
        jk = kidx[jw, ja]
        ub, _ = self._combine(
            compute[jw, ja, jr],
            wt[:, jk, jr],
            aot[:, ja, jr],
            wf[:, jk, jr],
            aof[:, ja, jr],
            of[:, jr],
        )
        iw, ia, ir = np.nonzero(lb <= ub.min(axis=0)[:, :, seg_r])
        # ---- stage 2: exact cycles of the surviving (width pair, tiling) x every order
        kr = kidx[iw, ia] * R + ir
        ar = ia * R + ir
        cyc, _ = self._combine(
            np.take(compute, (iw * nA + ia) * R + ir),
            np.take(wt.reshape(nO, -1), kr, axis=1),
            np.take(aot.reshape(nO, -1), ar, axis=1),
            np.take(wf.reshape(nO, -1), kr, axis=1),
            np.take(aof.reshape(nO, -1), ar, axis=1),
            np.take(of, ir, axis=1),
        )
        cyc = cyc.T  # (K, nO)
        grp = (iw * nA + ia) * len(cands) + seg_r[ir]  # non-decreasing, every group present
        gstart = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
        cmin = np.minimum.reduceat(cyc.min(axis=-1), gstart)
        if not np.all(np.isfinite(cmin)):
            self._no_fit(uniq[int(grp[gstart[np.argmax(~np.isfinite(cmin))]] % len(cands))])
        # ---- stage 3: energy of the candidates at the minimum; keep the least per group
        gid = np.cumsum(np.r_[True, grp[1:] != grp[:-1]]) - 1
        tk, o = np.nonzero(cyc == cmin[gid][:, None])  # row-major: groups stay in order
        r, iw, ia, gt = ir[tk], iw[tk], ia[tk], gid[tk]
        sub = {k: v[r] for k, v in cat.items()}
        e = self._metrics(sub, wv[iw], av[ia], pf[iw, ia], passes[iw, ia], o, full=True)["energy"]
        st = np.flatnonzero(np.r_[True, gt[1:] != gt[:-1]])
        emin = np.minimum.reduceat(e, st)
        pick = np.minimum.reduceat(np.where(e == emin[gt], np.arange(e.size), e.size), st)
        assert pick.size == nW * nA * len(cands)
        r, o, iw, ia = r[pick], o[pick], iw[pick], ia[pick]
        sub = {k: v[r] for k, v in cat.items()}
        met = self._metrics(sub, wv[iw], av[ia], pf[iw, ia], passes[iw, ia], o, full=True)
        g = np.tile(np.asarray(groups, dtype=np.float64), nW * nA)
        keys = ("compute", "stall", "dram_rd", "dram_wr", "sram_rd", "sram_wr", "e_sram")
        return {k: (met[k] * g).reshape(nW, nA, len(cands)) for k in keys}

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
        n_tiles = c["n_sp"] * c["n_ic"] * c["n_oc"]
        per_tile = c["pix"] * np.ceil(c["oc"] / M) * c["kk_outer"] * np.ceil(c["red"] / (N * pf))
        return n_tiles * per_tile * passes

    def _weight_part(
        self, c: dict[str, np.ndarray], w: np.ndarray, pf: np.ndarray, order: np.ndarray
    ):
        """Weights: (DRAM bits beyond the first fill, first-fill bits, tile fits) per order."""
        npf = self.params.array.rows * pf
        tile = np.ceil(c["kkic"] / npf) * npf * c["oc"] * w
        half = self.params.memory.weight_buffer.tile_bits
        t, f = _traffic(tile, (c["n_sp"], c["n_ic"], c["n_oc"]), half, "wgt", order)
        return t - f, f, tile <= half

    def _input_part(self, c: dict[str, np.ndarray], a: np.ndarray, order: np.ndarray):
        """Input activations: (DRAM bits beyond the first fill, first-fill bits, tile fits)."""
        tile = c["act_el"] * a
        half = self.params.memory.input_buffer.tile_bits
        t, f = _traffic(tile, (c["n_sp"], c["n_ic"], c["n_oc"]), half, "act", order)
        return t - f, f, tile <= half

    def _output_part(self, c: dict[str, np.ndarray], order: np.ndarray):
        """Outputs (psum_bits wide), written and read back alike: (2 x (DRAM bits - last drain),
        drain bits)."""
        M = self.params.array.cols
        ps = float(self.params.memory.psum_bits)
        tile = c["pix"] * np.ceil(c["oc"] / M) * M * ps
        half = self.params.memory.output_buffer.tile_bits
        t, f = _traffic(tile, (c["n_sp"], c["n_ic"], c["n_oc"]), half, "out", order)
        return 2.0 * (t - f), f

    def _combine(self, compute, w_mid, ao_mid, w_fill, ao_fill, out_drain):
        """(cycles, stall cycles): the simulator's max(compute, memory) + fill + drain.

        ``*_mid``: DRAM bits beyond the first fill (weights; inputs + outputs), ``*_fill``: bits
        of the first fill, ``out_drain``: bits of the last output write-back.
        """
        ifw = self.params.memory.dram.bw_bits_per_cycle
        mem_cycles = np.ceil((w_mid + ao_mid) / ifw)
        lat = np.ceil((w_fill + ao_fill) / ifw) + np.ceil(out_drain / ifw)
        cycles = np.maximum(compute, mem_cycles) + lat
        with np.errstate(invalid="ignore"):
            return cycles, cycles - compute

    def _metrics(
        self,
        c: dict[str, np.ndarray],
        w: np.ndarray,
        a: np.ndarray,
        pf: np.ndarray,
        passes: np.ndarray,
        order: np.ndarray,
        full: bool,
    ) -> dict[str, np.ndarray]:
        """Cycles (and with ``full`` every count and energy) of tilings ``c`` run in loop order(s)
        ``order`` at widths ``w``/``a`` (bits); everything broadcasts. Units: cycles, bits, pJ."""
        p = self.params
        N, M = p.array.rows, p.array.cols
        mem = p.memory
        ps = float(mem.psum_bits)
        wb, ib, ob = mem.weight_buffer, mem.input_buffer, mem.output_buffer
        npf = N * pf
        red_pad = np.ceil(c["red"] / npf)
        n_tiles = c["n_sp"] * c["n_ic"] * c["n_oc"]
        ocM = np.ceil(c["oc"] / M)
        compute = self._compute(c, pf, passes)
        wt, wf, w_ok = self._weight_part(c, w, pf, order)
        at, af, a_ok = self._input_part(c, a, order)
        ot, of = self._output_part(c, order)
        cycles, stall = self._combine(compute, wt, at + ot, wf, af + of, of)
        cycles = np.where(w_ok & a_ok, cycles, np.inf)
        tw, ta, to = wt + wf, at + af, ot / 2.0 + of
        dram_rd = tw + ta + to  # outputs are read back as often as written (the simulator's count)
        if not full:
            return {"cycles": cycles}
        # buffer accesses inside a tile: the simulator's IS / OS / WS choice by bits moved
        is_loop = ocM * M
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
