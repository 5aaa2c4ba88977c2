"""EdMIPS composite layers (search) and fixed-precision quantized layers (final network).

``MixedConv2d``/``MixedLinear`` implement the composite convolution of EdMIPS: with
π^w = softmax(α^w) and π^a = softmax(α^a),

    y = conv( Σ_j π^a_j Q^a_j(x),  Σ_i π^w_i Q^w_i(W) )

which equals the sum over all |B_w|·|B_a| branches Σ_ij π^w_i π^a_j conv(Q^a_j(x), Q^w_i(W))
because convolution is bilinear, at the cost of ONE convolution. The mixtures are computed by
:class:`MixQuant`, a custom autograd Function that saves only the unquantized input (and the
mixing probabilities) and recomputes the cheap elementwise quantizations in backward, so no
per-candidate copy of the input stays alive for backward.

``QConv2d``/``QLinear`` are the layers of the final fixed mixed-precision network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import SearchError
from .quantizers import (
    FLOAT_BITS,
    Grid,
    act_frac,
    fixed_act_grid,
    fixed_weight_grid,
    gaussian_grid,
    gaussian_step,
    hwgq_grid,
    signed_grid,
    weight_frac,
)

FAMILIES = ("paper", "fixed")
ALPHA_INIT = 0.01
STATS_MOMENTUM = 0.1


def _mask_sum(x: torch.Tensor, p: torch.Tensor, grids: tuple[Grid, ...]) -> torch.Tensor:
    """Σ_k p_k·[lo_k <= x <= hi_k]: the STE pass-through weight of a mixture of grids.

    (Measured on CPU: bucketizing x against all bounds, or bool buffers with in-place adds,
    were not faster than these few elementwise passes; bool comparison results combined with &
    and converted were 5x slower than comparisons written into x's dtype.)"""
    m = torch.zeros_like(x)
    ge = torch.empty_like(x)
    le = torch.empty_like(x)
    lo = None
    for k, grid in enumerate(grids):
        # comparisons written straight into x's dtype (bool tensors are several times slower)
        if grid.lo != lo:  # HWGQ grids share lo = 0: one comparison for all
            lo = grid.lo
            torch.ge(x, lo, out=ge)
        torch.le(x, grid.hi, out=le)
        m.addcmul_(le.mul_(ge), p[k])
    return m


#: Elements per chunk of the flattened input (a multiple of the SIMD width): all candidates are
#: computed for one chunk while it is in cache, instead of one full pass over x per operation.
CHUNK = 1 << 19


def _chunks(x: torch.Tensor) -> list[torch.Tensor] | None:
    """Contiguous 1-D views of x in CHUNK pieces, or None where x is small or strided."""
    if x.numel() <= CHUNK or not x.is_contiguous():
        return None
    return list(x.view(-1).split(CHUNK))


class MixQuant(torch.autograd.Function):
    """y = Σ_k p_k · grid_k(x) with STE gradients, saving only x and p for backward.

    Backward: ∂L/∂x = g · Σ_k p_k · mask_k(x) (mask = 1 everywhere when ``clip`` is False: the
    identity STE of weights), ∂L/∂p_k = Σ g · grid_k(x) (quantizations recomputed).

    Large contiguous inputs are processed in cache-sized chunks, every candidate per chunk.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: torch.Tensor, grids: tuple[Grid, ...], clip: bool):  # type: ignore[override]
        ctx.grids = grids
        ctx.clip = clip
        ctx.save_for_backward(x, p)
        assert grids, "MixQuant needs at least one grid"
        coefs = []
        shift = None  # Σ_k p_k·step_k·offset_k, subtracted once at the end
        for k, grid in enumerate(grids):
            if grid.step is None:
                coefs.append(p[k])
                continue
            coef = p[k] * grid.step
            coefs.append(coef)
            if grid.offset:
                shift = coef * grid.offset if shift is None else shift + coef * grid.offset
        out = torch.empty_like(x)
        xs = _chunks(x)
        if xs is None:
            pairs = [(x, out)]
            buf = torch.empty_like(x) if len(grids) > 1 else None
        else:
            pairs = zip(xs, out.view(-1).split(CHUNK))
            buf = torch.empty(CHUNK, dtype=x.dtype, device=x.device)
        for xc, oc in pairs:
            for k, grid in enumerate(grids):
                dst = oc if k == 0 else buf[: xc.numel()] if xs is not None else buf
                if grid.step is None:
                    torch.clamp(xc, grid.lo, grid.hi, out=dst)
                else:
                    grid.index(xc, out=dst)
                if k == 0:
                    oc.mul_(coefs[0])
                else:
                    oc.addcmul_(dst, coefs[k])
            if shift is not None:
                oc.sub_(shift)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        x, p = ctx.saved_tensors
        grids = ctx.grids
        need_x, need_p = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x = grad_p = None
        if need_x and ctx.clip:
            grad_x = _mask_sum(x, p, grids).mul_(g)
        xs = _chunks(x) if need_p else None
        if xs is None:
            if need_x and not ctx.clip:
                grad_x = g * p.sum()
            pairs = [(x.reshape(-1), g.reshape(-1), None)]
            buf = torch.empty(x.numel(), dtype=x.dtype, device=x.device) if need_p else None
        else:
            g = g.contiguous()
            gxs = [None] * len(xs)
            if need_x and not ctx.clip:  # g·Σp, chunk by chunk while g is in cache
                grad_x = torch.empty_like(g)
                gxs = grad_x.view(-1).split(CHUNK)
                psum = p.sum()
            pairs = zip(xs, g.view(-1).split(CHUNK), gxs)
            buf = torch.empty(CHUNK, dtype=x.dtype, device=x.device)
        if need_p:
            dots: list[torch.Tensor] = []  # <g, Q_k(x)> per chunk and grid, summed at the end
            for xc, gc, gxc in pairs:
                if gxc is not None:
                    torch.mul(gc, psum, out=gxc)
                b = buf[: xc.numel()]
                for grid in grids:
                    if grid.step is None:
                        torch.clamp(xc, grid.lo, grid.hi, out=b)
                    else:
                        grid.index(xc, out=b)
                    dots.append(torch.dot(gc, b))
            sums = torch.stack(dots).view(-1, len(grids)).sum(0)
            gsum = None
            parts = []
            for k, grid in enumerate(grids):
                part = sums[k]
                if grid.step is None:
                    parts.append(part)
                    continue
                # <g, (k - offset)·step> = step·(<g, k> - offset·Σg)
                if grid.offset:
                    gsum = g.sum() if gsum is None else gsum
                    part = part - grid.offset * gsum
                parts.append(part * grid.step)
            grad_p = torch.stack(parts).to(p.dtype)
        return grad_x, grad_p, None, None


def _check_family(family: str) -> str:
    if family not in FAMILIES:
        raise SearchError(f"quantizer family '{family}': expected one of {list(FAMILIES)}")
    return family


def _check_bit_list(bits: Sequence[int], what: str) -> list[int]:
    if isinstance(bits, (int, str)) or not bits:
        raise SearchError(f"{what}: expected a non-empty list of bit-widths, got {bits!r}")
    out = []
    for b in bits:
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 32:
            raise SearchError(f"{what}: bit-width {b!r} is not an integer in 1..32")
        if b in out:
            raise SearchError(f"{what}: bit-width {b} is listed twice")
        out.append(b)
    return out


class _QuantBase(nn.Module):
    """Shared state: the wrapped layer's weight/bias/geometry and the input statistics."""

    layer_kind = "conv"

    def _adopt(self, mod: nn.Module, family: str, signed_input: bool) -> None:
        self.family = _check_family(family)
        self.signed_input = bool(signed_input)
        if isinstance(mod, nn.Conv2d):
            if mod.padding_mode != "zeros":
                raise SearchError(
                    f"padding_mode '{mod.padding_mode}' is not supported (only 'zeros')"
                )
            for key in (
                "in_channels",
                "out_channels",
                "kernel_size",
                "stride",
                "padding",
                "dilation",
                "groups",
            ):
                setattr(self, key, getattr(mod, key))
        elif isinstance(mod, nn.Linear):
            self.in_features = mod.in_features
            self.out_features = mod.out_features
        else:
            raise SearchError(f"cannot quantize a {type(mod).__name__}: expected Conv2d or Linear")
        self.weight = mod.weight
        if mod.bias is not None:
            self.bias = mod.bias
        else:
            self.register_parameter("bias", None)
        self.register_buffer("running_std", torch.ones((), dtype=torch.float32))
        self.register_buffer("stats_count", torch.zeros((), dtype=torch.long))

    def _op(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.layer_kind == "linear":
            return F.linear(x, w, self.bias)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def _update_stats(self, x: torch.Tensor) -> None:
        """EMA of the input's std (training mode only; frozen in eval). Only the fixed family
        and signed inputs use it; the paper's HWGQ steps assume unit-variance inputs."""
        if not self.training or x.numel() < 2 or not (self.family == "fixed" or self.signed_input):
            return
        with torch.no_grad():
            s = x.detach().float().std()
            if not torch.isfinite(s):
                return
            if int(self.stats_count) == 0:
                self.running_std.copy_(s)
            else:
                self.running_std.mul_(1 - STATS_MOMENTUM).add_(s * STATS_MOMENTUM)
            self.stats_count.add_(1)

    def _weight_std(self) -> float:
        return float(self.weight.detach().std()) if self.weight.numel() > 1 else 1.0

    def _act_grid(self, bits: int, frac: int | None = None) -> Grid:
        if self.family == "paper" and not self.signed_input:
            return hwgq_grid(bits)
        std = float(self.running_std)
        if self.family == "fixed":
            f = act_frac(std, bits, self.signed_input) if frac is None else frac
            return fixed_act_grid(bits, f, self.signed_input)
        if self.signed_input:
            return (
                signed_grid(bits, gaussian_step(bits) * std)
                if bits <= FLOAT_BITS
                else signed_grid(32, 1.0)
            )
        return hwgq_grid(bits)

    def _weight_grid(self, bits: int, std: float, frac: int | None = None) -> Grid:
        if self.family == "fixed":
            return fixed_weight_grid(bits, weight_frac(std, bits) if frac is None else frac)
        return gaussian_grid(bits, std)


class _MixedBase(_QuantBase):
    """EdMIPS composite layer (see the module docstring)."""

    def _setup(
        self,
        mod: nn.Module,
        w_bits: Sequence[int],
        a_bits: Sequence[int],
        family: str,
        signed_input: bool,
    ) -> None:
        self._adopt(mod, family, signed_input)
        self.w_bits = _check_bit_list(w_bits, "weight bits")
        self.a_bits = _check_bit_list(a_bits, "activation bits")
        if self.family == "fixed" and 1 in self.w_bits:
            raise SearchError(
                "fixed weights: 1-bit ap_fixed has no symmetric levels; use >= 2 bits"
            )
        if self.signed_input and 1 in self.a_bits:
            raise SearchError("activation bits: a signed input needs >= 2 bits (1 bit listed)")
        dt = self.weight.dtype
        self.alpha_w = nn.Parameter(
            torch.full((len(self.w_bits),), ALPHA_INIT, dtype=dt, device=self.weight.device)
        )
        self.alpha_a = nn.Parameter(
            torch.full((len(self.a_bits),), ALPHA_INIT, dtype=dt, device=self.weight.device)
        )
        # softmax temperature (dimensionless); the search loop anneals it toward one-hot. Not in
        # the state_dict: the loop sets it from its schedule at every step.
        self.temperature = 1.0

    def probs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(π^w, π^a): softmax of alpha_w / T and alpha_a / T (differentiable), T = temperature."""
        t = self.temperature
        return torch.softmax(self.alpha_w / t, 0), torch.softmax(self.alpha_a / t, 0)

    def argmax_bits(self) -> tuple[int, int]:
        """Winner-takes-all (w_bits, a_bits)."""
        return self.w_bits[int(self.alpha_w.argmax())], self.a_bits[int(self.alpha_a.argmax())]

    def expected_bits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(E[b_w], E[b_a]) under the current probabilities (differentiable), in bits."""
        pw, pa = self.probs()
        wb = torch.tensor(self.w_bits, dtype=pw.dtype, device=pw.device)
        ab = torch.tensor(self.a_bits, dtype=pa.dtype, device=pa.device)
        return (pw * wb).sum(), (pa * ab).sum()

    def act_grids(self) -> tuple[Grid, ...]:
        """The activation quantizer of each candidate in ``a_bits``."""
        return tuple(self._act_grid(b) for b in self.a_bits)

    def weight_grids(self) -> tuple[Grid, ...]:
        """The weight quantizer of each candidate in ``w_bits`` (σ = std(W), no gradient)."""
        std = self._weight_std()
        return tuple(self._weight_grid(b, std) for b in self.w_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._update_stats(x)
        pw, pa = self.probs()
        xbar = MixQuant.apply(x, pa.to(x.dtype), self.act_grids(), True)
        wbar = MixQuant.apply(self.weight, pw.to(self.weight.dtype), self.weight_grids(), False)
        return self._op(xbar, wbar)

    def extra_repr(self) -> str:
        return f"w_bits={self.w_bits}, a_bits={self.a_bits}, family={self.family}, signed_input={self.signed_input}"


class MixedConv2d(_MixedBase):
    """EdMIPS composite Conv2d over candidate weight bits and activation bits (one convolution).

    Shares ``conv``'s weight/bias Parameters; keeps its stride/padding/dilation/groups."""

    layer_kind = "conv"

    def __init__(
        self,
        conv: nn.Conv2d,
        w_bits: list[int],
        a_bits: list[int],
        family: str = "paper",
        signed_input: bool = False,
    ):
        super().__init__()
        if not isinstance(conv, nn.Conv2d):
            raise SearchError(f"MixedConv2d wraps an nn.Conv2d, got {type(conv).__name__}")
        self._setup(conv, w_bits, a_bits, family, signed_input)


class MixedLinear(_MixedBase):
    """EdMIPS composite Linear (one matmul)."""

    layer_kind = "linear"

    def __init__(
        self,
        linear: nn.Linear,
        w_bits: list[int],
        a_bits: list[int],
        family: str = "paper",
        signed_input: bool = False,
    ):
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise SearchError(f"MixedLinear wraps an nn.Linear, got {type(linear).__name__}")
        self._setup(linear, w_bits, a_bits, family, signed_input)


class _FixedBase(_QuantBase):
    """A layer at one (w_bits, a_bits): input quantized to a_bits, weight to w_bits, one op.

    Fixed family: buffers ``w_frac``/``a_frac`` (fraction bits, int64) are recorded from the
    statistics on every training forward and frozen in eval mode."""

    def _setup(
        self, mod: nn.Module, w_bits: int, a_bits: int, family: str, signed_input: bool
    ) -> None:
        self._adopt(mod, family, signed_input)
        (self.w_bits,) = _check_bit_list([w_bits], "weight bits")
        (self.a_bits,) = _check_bit_list([a_bits], "activation bits")
        if self.family == "fixed":
            if self.w_bits == 1:
                raise SearchError(
                    "fixed weights: 1-bit ap_fixed has no symmetric levels; use >= 2 bits"
                )
            self.register_buffer(
                "w_frac", torch.tensor(weight_frac(self._weight_std(), self.w_bits))
            )
            self.register_buffer(
                "a_frac", torch.tensor(act_frac(1.0, self.a_bits, self.signed_input))
            )
        if self.signed_input and self.a_bits == 1:
            raise SearchError("activation bits: a signed input needs >= 2 bits")
        self._one = torch.ones(1)

    def _grids(self) -> tuple[Grid, Grid]:
        std = self._weight_std()
        if self.family != "fixed":
            return self._weight_grid(self.w_bits, std), self._act_grid(self.a_bits)
        if self.training:
            self.w_frac.fill_(weight_frac(std, self.w_bits))
            self.a_frac.fill_(act_frac(float(self.running_std), self.a_bits, self.signed_input))
        return (
            self._weight_grid(self.w_bits, std, int(self.w_frac)),
            self._act_grid(self.a_bits, int(self.a_frac)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._update_stats(x)
        wg, ag = self._grids()
        one_x = self._one.to(dtype=x.dtype, device=x.device)
        xq = MixQuant.apply(x, one_x, (ag,), True)
        wq = MixQuant.apply(self.weight, one_x.to(self.weight.dtype), (wg,), False)
        return self._op(xq, wq)

    @torch.no_grad()
    def quantized_weight(self) -> torch.Tensor:
        """The weight on its quantization grid (exact grid values; fixed: k·2^-w_frac)."""
        if self.family == "fixed":
            grid = self._weight_grid(self.w_bits, self._weight_std(), int(self.w_frac))
        else:
            grid = self._weight_grid(self.w_bits, self._weight_std())
        return grid.apply(self.weight.detach())

    def _need_fixed(self, what: str) -> None:
        if self.family != "fixed":
            raise SearchError(
                f"{what}: only the 'fixed' family maps onto ap_fixed types (this layer is '{self.family}')"
            )

    def weight_format(self) -> tuple[int, int]:
        """(width, int_bits) of ap_fixed<width, int_bits> holding the weights (int_bits incl. sign)."""
        self._need_fixed("weight_format")
        return self.w_bits, self.w_bits - int(self.w_frac)

    def act_format(self) -> tuple[int, int, bool]:
        """(width, int_bits, signed): the input is ap_fixed (signed) or ap_ufixed<width, int_bits>."""
        self._need_fixed("act_format")
        return self.a_bits, self.a_bits - int(self.a_frac), self.signed_input

    def extra_repr(self) -> str:
        return f"w_bits={self.w_bits}, a_bits={self.a_bits}, family={self.family}, signed_input={self.signed_input}"


class QConv2d(_FixedBase):
    """Fixed-precision Conv2d of the final network (shares ``conv``'s Parameters)."""

    layer_kind = "conv"

    def __init__(
        self,
        conv: nn.Conv2d,
        w_bits: int,
        a_bits: int,
        family: str = "paper",
        signed_input: bool = False,
    ):
        super().__init__()
        if not isinstance(conv, nn.Conv2d):
            raise SearchError(f"QConv2d wraps an nn.Conv2d, got {type(conv).__name__}")
        self._setup(conv, w_bits, a_bits, family, signed_input)


class QLinear(_FixedBase):
    """Fixed-precision Linear of the final network."""

    layer_kind = "linear"

    def __init__(
        self,
        linear: nn.Linear,
        w_bits: int,
        a_bits: int,
        family: str = "paper",
        signed_input: bool = False,
    ):
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise SearchError(f"QLinear wraps an nn.Linear, got {type(linear).__name__}")
        self._setup(linear, w_bits, a_bits, family, signed_input)


QUANT_LAYER_TYPES: tuple[type[nn.Module], ...] = (MixedConv2d, MixedLinear, QConv2d, QLinear)
MIXED_LAYER_TYPES: tuple[type[nn.Module], ...] = (MixedConv2d, MixedLinear)

__all__ = ["MixQuant", "MixedConv2d", "MixedLinear", "QConv2d", "QLinear", "QUANT_LAYER_TYPES"]
