"""FPGA dataflow accelerator in the style of hls4ml: one hardware stage per layer, all pipelined.

Every conv/linear layer is a dense engine computing one output pixel (n_out outputs from n_in =
kh*kw*C/groups inputs) with ``ceil(n_in*n_out/RF)`` multipliers (hls4ml's multiplier_limit), RF
being the layer's reuse factor. The stages run concurrently (``aggregate = "pipeline"``): the
design accepts a new image every max-over-layers II cycles, and an image's latency is the sum of
stage latencies along the graph's critical path (an upper bound for io_stream, where stages
also overlap within one image).

Timing per image (cycles), with P = output pixels, N = padded input pixels
((out_h-1)*stride+kh) x ((out_w-1)*stride+kw) (1 for linear layers) and
``depth = dense_overhead_cycles + ceil(log2(n_in) / adder_levels_per_cycle)``:

* io_parallel: the engine evaluates the P output pixels in turn: II = P*RF, latency II + depth.
* io_stream, Latency strategy: the input-pixel loop is pipelined at II = RF
  (``nnet_conv2d_stream.h``): II = N*RF, latency II + depth.
* io_stream, Resource strategy: the loop is not pipelined; a pixel that completes no window
  costs ``stream_pixel_cycles``, one that does costs RF + depth:
  II = (N-P)*stream_pixel_cycles + P*(RF + depth), latency II.

A batch of B images takes (B-1)*II + latency cycles (``compute_cycles``); ``ii_cycles`` is per
image.

Resources (counts):

* multipliers with weight width >= ``dsp_min_w_bits`` map to DSP slices,
  ``ceil(w/dsp_port_a_bits)*ceil(a/dsp_port_b_bits)`` each, and accumulate in the DSP's adder;
  narrower ones are LUT multipliers of ``lut_per_bit_product*w*a + lut_per_mult`` LUTs plus an
  accumulator adder of ``lut_per_adder_bit*(w + a + ceil(log2 n_in))`` LUTs (hls4ml's exact
  'auto' accumulator width).
* weights: with the Latency strategy or RF 1 they are constants folded into the multipliers.
  With Resource and RF > 1 they are a memory RF words deep and ``multipliers*w`` bits wide: in
  BRAM_18K when the layer has at least ``bram_min_weight_bits`` weight bits
  (``ceil(width/36)*ceil(RF/512)`` blocks as in hls4ml's own estimate, or fewer at a better
  aspect ratio from ``bram_shapes_bits_x_words``), else in LUTRAM
  (``width*ceil(RF/64)`` LUTs).
* io_stream convs keep (kh-1) lines of C channels at ``a`` bits in shift registers:
  ``ceil(bits/srl_bits_per_lut)`` LUTs. Every layer adds ``lut_per_layer`` LUTs of control.

Energy (pJ): per MAC ``dsp_mac_pj`` x DSPs per multiplier, or ``lut_mult_pj_per_bit_product*w*a
+ adder_pj_per_bit*accumulator bits``; weight reads from BRAM/LUTRAM at ``*_read_pj_per_bit``;
static power of the part x the layer's cycles. There is no DRAM: weights live on chip and
activations stream through FIFOs (host I/O is not counted).

The reuse factor of a layer comes from ``reuse``: a per-layer override, else the policy
``fixed`` (``default_rf``, snapped to the closest legal value for the Resource strategy) or
``target_ii`` (the legal candidate with the fewest resources meeting ``target_ii_cycles``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..components import Dram, Energy, MacEnergy, Tech, assemble
from ..config import Section
from ..reuse import closest_reuse_factor, legal_reuse_factors
from ..workload import LayerArrays
from .base import Accelerator, register

# ---------------------------------------------------------------------------------------------
# config


class Part(Section):
    """The FPGA part's resources (counts)."""

    name: str
    lut: int = Field(gt=0, description="6-input LUTs")
    ff: int = Field(gt=0, description="flip-flops (informative: FFs are not modelled)")
    dsp: int = Field(ge=0, description="DSP slices")
    bram_18k: int = Field(ge=0, description="18 Kib block RAMs")


