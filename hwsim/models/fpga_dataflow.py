"""FPGA dataflow accelerator in the style of hls4ml: one hardware stage per layer, all pipelined.

Every conv/linear layer is a dense engine computing one output pixel (n_out outputs from n_in =
kh*kw*C/groups inputs). Of its n_in*n_out weights a fraction ``weight_density`` is non-zero
(zeros fold away, hls4ml's ``n_zeros``); with reuse factor RF it instantiates
``ceil(nonzero/RF)`` multipliers (hls4ml's ``multiplier_limit``). The stages run concurrently
(``aggregate = "pipeline"``): the design accepts a new image every max-over-layers II cycles,
and an image's latency is the sum of stage latencies along the graph's critical path.

The formulas follow the C++ hls4ml generates (``nnet_dense_latency.h``,
``nnet_dense_resource.h``, ``nnet_conv2d_stream.h``, ``nnet_dense_stream.h``) and are checked
against public hls4ml reports by ``bench/hls4ml_reference.py``; the few fitted coefficients
are stated in the config with their source.

Multipliers and DSPs. At RF 1 every weight is a constant folded into the logic: a constant
times an input of at most ``lut_input_bits`` (6, a LUT6's inputs) is one LUT per product bit;
a constant narrower than ``const_dsp_min_w_bits`` is a few shifted adds; of the other constant
products HLS maps a tool-dependent fraction ``const_dsp_fraction`` to DSPs (it depends on the
trained values, which the model does not see). At RF > 1 the weights are variables: products
of more than ``lut_mult_max_bit_product`` partial-product bits use
``ceil(wide/port_a)*ceil(narrow/port_b)`` DSPs each, smaller ones are LUT multipliers of
``lut_per_bit_product*w*a`` LUTs. A constant's significant bits fit the narrow port, so a
wide constant product takes only ``ceil(wide/port_a)`` DSPs.

LUTs. Latency strategy: the accumulation is unrolled, one accumulator-wide adder
(``lut_per_adder_bit`` LUTs per bit) per non-zero product at any RF; Resource strategy: one
per multiplier. Constant products in LUTs cost ``min(w+a, acc)`` LUTs; at RF > 1 each shared
multiplier's input mux (``min(RF, n_in)`` ways) and, with the Latency strategy, weight mux
(RF ways) cost ``lut_per_mux_bit`` per bit and extra way (a LUT6 is a 4:1 mux). io_stream
convs keep (kh-1) lines in shift registers (``srl_bits_per_lut``). With Resource and RF > 1
weights are a memory RF words deep and ``multipliers*w`` bits wide: BRAM_18K at the best
aspect ratio when the layer has at least ``bram_min_weight_bits``, else LUTRAM.

BRAM_18K. Weight memories as above; io_stream FIFOs: ``fifos_per_stage`` streams of the
stage's output shape, one FIFO per channel as deep as the output pixels, in BRAM when deeper
than ``fifo_srl_max_depth``; activation tables (:func:`table_bram`, used where activations
are costed) replicated for parallel lookups.

Timing per image (cycles), with P = output pixels, N = padded input pixels, no fixed
overhead: ``depth`` = the multiply (``mult_ns`` x the DSP chain) and ``ceil(log2(density*n_in))``
adder levels (``adder_level_ns`` each) scheduled as HLS does (:func:`pipeline_depth`): atomic
operators chained within a cycle of ``clock - uncertainty``, an operator longer than that taking
several cycles. The delays are per device family (``timing.delays``, picked by ``part.family``):
a 7-series -1 part at 5 ns spends 2 cycles per multiply and one per adder level, an
UltraScale+ part does a multiply and 6 levels in one cycle.

* io_parallel: II = P*RF, latency = II - 1 + depth.
* io_stream, Latency strategy: a conv's pixel loop runs at II = RF: latency = N*RF + depth +
  ``conv_stream_cycles``; a dense layer RF + depth, plus K + 1 when its input arrives in K > 1
  stream words (a dense fed by a conv through flatten reads n_in/C words of C channels). Stream
  layers are not pipelined across images, so II = latency; the dataflow top starts the next
  image one cycle after its slowest stage (:func:`design_ii`).
* io_stream, Resource strategy: a pixel that completes no window costs
  ``stream_pixel_cycles``, one that does RF + depth: II = (N-P)*stream_pixel_cycles +
  P*(RF + depth), latency II.

``basis`` says what the numbers mean: ``hls_estimate`` (the HLS C-synthesis report) or
``synthesis`` (Vivado's post-synthesis utilisation: LUT and DSP times ``synthesis_factor``,
FIFO BRAM times its factor). ``hls_tool`` picks the per-tool coefficients (Vivado HLS <=
2020.1 or Vitis HLS).

A batch of B images takes (B-1)*II + latency cycles (``compute_cycles``).

Energy (pJ): per MAC ``dsp_mac_pj`` x DSPs per product on the DSP fraction, else
``lut_mult_pj_per_bit_product*w*a``, plus ``adder_pj_per_bit*accumulator bits``; weight reads
from BRAM/LUTRAM at ``*_read_pj_per_bit``; static power of the part x the layer's cycles. There
is no DRAM: weights live on chip and activations stream through FIFOs (host I/O is not counted).

Distributed arithmetic. hls4ml 1.3.0's ``distributed_arithmetic`` strategy (Dense and
non-grouped Conv1D/2D, RF 1, io_parallel and io_stream) builds the constant matrix-vector
product as a da4ml shift-and-add graph for the trained weights: no DSP, no weight memory, the
II of RF 1, an adder graph ``ceil(log2(density*n_in*w))`` levels deep, and LUTs that the search
(which has no trained weights) estimates with a power law in n_in, n_out, w and a fitted on
da4ml's cost for random weights (``distributed_arithmetic`` section, :func:`da_lut`;
``bench/da4ml_cost_fit.py``). da4ml's cost is a post-synthesis LUT count: no synthesis factor.

The reuse factor and strategy of a layer come from ``reuse``: a per-layer override, else the
policy ``fixed`` (``default_rf``, snapped to the closest legal value for the Resource strategy)
or ``target_ii`` (the legal candidate with the fewest resources meeting ``target_ii_cycles``);
``strategy: distributed_arithmetic`` puts every supported layer on DA, ``auto`` adds the DA
design as a candidate (see :meth:`FpgaDataflow.reuse_factors`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..components import Dram, Energy, MacEnergy, Tech, assemble
from ..reuse import closest_reuse_factor, legal_reuse_factors
from ..section import Section
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
    family: Family = Field(description="device family: picks ``timing.delays``")


Tool = Literal["vivado_hls", "vitis_hls"]


class PerTool(Section):
    """A coefficient that differs between the HLS tool generations (Vivado HLS <= 2020.1, Vitis
    HLS >= 2023.1): they map the same C++ differently (constant multiplications above all)."""

    vivado_hls: float = Field(ge=0)
    vitis_hls: float = Field(ge=0)


class Multipliers(Section):
    dsp_port_a_bits: int = Field(ge=1, description="DSP multiplier wide port, bits")
    dsp_port_b_bits: int = Field(ge=1, description="DSP multiplier narrow port, bits")
    lut_mult_max_bit_product: int = Field(
        ge=0, description="variable x variable products with w*a up to this are LUT multipliers"
    )
    lut_per_bit_product: float = Field(ge=0, description="LUTs per w*a of a LUT multiplier")
    lut_input_bits: int = Field(
        ge=1, description="LUT inputs: a constant times an input this narrow is a table per bit"
    )
    const_dsp_min_w_bits: int = Field(
        ge=1, description="narrower constant weights become shift-and-add logic, not DSPs"
    )
    const_dsp_fraction: PerTool = Field(
        description="fraction of the other constant-weight products that HLS puts on DSPs"
    )
    lut_per_adder_bit: PerTool = Field(description="LUTs per accumulator bit per product")
    lut_per_mux_bit: float = Field(
        ge=0, description="LUTs per operand bit and extra input of a shared multiplier's mux"
    )


class WeightMemory(Section):
    bram_min_weight_bits: int = Field(ge=0, description="smaller weight arrays go to LUTRAM")
    bram_shapes_bits_x_words: list[tuple[int, int]] = Field(
        min_length=1, description="BRAM_18K aspect ratios (width bits, depth words)"
    )
    lutram_depth_words: int = Field(default=64, ge=1, description="words per LUT as RAM64X1")
    srl_bits_per_lut: int = Field(
        default=32, ge=1, description="shift-register bits per LUT (SRL32)"
    )
    fifos_per_stage: int = Field(
        default=2,
        ge=0,
        description="io_stream FIFOs of a stage's output shape (layer + activation)",
    )
    fifo_srl_max_depth: int = Field(
        default=32, ge=1, description="io_stream FIFOs deeper than this go to BRAM_18K"
    )


Family = Literal["series7", "ultrascale_plus"]


class Delays(Section):
    """Operator delays of one device family (ns), as the HLS scheduler budgets them."""

    mult_ns: float = Field(gt=0, description="delay of one DSP multiplication, ns")
    adder_level_ns: float = Field(gt=0, description="delay of one adder-tree level, ns")


class Timing(Section):
    delays: dict[Family, Delays] = Field(
        min_length=1, description="per device family: operator delays (the part's family is used)"
    )
    clock_uncertainty_frac: float = Field(
        default=0.125,
        ge=0,
        lt=1,
        description="fraction of the clock period HLS reserves (Vivado/Vitis HLS default 12.5 %)",
    )
    conv_stream_cycles: float = Field(
        ge=0, description="io_stream conv: cycles beyond the pixel loop (window fill, write)"
    )
    stream_pixel_cycles: float = Field(ge=0, description="cycles per streamed pixel without output")
    lut_per_layer: float = Field(ge=0, description="control LUTs per layer")


class SynthesisFactor(Section):
    """Post-synthesis / HLS-estimate ratio, fitted on designs that report both."""

    lut: float = Field(gt=0)
    dsp: float = Field(gt=0)
    bram_18k: float = Field(gt=0)


class FpgaEnergy(Section):
    lut_mult_pj_per_bit_product: float = Field(
        ge=0, description="pJ per MAC per w*a, LUT multiplier"
    )
    adder_pj_per_bit: float = Field(ge=0, description="pJ per accumulator bit per MAC")
    dsp_mac_pj: float = Field(ge=0, description="pJ per MAC per DSP slice")
    bram_read_pj_per_bit: float = Field(ge=0)
    lutram_read_pj_per_bit: float = Field(ge=0)
    static_mw: float = Field(ge=0, description="static power of the part, mW")


Strategy = Literal["Latency", "Resource", "distributed_arithmetic"]
DA = "distributed_arithmetic"


class LayerReuse(Section):
    rf: int = Field(ge=1)
    strategy: Strategy | None = None

    @model_validator(mode="after")
    def _check(self) -> LayerReuse:
        if self.strategy == DA and self.rf != 1:
            raise ValueError(f"strategy {DA} needs rf 1 (hls4ml 1.3.0), got rf {self.rf}")
        return self


class Reuse(Section):
    policy: Literal["fixed", "target_ii"] = "fixed"
    default_rf: int = Field(default=1, ge=1)
    strategy: Literal["Latency", "Resource", "distributed_arithmetic", "auto"] = "Latency"
    target_ii_cycles: float | None = Field(default=None, gt=0)
    overrides: dict[str, LayerReuse] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Reuse:
        if self.policy == "target_ii" and self.target_ii_cycles is None:
            raise ValueError("policy target_ii needs target_ii_cycles")
        return self


class DistributedArithmetic(Section):
    """da4ml's adder-graph cost (LUTs) of a constant matrix-vector product, as a power law
    ``lut_coef * n_in^n_in_exp * n_out^n_out_exp * w_bits^w_bits_exp * a_bits^a_bits_exp``
    (``n_in``: non-zero inputs per output), fitted on random weights (bench/da4ml_cost_fit.py)."""

    lut_coef: float = Field(gt=0)
    n_in_exp: float = Field(ge=0)
    n_out_exp: float = Field(ge=0)
    w_bits_exp: float = Field(ge=0)
    a_bits_exp: float = Field(ge=0)


class FpgaDataflowParams(Section):
    name: str | None = None
    description: str | None = None
    tech: Tech
    part: Part
    io_type: Literal["io_stream", "io_parallel"]
    hls_tool: Tool = "vitis_hls"
    basis: Literal["hls_estimate", "synthesis"] = "hls_estimate"
    synthesis_factor: SynthesisFactor
    reuse: Reuse = Field(default_factory=Reuse)
    multipliers: Multipliers
    weight_memory: WeightMemory
    timing: Timing
    energy: FpgaEnergy
    distributed_arithmetic: DistributedArithmetic | None = None

    @model_validator(mode="after")
    def _check_family(self) -> FpgaDataflowParams:
        uses_da = self.reuse.strategy in (DA, "auto") or any(
            o.strategy == DA for o in self.reuse.overrides.values()
        )
        if uses_da and self.distributed_arithmetic is None:
            raise ValueError(
                f"reuse.strategy {self.reuse.strategy!r} (or an override) needs the"
                " distributed_arithmetic section (da4ml's cost fit)"
            )
        if self.part.family not in self.timing.delays:
            raise ValueError(
                f"part.family {self.part.family!r} has no entry in timing.delays"
                f" (has {', '.join(self.timing.delays)})"
            )
        return self

    @property
    def delays(self) -> Delays:
        """The operator delays of the part's family."""
        return self.timing.delays[self.part.family]


