"""``edmips simulate``: per-layer cycles, energy and DRAM traffic of a network on accelerators."""

from __future__ import annotations

import argparse

from edmips.model_options import add_model_source
from hwsim.cli import add_simulate_arguments, run_simulation
from hwsim.errors import HwsimError
from hwsim.metrics import totals_help
from hwsim.workload import Workload


def parse_shape(text: str) -> tuple[int, ...]:
    """``3x224x224`` -> (3, 224, 224)."""
    try:
        shape = tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        raise HwsimError(
            f"--input-shape '{text}': expected sizes joined by x, e.g. 3x224x224"
        ) from None
    if not shape or min(shape) < 1:
        raise HwsimError(f"--input-shape '{text}': sizes must be positive")
    return shape


def load_workload(args: argparse.Namespace) -> Workload:
    """Workload from --workload FILE, or from --model traced at --input-shape."""
    if args.workload:
        if args.model:
            raise HwsimError("give either --model or --workload, not both")
        return Workload.load(args.workload)
    if not args.model:
        raise HwsimError("give --model NAME (with --input-shape) or --workload FILE")
    from search.models import default_input_shape, model_label, resolve_model
    from search.trace import trace_workload

    shape = parse_shape(args.input_shape) if args.input_shape else default_input_shape(args.model)
    if shape is None:
        raise HwsimError(f"--model '{args.model}': give its --input-shape CxHxW, e.g. 1x28x28")
    if len(shape) != 3:
        raise HwsimError(f"--input-shape '{args.input_shape}': expected CxHxW, e.g. 1x28x28")
    # the small models size their pooling and linear layers from the input shape
    model = resolve_model(args.model, getattr(args, "model_args", None), input_shape=shape)
    return trace_workload(model, shape, batch=args.batch, name=model_label(args.model))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a network on one or more accelerators",
        description="Per-layer compute/stall cycles, utilization, DRAM traffic and energy of a network at given"
        f" bit-widths on accelerator configs; totals include {totals_help()}."
        " Several --accel print a side-by-side comparison.",
    )
    src = p.add_argument_group("workload (one of)")
    add_model_source(src, required=False)
    src.add_argument(
        "--workload", metavar="FILE", help="workload YAML/JSON or SCALE-Sim topology CSV"
    )
    add_simulate_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise HwsimError(f"--batch {args.batch}: must be at least 1")
    run_simulation(load_workload(args), args)
    return 0