class Multipliers(Section):
    dsp_min_w_bits: int = Field(ge=1, description="weights at least this wide use DSP slices")
    dsp_port_a_bits: int = Field(ge=1, description="DSP multiplier port A width, bits")
    dsp_port_b_bits: int = Field(ge=1, description="DSP multiplier port B width, bits")
    lut_per_bit_product: float = Field(ge=0, description="LUTs per w*a of a LUT multiplier")
    lut_per_mult: float = Field(ge=0, description="constant LUTs per LUT multiplier")
    lut_per_adder_bit: float = Field(ge=0, description="LUTs per accumulator bit")


class WeightMemory(Section):
    bram_min_weight_bits: int = Field(ge=0, description="smaller weight arrays go to LUTRAM")
    bram_shapes_bits_x_words: list[tuple[int, int]] = Field(
        min_length=1, description="BRAM_18K aspect ratios (width bits, depth words)"
    )
    lutram_depth_words: int = Field(default=64, ge=1, description="words per LUT as RAM64X1")
    srl_bits_per_lut: int = Field(
        default=32, ge=1, description="shift-register bits per LUT (SRL32)"
    )


class Timing(Section):
    dense_overhead_cycles: int = Field(ge=0, description="fixed cycles of one dense evaluation")
    adder_levels_per_cycle: float = Field(gt=0, description="adder-tree levels per clock")
    stream_pixel_cycles: float = Field(ge=0, description="cycles per streamed pixel without output")
    lut_per_layer: float = Field(ge=0, description="control LUTs per layer")


class FpgaEnergy(Section):
    lut_mult_pj_per_bit_product: float = Field(
        ge=0, description="pJ per MAC per w*a, LUT multiplier"
    )
    adder_pj_per_bit: float = Field(ge=0, description="pJ per accumulator bit per MAC")
    dsp_mac_pj: float = Field(ge=0, description="pJ per MAC per DSP slice")
    bram_read_pj_per_bit: float = Field(ge=0)
    lutram_read_pj_per_bit: float = Field(ge=0)
    static_mw: float = Field(ge=0, description="static power of the part, mW")


class LayerReuse(Section):
    rf: int = Field(ge=1)
    strategy: Literal["Latency", "Resource"] | None = None


class Reuse(Section):
    policy: Literal["fixed", "target_ii"] = "fixed"
    default_rf: int = Field(default=1, ge=1)
    strategy: Literal["Latency", "Resource"] = "Latency"
    target_ii_cycles: float | None = Field(default=None, gt=0)
    overrides: dict[str, LayerReuse] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Reuse:
        if self.policy == "target_ii" and self.target_ii_cycles is None:
            raise ValueError("policy target_ii needs target_ii_cycles")
        return self


class FpgaDataflowParams(Section):
    name: str | None = None
    description: str | None = None
    tech: Tech
    part: Part
    io_type: Literal["io_stream", "io_parallel"]
    reuse: Reuse = Field(default_factory=Reuse)
    multipliers: Multipliers
    weight_memory: WeightMemory
    timing: Timing
    energy: FpgaEnergy


# ---------------------------------------------------------------------------------------------
# the cost model (elementwise)


def _log2ceil(x: np.ndarray) -> np.ndarray:
    return np.ceil(np.log2(np.maximum(x, 1.0)))


def bram_blocks(
    width_bits: np.ndarray, depth_words: np.ndarray, shapes: list[tuple[int, int]]
) -> np.ndarray:
    """BRAM_18K blocks holding a memory ``width_bits`` wide and ``depth_words`` deep, at the best
    aspect ratio: min over (w, d) of ceil(width/w) * ceil(depth/d)."""
    return np.min([np.ceil(width_bits / w) * np.ceil(depth_words / d) for w, d in shapes], axis=0)