# ---------------------------------------------------------------------------------------------
# the cost model (elementwise)


def _log2ceil(x: np.ndarray) -> np.ndarray:
    return np.ceil(np.log2(np.maximum(x, 1.0)))


def pipeline_depth(
    mult_ns: np.ndarray,
    levels: np.ndarray,
    adder_ns: float,
    clock_ns: float,
    uncertainty_frac: float = 0.0,
) -> np.ndarray:
    """Cycles from a layer's inputs to its outputs: a multiply of ``mult_ns`` then ``levels``
    adder-tree levels of ``adder_ns`` each, scheduled as HLS does into cycles of ``clock_ns``
    less the clock uncertainty (the budget ``T``). Operations are atomic: they chain within a
    cycle while their summed delay fits ``T``; an operation longer than ``T`` takes
    ``ceil(delay/T)`` cycles and nothing chains after it in its last cycle. So a multiply that
    fits leaves ``floor((T - mult)/adder)`` levels in its cycle, and every further cycle holds
    ``floor(T/adder)`` levels (one level per ``ceil(adder/T)`` cycles when an add exceeds T)."""
    T = clock_ns * (1.0 - uncertainty_frac)
    eps = 1e-9
    m = np.asarray(mult_ns, dtype=np.float64)
    lv = np.asarray(levels, dtype=np.float64)
    if adder_ns <= T + eps:
        per_cycle, cycles_per_level = np.floor(T / adder_ns + eps), 1.0
    else:
        per_cycle, cycles_per_level = 1.0, np.ceil(adder_ns / T - eps)
    fits = m <= T + eps
    first = np.where(fits, np.floor(np.maximum(T - m, 0.0) / adder_ns + eps), 0.0)
    first = np.where(adder_ns <= T + eps, first, 0.0)
    rest = np.maximum(lv - first, 0.0)
    mult_cycles = np.where(fits, 1.0, np.ceil(m / T - eps))
    return mult_cycles + np.ceil(rest / per_cycle - eps) * cycles_per_level


