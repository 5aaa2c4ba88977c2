"""Bit-exact verification: hls4ml's g++ C simulation (in a child process) against the emulation."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .emulate import channels_last, emulate
from .errors import CodegenError
from .plan import ExportPlan

CSIM_TIMEOUT_S = 1800


@dataclass
class VerifyResult:
    """Outcome of comparing ``samples`` C-simulated outputs with the float64 emulation."""

    samples: int
    exact: int
    max_abs_diff: float
    first_diverging_layer: str | None = None
    detail: str = ""
    csim_seconds: float = 0.0  # wall time of the g++ build plus the C simulation of all samples

    @property
    def ok(self) -> bool:
        return self.exact == self.samples

    def line(self) -> str:
        d = f"{self.max_abs_diff:.6g}" if self.max_abs_diff else "0"
        text = f"verify: {self.exact}/{self.samples} samples bit-exact (max |diff| = {d})"
        if self.first_diverging_layer:
            text += f"; first diverging layer: '{self.first_diverging_layer}'"
            if self.detail:
                text += f" ({self.detail})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "exact": self.exact,
            "max_abs_diff": self.max_abs_diff,
            "first_diverging_layer": self.first_diverging_layer,
            "line": self.line(),
            "csim_seconds": self.csim_seconds,
        }


def _hls_input(plan: ExportPlan, xq: np.ndarray) -> np.ndarray:
    """Flatten inputs in hls4ml's layout (channels-last; the config uses 'internal')."""
    return np.ascontiguousarray(channels_last(xq).reshape(xq.shape[0], -1), dtype=np.float64)


def run_csim(
    project_dir: str | os.PathLike,
    x_flat: np.ndarray,
    n_out: int,
    build: bool = True,
    trace: dict[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Compile (optionally) and run the C simulation in a child process.

    Returns ``{'y': (N, n_out)}`` plus ``'trace:<layer>'`` arrays when ``trace`` maps traced hls4ml
    layer names to their output sizes. A crash or C++ assert raises CodegenError.
    """
    with tempfile.TemporaryDirectory(prefix="edmips-csim-") as tmp:
        inp, outp = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        extra: dict[str, Any] = {}
        if trace:
            extra = {
                "trace_names": np.asarray(list(trace)),
                "trace_sizes": np.asarray(list(trace.values())),
                "n_traced": len(trace),
            }
        np.savez(inp, x=x_flat, n_out=n_out, build=int(build), **extra)
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        try:
            res = subprocess.run(
                [sys.executable, "-m", "codegen.csim", os.fspath(project_dir), inp, outp],
                capture_output=True,
                text=True,
                timeout=CSIM_TIMEOUT_S,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CodegenError(f"C simulation timed out after {CSIM_TIMEOUT_S} s") from None
        if res.returncode != 0:
            lines = (res.stderr or res.stdout).strip().splitlines()
            what = "crashed (C++ assert or signal)" if res.returncode < 0 else "failed"
            tail = " | ".join(lines[-3:]) if lines else f"exit code {res.returncode}"
            raise CodegenError(f"C simulation {what}: {tail}")
        with np.load(outp) as data:
            return {k: data[k] for k in data.files}


def trace_sizes(hm: Any) -> dict[str, int]:
    """hls4ml layers with trace hooks -> output size (elements)."""
    out: dict[str, int] = {}
    for layer in hm.get_layers():
        if layer.get_attr("function_cpp", None) and layer.get_attr("trace", False):
            out[layer.name] = int(np.prod(layer.get_output_variable().shape))
    return out


def verify(
    plan: ExportPlan, hm: Any, project_dir: str | os.PathLike, x: np.ndarray
) -> VerifyResult:
    """Compile the written project, C-simulate ``x`` (N, *input_shape) in float64, compare.

    Inputs are first cast to the input type. Any difference names the first diverging layer from
    an hls4ml trace of the first mismatching sample.
    """
    xq = plan.input_type.cast(np.asarray(x, dtype=np.float64))
    ref, per_layer = emulate(plan, xq)
    ref_flat = channels_last(ref).reshape(ref.shape[0], -1)
    t0 = time.perf_counter()
    got = run_csim(project_dir, _hls_input(plan, xq), ref_flat.shape[1])["y"]
    seconds = time.perf_counter() - t0
    diff = np.abs(got - ref_flat)
    exact_rows = np.all(diff == 0, axis=1)
    result = VerifyResult(
        int(xq.shape[0]), int(exact_rows.sum()), float(diff.max(initial=0.0)), csim_seconds=seconds
    )
    if result.ok:
        return result
    i = int(np.argmin(exact_rows))
    sizes = trace_sizes(hm)
    traced = run_csim(project_dir, _hls_input(plan, xq[i : i + 1]), ref_flat.shape[1], False, sizes)
    lower = {k.split(":", 1)[1].lower(): v for k, v in traced.items() if k.startswith("trace:")}
    for p in plan.nodes:
        t = lower.get(p.name.lower())
        if t is None:
            continue
        e = channels_last(per_layer[p.name][i : i + 1]).reshape(-1)
        h = t[0].reshape(-1)
        if e.shape != h.shape:
            continue
        if not np.array_equal(e, h):
            j = int(np.argmax(e != h))
            result.first_diverging_layer = p.name
            result.detail = (
                f"element {j}: hls {h[j]:.10g} vs emulation {e[j]:.10g}, type {p.result}"
            )
            break
    else:
        result.first_diverging_layer = "(output only)"
    return result