def stage_costs(
    p: FpgaDataflowParams,
    L: LayerArrays,
    w: np.ndarray,
    a: np.ndarray,
    rf: np.ndarray,
    resource: np.ndarray,
    io_type: str,
) -> dict[str, np.ndarray]:
    """One stage per layer at reuse factor ``rf`` (Resource strategy where ``resource``).

    Returns arrays (broadcast of the inputs): ii_cycles, latency_cycles (per image), mults,
    dsp, lut, bram_18k (counts), dsp_mult (bool), acc_bits, stored/in_bram (weight placement).
    """
    m, mem, t = p.multipliers, p.weight_memory, p.timing
    rf = np.asarray(rf, dtype=np.float64)
    n_in, n_out, P = L.reduction, L.cout, L.out_pixels
    hp = (L.out_h - 1) * L.sh + L.kh
    wp = (L.out_w - 1) * L.sw + L.kw
    npix = np.where(L.is_linear, 1.0, hp * wp)
    mults = np.ceil(n_in * n_out / rf)
    depth = t.dense_overhead_cycles + np.ceil(_log2ceil(n_in) / t.adder_levels_per_cycle)
    if io_type == "io_parallel":
        ii = P * rf
        lat = ii + depth
    else:
        ii_lat = npix * rf
        ii_res = (npix - P) * t.stream_pixel_cycles + P * (rf + depth)
        ii = np.where(resource, ii_res, ii_lat)
        lat = np.where(resource, ii_res, ii_lat + depth)
    dsp_mult = w >= m.dsp_min_w_bits
    dsp_per = np.ceil(w / m.dsp_port_a_bits) * np.ceil(a / m.dsp_port_b_bits)
    dsp = np.where(dsp_mult, mults * dsp_per, 0.0)
    acc = w + a + _log2ceil(n_in)
    lut_mult = np.where(
        dsp_mult,
        0.0,
        mults * (m.lut_per_bit_product * w * a + m.lut_per_mult + m.lut_per_adder_bit * acc),
    )
    stored = resource & (rf > 1)
    in_bram = stored & (n_in * n_out * w >= mem.bram_min_weight_bits)
    width = mults * w
    bram = np.where(in_bram, bram_blocks(width, rf, mem.bram_shapes_bits_x_words), 0.0)
    lutram = np.where(stored & ~in_bram, width * np.ceil(rf / mem.lutram_depth_words), 0.0)
    if io_type == "io_stream":
        lb_bits = np.where(L.is_linear, 0.0, (L.kh - 1) * wp * L.cin * a)
        lut_lb = np.ceil(lb_bits / mem.srl_bits_per_lut)
    else:
        lut_lb = 0.0
    lut = lut_mult + lutram + lut_lb + t.lut_per_layer
    out = {
        "ii_cycles": ii,
        "latency_cycles": lat,
        "mults": mults,
        "dsp": dsp,
        "lut": lut,
        "bram_18k": bram,
        "dsp_mult": dsp_mult,
        "dsp_per_mult": dsp_per,
        "acc_bits": acc,
        "stored": stored,
        "in_bram": in_bram,
    }
    shape = np.broadcast_shapes(*(np.shape(v) for v in out.values()), np.shape(rf))
    return {k: np.broadcast_to(v, shape) for k, v in out.items()}