def da_lut(
    c: DistributedArithmetic,
    n_in: np.ndarray,
    n_out: np.ndarray,
    w: np.ndarray,
    a: np.ndarray,
) -> np.ndarray:
    """Estimated LUTs of a distributed-arithmetic (da4ml adder graph) kernel with ``n_in``
    non-zero inputs per output, ``n_out`` outputs, ``w``-bit weights and ``a``-bit inputs (the
    power law of :class:`DistributedArithmetic`; increasing in every argument)."""
    return (
        c.lut_coef
        * np.maximum(np.asarray(n_in, np.float64), 1.0) ** c.n_in_exp
        * np.asarray(n_out, np.float64) ** c.n_out_exp
        * np.asarray(w, np.float64) ** c.w_bits_exp
        * np.asarray(a, np.float64) ** c.a_bits_exp
    )


def da_capable(L: LayerArrays) -> np.ndarray:
    """Layers hls4ml 1.3.0 can build with the distributed-arithmetic strategy: Dense and
    (non-grouped) Conv1D/2D (``backends/vivado/passes/distributed_arithmetic.py``; depthwise and
    grouped convs are not supported), at RF 1, in io_parallel and io_stream."""
    return np.asarray(L.groups) == 1


def bram_blocks(
    width_bits: np.ndarray, depth_words: np.ndarray, shapes: list[tuple[int, int]]
) -> np.ndarray:
    """BRAM_18K blocks holding a memory ``width_bits`` wide and ``depth_words`` deep, at the best
    aspect ratio: min over (w, d) of ceil(width/w) * ceil(depth/d)."""
    return np.min([np.ceil(width_bits / w) * np.ceil(depth_words / d) for w, d in shapes], axis=0)


def table_bram(n_lookups: np.ndarray, entries: int = 1024, bits: int = 18) -> np.ndarray:
    """BRAM_18K blocks of one activation lookup table (hls4ml's softmax/ELU/sigmoid tables,
    ``table_size`` entries of ``bits``) read by ``n_lookups`` outputs in the same cycle: a block
    has two read ports, so the table is replicated ``ceil(n_lookups/2)`` times."""
    per_copy = np.ceil(entries * bits / 18432.0)
    return np.ceil(np.asarray(n_lookups, dtype=np.float64) / 2.0) * per_copy


def stage_costs(
    p: FpgaDataflowParams,
    L: LayerArrays,
    w: np.ndarray,
    a: np.ndarray,
    rf: np.ndarray,
    resource: np.ndarray,
    io_type: str,
    acc_bits: np.ndarray | None = None,
    da: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One stage per layer at reuse factor ``rf`` (Resource strategy where ``resource``, the
    distributed-arithmetic strategy, RF 1, where ``da``).

    ``acc_bits`` is the accumulator width (hls4ml's ``accum_t``); by default hls4ml's 'auto'
    width ``w + a + ceil(log2 n_in)``. Returns arrays (broadcast of the inputs): ii_cycles,
    latency_cycles (per image), mults, dsp, lut, bram_18k (counts, on the config's ``basis``),
    dsp_fraction (of the products, on DSPs), dsp_per_mult, acc_bits, stored/in_bram (weight
    placement).
    """
    m, mem, t = p.multipliers, p.weight_memory, p.timing
    da = np.zeros((), dtype=bool) if da is None else np.asarray(da, dtype=bool)
    if da.any() and p.distributed_arithmetic is None:
        raise ValueError("the distributed_arithmetic strategy needs the config's cost fit")
    rf = np.where(da, 1.0, np.asarray(rf, dtype=np.float64))
    resource = np.asarray(resource, dtype=bool) & ~da
    w = np.asarray(w, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    n_in, n_out, P = L.reduction, L.cout, L.out_pixels
    hp = (L.out_h - 1) * L.sh + L.kh
    wp = (L.out_w - 1) * L.sw + L.kw
    npix = np.where(L.is_linear, 1.0, hp * wp)
    density = L.density
    products = n_in * n_out  # per output pixel
    nonzero = np.ceil(density * products)  # zero weights fold away (hls4ml's n_zeros)
    mults = np.ceil(nonzero / rf)  # hls4ml's multiplier_limit
    acc = w + a + _log2ceil(n_in) if acc_bits is None else np.asarray(acc_bits, np.float64)

    # -- which products are DSPs --
    # At RF 1 every weight is a constant folded into the logic. A constant times an input of
    # at most lut_input_bits bits is, per product bit, one LUT; a narrow constant is a few
    # shifted adds; the rest HLS maps partly to DSPs (how many depends on the trained values'
    # canonical-signed-digit terms, which the model does not see: a per-tool fraction).
    const = rf <= 1
    wide, narrow = np.maximum(w, a), np.minimum(w, a)
    const_frac = getattr(m.const_dsp_fraction, p.hls_tool)
    frac_const = np.where((a <= m.lut_input_bits) | (w < m.const_dsp_min_w_bits), 0.0, const_frac)
    frac_var = np.where(w * a > m.lut_mult_max_bit_product, 1.0, 0.0)
    dsp_frac = np.where(const, frac_const, frac_var)
    # a wide product spans several DSPs; a constant's significant bits fit the narrow port
    # (trained weights are below 1), so only the input is split along the wide port
    dsp_per = np.where(
        const,
        np.ceil(wide / m.dsp_port_a_bits),
        np.ceil(wide / m.dsp_port_a_bits) * np.ceil(narrow / m.dsp_port_b_bits),
    )
    dsp = mults * dsp_frac * dsp_per

    # -- LUTs --
    # Latency strategy (nnet_dense_latency.h): the accumulation is unrolled, every non-zero
    # product feeds one adder of the accumulator's width (an n-input sum is n-1 adds plus the
    # bias) whatever the RF. Resource strategy (nnet_dense_resource.h): the RF loop reuses one
    # adder per multiplier. A constant product in LUTs costs about one LUT per kept product
    # bit; a variable LUT multiplier lut_per_bit_product*w*a. At RF > 1 each shared multiplier
    # selects its input among min(RF, n_in) and, with the Latency strategy, its weight among
    # RF constants (muxes); with the Resource strategy weights come from a memory.
    adders = np.where(resource, mults, nonzero) * getattr(m.lut_per_adder_bit, p.hls_tool) * acc
    const_lut = nonzero * (1.0 - dsp_frac) * np.minimum(w + a, acc)
    var_lut = mults * (1.0 - dsp_frac) * m.lut_per_bit_product * w * a
    in_ways = np.maximum(np.minimum(rf, n_in) - 1.0, 0.0)
    w_ways = np.where(resource, 0.0, np.maximum(rf - 1.0, 0.0))
    mux = mults * m.lut_per_mux_bit * (a * in_ways + w * w_ways)
    lut_mult = np.where(const, const_lut, var_lut + mux)

    # -- weight storage (Resource strategy, RF > 1) --
    stored = resource & (rf > 1)
    in_bram = stored & (nonzero * w >= mem.bram_min_weight_bits)
    width = mults * w
    bram = np.where(in_bram, bram_blocks(width, rf, mem.bram_shapes_bits_x_words), 0.0)
    lutram = np.where(stored & ~in_bram, width * np.ceil(rf / mem.lutram_depth_words), 0.0)

    # -- timing: no fixed overhead; the multiply and the adder tree scheduled into cycles --
    d = p.delays
    mult_chain_ns = np.where(dsp_frac > 0, dsp_per, 1.0) * d.mult_ns  # cascaded DSPs add up
    levels = _log2ceil(np.maximum(density * n_in, 1.0))
    # a DA kernel has no multiplier: its adder graph sums ~w shifted copies of every input
    # (depth ceil(log2(n_in*w)) adder levels, checked against da4ml by bench/da4ml_cost_fit.py)
    mult_chain_ns = np.where(da, 0.0, mult_chain_ns)
    levels = np.where(da, _log2ceil(np.maximum(density * n_in * w, 1.0)), levels)
    depth = pipeline_depth(
        mult_chain_ns, levels, d.adder_level_ns, 1000.0 / p.tech.freq_mhz, t.clock_uncertainty_frac
    )
    if io_type == "io_parallel":
        ii = P * rf
        lat = ii - 1.0 + depth
        lut_lb = 0.0
        fifo_bram = np.zeros(np.shape(P))
    else:
        # the pixel loop runs at II = RF (nnet_conv2d_stream.h); stream layers are not
        # pipelined across images, so the stage's II is its latency
        conv_lat = npix * rf + depth + t.conv_stream_cycles
        # a dense layer reads its input in L.in_packets stream words (nnet_dense_stream.h's
        # DataPrepare loop): more than one is a pipelined loop of that many iterations plus
        # its exit cycle; a single word is read in the function's first state
        packets = np.asarray(L.in_packets, dtype=np.float64)
        read = np.where(L.is_linear & (packets > 1), packets + 1.0, 0.0)
        ii_lat = np.where(L.is_linear, rf + depth, conv_lat)
        ii_res = (npix - P) * t.stream_pixel_cycles + P * (rf + depth)
        ii = np.where(resource, ii_res, ii_lat) + read
        lat = ii
        lb_bits = np.where(L.is_linear, 0.0, (L.kh - 1) * wp * L.cin * a)
        lut_lb = np.ceil(lb_bits / mem.srl_bits_per_lut)
        # one FIFO per output channel, as deep as the output pixels (hls4ml's default depth),
        # words of the input's width a (the stage does not know the next layer's precision)
        fifo_bram = np.where(
            mem.fifo_srl_max_depth < P,
            mem.fifos_per_stage * n_out * np.ceil(P * a / 18432.0),
            0.0,
        )
    lut = adders + lut_mult + lutram + lut_lb + t.lut_per_layer
    da_kernel = np.zeros(())
    if da.any():
        # DA: no DSP, no weight memory, every product at once (mults = the non-zero products);
        # the kernel's LUTs are da4ml's adder-graph estimate
        da_kernel = np.where(da, da_lut(p.distributed_arithmetic, density * n_in, n_out, w, a), 0)
        lut = np.where(da, lut_lb + t.lut_per_layer, lut)
        dsp = np.where(da, 0.0, dsp)
        dsp_frac = np.where(da, 0.0, dsp_frac)
        mults = np.where(da, nonzero, mults)
        bram = np.where(da, 0.0, bram)
    bram = bram + fifo_bram
    if p.basis == "synthesis":
        f = p.synthesis_factor
        # the BRAM factor was fitted on FIFO (and table) memories; weight memories are whole
        # blocks in both reports
        synth_fifo = np.ceil(fifo_bram * f.bram_18k)
        lut, dsp, bram = lut * f.lut, dsp * f.dsp, bram - fifo_bram + synth_fifo
        fifo_bram = synth_fifo
    # da4ml's cost counts the adders' LUTs as synthesised (no HLS estimate to scale)
    lut = lut + da_kernel
    out = {
        "ii_cycles": ii,
        "latency_cycles": lat,
        "mults": mults,
        "dsp": dsp,
        "lut": lut,
        "bram_18k": bram,
        "fifo_bram_18k": fifo_bram,
        "dsp_fraction": dsp_frac,
        "dsp_per_mult": dsp_per,
        "acc_bits": acc,
        "stored": stored,
        "in_bram": in_bram,
    }
    shape = np.broadcast_shapes(*(np.shape(v) for v in out.values()), np.shape(rf))
    return {k: np.broadcast_to(v, shape) for k, v in out.items()}


def design_ii(stage_ii: np.ndarray, io_type: str) -> float:
    """II of a whole design (cycles per image) from its stages' IIs: io_parallel pipelines the
    top function, so the slowest stage sets it; io_stream's top is a dataflow region of stages
    that are not pipelined across images, and HLS's start/done handshake starts the next image
    one cycle after the slowest stage is ready (the hls4ml-tutorial SVHN CNN reports a design
    II of 1028 over a slowest stage of 1027, hls4ml's test_report Dense 8 over 7)."""
    return float(np.max(stage_ii)) + top_extra_cycles(io_type)


def top_extra_cycles(io_type: str) -> float:
    """Cycles the design's top adds to its slowest stage's II (see :func:`design_ii`)."""
    return 1.0 if io_type == "io_stream" else 0.0


def _candidates(
    L: LayerArrays, with_da: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rf, resource, da, valid), each of shape ``L.reduction.shape + (K,)``: per layer, (1,
    Latency) and (rf, Resource) for every legal rf -- (rf, Latency) for depthwise layers (see
    :data:`DEPTHWISE_STRATEGY`) -- and with ``with_da`` (1, distributed_arithmetic) where
    :func:`da_capable`; padded entries are invalid."""
    n_in = np.asarray(L.reduction)
    n_out = np.asarray(L.cout)
    dw = np.broadcast_to(np.asarray(L.is_depthwise, dtype=bool), n_in.shape)
    lists = {}
    for idx in np.ndindex(n_in.shape):
        key = (int(n_in[idx]), int(n_out[idx]))
        if key not in lists:
            lists[key] = legal_reuse_factors(*key)
    k = 1 + max(len(v) for v in lists.values()) + (1 if with_da else 0)
    rf = np.ones(n_in.shape + (k,))
    res = np.zeros(n_in.shape + (k,), dtype=bool)
    da = np.zeros(n_in.shape + (k,), dtype=bool)
    valid = np.zeros(n_in.shape + (k,), dtype=bool)
    valid[..., 0] = True
    for idx in np.ndindex(n_in.shape):
        v = lists[(int(n_in[idx]), int(n_out[idx]))]
        rf[idx + (slice(1, 1 + len(v)),)] = v
        res[idx + (slice(1, 1 + len(v)),)] = not dw[idx]
        valid[idx + (slice(1, 1 + len(v)),)] = True
    if with_da:
        da[..., -1] = True
        valid[..., -1] = np.broadcast_to(da_capable(L), n_in.shape)
    return rf, res, da, valid


# hls4ml 1.3.0's depthwise convolution gives wrong results under the Resource strategy in
# io_stream (checked bit-exactly against its Latency kernel and a float64 emulation:
# tests/test_codegen_layers.py), so depthwise layers always use Latency, whatever the reuse factor.
DEPTHWISE_STRATEGY = "Latency"


def _expand(L: LayerArrays) -> LayerArrays:
    shape = np.shape(L.reduction) + (1,)
    return L.reshape(shape)


def candidate_table(
    p: FpgaDataflowParams,
    L: LayerArrays,
    w: np.ndarray,
    a: np.ndarray,
    io_type: str,
    with_da: bool = False,
) -> dict[str, np.ndarray]:
    """Every legal reuse candidate of every layer: ``{metric: array[..., K]}`` where ``...`` is
    the broadcast of L's fields, ``w`` and ``a``; plus ``rf``, ``resource``, ``da`` and
    ``valid`` (``with_da``: the distributed-arithmetic candidate too)."""
    rf, res, da, valid = _candidates(L, with_da)
    c = stage_costs(
        p,
        _expand(L),
        np.asarray(w, float)[..., None],
        np.asarray(a, float)[..., None],
        rf,
        res,
        io_type,
        da=da,
    )
    shape = np.shape(c["ii_cycles"])
    c = {k: np.broadcast_to(v, shape) for k, v in c.items()}
    c["rf"] = np.broadcast_to(rf, shape)
    c["resource"] = np.broadcast_to(res, shape)
    c["da"] = np.broadcast_to(da, shape)
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
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rf, resource, da) arrays for ``L`` at bits ``w``/``a`` under the config's ``reuse``
        policy and strategy.

        Strategies: ``Latency``/``Resource`` as hls4ml's; ``distributed_arithmetic``: RF 1 with
        da4ml's adder graph on every layer that supports it (:func:`da_capable`), Latency
        elsewhere; ``auto``: per layer the cheaper (:func:`part_fraction`) of the fixed
        policy's Latency design at ``default_rf`` and, at RF 1, the DA design -- under
        ``target_ii`` the DA design joins the candidates (the fewest resources meeting the II).
        A per-layer override always wins; depthwise layers always use
        :data:`DEPTHWISE_STRATEGY`."""
        r = self.params.reuse
        names = np.asarray(getattr(L, "names", np.asarray(None, dtype=object)), dtype=object)
        n_in, n_out = np.asarray(L.reduction), np.asarray(L.cout)
        shape = np.broadcast_shapes(n_in.shape, names.shape)
        names = np.broadcast_to(names, shape)
        n_in, n_out = np.broadcast_to(n_in, shape), np.broadcast_to(n_out, shape)
        dw = np.broadcast_to(np.asarray(L.is_depthwise, dtype=bool), shape)
        capable = np.broadcast_to(da_capable(L), shape)
        rf = np.empty(shape)
        res = np.empty(shape, dtype=bool)
        da = np.zeros(shape, dtype=bool)
        over = np.zeros(shape, dtype=bool)
        auto = r.strategy == "auto"
        for idx in np.ndindex(shape):
            o = r.overrides.get(names[idx]) if names[idx] is not None else None
            over[idx] = o is not None
            want, strat = (o.rf, o.strategy or r.strategy) if o else (r.default_rf, r.strategy)
            if strat == "auto":
                strat = "Latency"  # the Latency half of auto; DA is weighed below
            if strat == DA and not capable[idx]:
                strat = "Latency"
            if dw[idx]:
                strat = DEPTHWISE_STRATEGY
            ni, no = int(n_in[idx]), int(n_out[idx])
            rf[idx] = closest_reuse_factor(ni, no, want) if strat == "Resource" else want
            res[idx] = strat == "Resource"
            da[idx] = strat == DA
            if da[idx]:
                rf[idx] = 1
        forced_da = da & (r.strategy == DA)  # DA is the fastest design: no search needed
        if r.policy == "fixed" or r.strategy == DA:
            if auto:
                # the cheaper of the Latency design and, at RF 1, the DA design
                p = self.params
                base = stage_costs(p, L, w, a, rf, res, p.io_type)
                alt = stage_costs(p, L, w, a, rf, res, p.io_type, da=capable)
                cheaper = part_fraction(p, alt) < part_fraction(p, base)
                pick = capable & (rf == 1) & ~res & ~over & cheaper
                da = np.where(over, da, pick)
            if r.policy == "fixed":
                return rf, res, da
        c = candidate_table(self.params, L, w, a, self.params.io_type, with_da=auto)
        extra = top_extra_cycles(self.params.io_type)
        cost = np.where(
            c["valid"] & (c["ii_cycles"] + extra <= r.target_ii_cycles),
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
        auto_da = np.take_along_axis(c["da"], best, axis=-1)[..., 0]
        keep = over | forced_da
        return (
            np.where(keep, rf, auto_rf),
            np.where(keep, res, auto_res),
            np.where(keep, da, auto_da),
        )

    # ---- costs ----
    def evaluate(self, L: LayerArrays, w: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
        p, e = self.params, self.params.energy
        rf, res, da = self.reuse_factors(L, w, a)
        c = stage_costs(p, L, w, a, rf, res, p.io_type, da=da)
        ii, lat = c["ii_cycles"], c["latency_cycles"]
        compute = (L.batch - 1) * ii + lat
        macs = L.macs
        frac = c["dsp_fraction"]
        e_mac = macs * (
            frac * e.dsp_mac_pj * c["dsp_per_mult"]
            + (1.0 - frac) * e.lut_mult_pj_per_bit_product * w * a
            + e.adder_pj_per_bit * c["acc_bits"]
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

    def layer_names_matter(self) -> bool:
        """Layer names select per-layer ``reuse.overrides`` only."""
        return bool(self.params.reuse.overrides)

    def annotate_totals(self, totals: dict[str, float]) -> list[str]:
        """Set ``ii_cycles`` to the design's II (:func:`design_ii`) and ``inferences_per_s`` to
        match; add ``lut_util``, ``dsp_util``, ``bram_18k_util`` (fractions of the part) and ``fits``
        (1.0 or 0.0); a note for every resource over the part's capacity, and one when the
        pipeline's II misses the ``target_ii`` policy's target."""
        part = self.params.part
        notes = []
        fits = True
        # the generic pipeline total is the slowest stage's II; the design's follows hls4ml's top
        if "ii_cycles" in totals:
            totals["ii_cycles"] = design_ii(np.float64(totals["ii_cycles"]), self.params.io_type)
            totals["inferences_per_s"] = self.freq_hz / totals["ii_cycles"]
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