def _candidates(L: LayerArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rf, resource, valid), each of shape ``L.reduction.shape + (K,)``: per layer, (1, Latency)
    and (rf, Resource) for every legal rf -- (rf, Latency) for depthwise layers (see
    :data:`DEPTHWISE_STRATEGY`); padded entries are invalid."""
    n_in = np.asarray(L.reduction)
    n_out = np.asarray(L.cout)
    dw = np.broadcast_to(np.asarray(L.is_depthwise, dtype=bool), n_in.shape)
    lists = {}
    for idx in np.ndindex(n_in.shape):
        key = (int(n_in[idx]), int(n_out[idx]))
        if key not in lists:
            lists[key] = legal_reuse_factors(*key)
    k = 1 + max(len(v) for v in lists.values())
    rf = np.ones(n_in.shape + (k,))
    res = np.zeros(n_in.shape + (k,), dtype=bool)
    valid = np.zeros(n_in.shape + (k,), dtype=bool)
    valid[..., 0] = True
    for idx in np.ndindex(n_in.shape):
        v = lists[(int(n_in[idx]), int(n_out[idx]))]
        rf[idx + (slice(1, 1 + len(v)),)] = v
        res[idx + (slice(1, 1 + len(v)),)] = not dw[idx]
        valid[idx + (slice(1, 1 + len(v)),)] = True
    return rf, res, valid


# hls4ml 1.3.0's depthwise convolution gives wrong results under the Resource strategy in
# io_stream (checked bit-exactly against its Latency kernel and a float64 emulation:
# tests/test_codegen_layers.py), so depthwise layers always use Latency, whatever the reuse factor.
DEPTHWISE_STRATEGY = "Latency"


def _expand(L: LayerArrays) -> LayerArrays:
    shape = np.shape(L.reduction) + (1,)
    return L.reshape(shape)


def candidate_table(
    p: FpgaDataflowParams, L: LayerArrays, w: np.ndarray, a: np.ndarray, io_type: str
) -> dict[str, np.ndarray]:
    """Every legal reuse candidate of every layer: ``{metric: array[..., K]}`` where ``...`` is
    the broadcast of L's fields, ``w`` and ``a``; plus ``rf``, ``resource`` and ``valid``."""
    rf, res, valid = _candidates(L)
    c = stage_costs(
        p,
        _expand(L),
        np.asarray(w, float)[..., None],
        np.asarray(a, float)[..., None],
        rf,
        res,
        io_type,
    )
    shape = np.shape(c["ii_cycles"])
    c = {k: np.broadcast_to(v, shape) for k, v in c.items()}
    c["rf"] = np.broadcast_to(rf, shape)
    c["resource"] = np.broadcast_to(res, shape)
    c["valid"] = np.broadcast_to(valid, shape)
    return c


def part_fraction(p: FpgaDataflowParams, c: dict[str, np.ndarray]) -> np.ndarray:
    """Resources as one number: LUT/LUT_part + DSP/DSP_part + BRAM/BRAM_part."""
    part = p.part
    return (
        c["lut"] / part.lut
        + c["dsp"] / max(part.dsp, 1e-9)
        + c["bram_18k"] / max(part.bram_18k, 1e-9)
    )


# ---------------------------------------------------------------------------------------------
# the registered kind


@register("fpga_dataflow")
class FpgaDataflow(Accelerator):
    Params = FpgaDataflowParams
    aggregate = "pipeline"

    def __init__(self, params: FpgaDataflowParams) -> None:
        super().__init__(params)
        e = params.energy
        self._energy = Energy(mac=MacEnergy(model="per_mac", e8_pj=0.0), static_mw=e.static_mw)
        self._dram = Dram(bw_bits_per_cycle=1.0)

    @property
    def freq_hz(self) -> float:
        return self.params.tech.freq_mhz * 1e6

    # ---- reuse factors ----
    def reuse_factors(
        self, L: LayerArrays, w: np.ndarray, a: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rf, resource) arrays for ``L`` at bits ``w``/``a`` under the config's ``reuse`` policy."""
        r = self.params.reuse
        names = np.asarray(getattr(L, "names", np.asarray(None, dtype=object)), dtype=object)
        n_in, n_out = np.asarray(L.reduction), np.asarray(L.cout)
        shape = np.broadcast_shapes(n_in.shape, names.shape)
        names = np.broadcast_to(names, shape)
        n_in, n_out = np.broadcast_to(n_in, shape), np.broadcast_to(n_out, shape)
        dw = np.broadcast_to(np.asarray(L.is_depthwise, dtype=bool), shape)
        rf = np.empty(shape)
        res = np.empty(shape, dtype=bool)
        over = np.zeros(shape, dtype=bool)
        for idx in np.ndindex(shape):
            o = r.overrides.get(names[idx]) if names[idx] is not None else None
            over[idx] = o is not None
            want, strat = (o.rf, o.strategy or r.strategy) if o else (r.default_rf, r.strategy)
            if dw[idx]:
                strat = DEPTHWISE_STRATEGY
            ni, no = int(n_in[idx]), int(n_out[idx])
            rf[idx] = closest_reuse_factor(ni, no, want) if strat == "Resource" else want
            res[idx] = strat == "Resource"
        if r.policy == "fixed":
            return rf, res
        c = candidate_table(self.params, L, w, a, self.params.io_type)
        cost = np.where(
            c["valid"] & (c["ii_cycles"] <= r.target_ii_cycles),
            part_fraction(self.params, c),
            np.inf,
        )
        # no candidate meets the target: the one with the smallest II
        fallback = np.argmin(np.where(c["valid"], c["ii_cycles"], np.inf), axis=-1)
        best = np.where(np.isfinite(cost).any(axis=-1), np.argmin(cost, axis=-1), fallback)[
            ..., None
        ]
        auto_rf = np.take_along_axis(c["rf"], best, axis=-1)[..., 0]
        auto_res = np.take_along_axis(c["resource"], best, axis=-1)[..., 0]
        return np.where(over, rf, auto_rf), np.where(over, res, auto_res)

    # ---- costs ----
    def evaluate(self, L: LayerArrays, w: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
        p, e = self.params, self.params.energy
        rf, res = self.reuse_factors(L, w, a)
        c = stage_costs(p, L, w, a, rf, res, p.io_type)
        ii, lat = c["ii_cycles"], c["latency_cycles"]
        compute = (L.batch - 1) * ii + lat
        macs = L.macs
        e_mac = macs * np.where(
            c["dsp_mult"],
            e.dsp_mac_pj * c["dsp_per_mult"],
            e.lut_mult_pj_per_bit_product * w * a + e.adder_pj_per_bit * c["acc_bits"],
        )
        weight_reads = np.where(c["stored"], macs * w, 0.0)
        e_sram = weight_reads * np.where(
            c["in_bram"], e.bram_read_pj_per_bit, e.lutram_read_pj_per_bit
        )
        zero = np.zeros(np.shape(compute))
        out = assemble(
            L=L,
            w=w,
            a=a,
            compute_cycles=compute,
            stall=zero,
            peak_macs_per_cycle=c["mults"],
            dram_read_bits=zero,
            dram_write_bits=zero,
            sram_read_bits=weight_reads,
            sram_write_bits=zero,
            e_sram_pj=e_sram,
            energy=self._energy,
            dram=self._dram,
            freq_hz=self.freq_hz,
            e_mac_pj=e_mac,
        )
        shape = out["cycles"].shape
        for k in ("ii_cycles", "dsp", "lut", "bram_18k"):
            out[k] = np.broadcast_to(c[k], shape).astype(np.float64)
        out["reuse_factor"] = np.broadcast_to(rf, shape).astype(np.float64)
        out["resource_strategy"] = np.broadcast_to(res, shape).astype(np.float64)
        return out

    def annotate_totals(self, totals: dict[str, float]) -> list[str]:
        """Add ``lut_util``, ``dsp_util``, ``bram_18k_util`` (fractions of the part) and ``fits``
        (1.0 or 0.0); a note for every resource over the part's capacity, and one when the
        pipeline's II misses the ``target_ii`` policy's target."""
        part = self.params.part
        notes = []
        fits = True
        for key in ("lut", "dsp", "bram_18k"):
            used, cap = totals.get(key, 0.0), float(getattr(part, key))
            totals[f"{key}_util"] = used / cap if cap else (0.0 if used == 0 else float("inf"))
            if used > cap:
                fits = False
                notes.append(
                    f"design does not fit {part.name}: needs {used:.0f} {key}, the part has {cap:.0f}"
                )
        totals["fits"] = 1.0 if fits else 0.0
        r = self.params.reuse
        if r.policy == "target_ii" and totals.get("ii_cycles", 0.0) > r.target_ii_cycles:
            notes.append(
                f"II {totals['ii_cycles']:.0f} cycles exceeds reuse.target_ii_cycles"
                f" {r.target_ii_cycles:g}: some layer cannot go faster even at RF 1"
            )
        return notes
