"""``hwsim``: the simulator on its own (no torch): workload file + accelerator config(s) -> report.

``edmips simulate`` adds ``--model`` (a PyTorch model traced for its real shapes) on top of this.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from .allocation import Allocation, parse_bits
from .config import load_config
from .errors import HwsimError
from .fileio import atomic_write_text, check_out_file
from .metrics import REGISTRY, totals_help
from .simulate import Report, plot_reports, simulate
from .workload import Workload


def compare_keys() -> list[tuple[str, str, float]]:
    """``(total key, header, scale)`` of the side-by-side table: every registered metric with a
    ``compare`` column (see :mod:`hwsim.metrics`)."""
    return [(m.total, *m.compare) for m in REGISTRY.values() if m.compare is not None]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit 2), like every other
    input error of these tools; ``--help`` still prints the full usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def os_error_line(exc: OSError) -> str:
    """An OSError (disk full, permission denied, ...) as one line naming the file."""
    name = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{name}: {reason}" if name else reason


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``hwsim`` and ``edmips simulate`` (everything but the workload source)."""
    parser.add_argument(
        "--accel",
        action="append",
        required=True,
        metavar="CFG",
        help="accelerator YAML (see accel_configs/); repeat for a side-by-side comparison",
    )
    bits = parser.add_mutually_exclusive_group(required=True)
    bits.add_argument(
        "--bits", metavar="W/A", help="the same weight/activation bits on every layer, e.g. 4/4"
    )
    bits.add_argument(
        "--alloc", metavar="FILE", help="per-layer allocation (YAML/JSON from `edmips search`)"
    )
    parser.add_argument(
        "--first-last",
        metavar="W/A",
        help="with --bits: bits of the first and last layer (EdMIPS keeps them at 8/8); default: same as --bits",
    )
    parser.add_argument("--json", metavar="OUT", help="write the report(s) as JSON")
    parser.add_argument(
        "--plot", metavar="OUT.png", help="write per-layer cycles and energy as a PNG"
    )
    parser.add_argument(
        "--markdown", metavar="OUT.md", help="write the report(s) as Markdown tables"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite existing --json/--plot/--markdown outputs"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the totals")


def allocation_from_args(workload: Workload, args: argparse.Namespace) -> Allocation:
    """The allocation selected by ``--bits``/``--first-last`` or ``--alloc``."""
    if args.alloc:
        if args.first_last:
            raise HwsimError("--first-last applies only with --bits")
        alloc = Allocation.load(args.alloc)
        alloc.validate(workload)
        return alloc
    w, a = parse_bits(args.bits)
    alloc = Allocation.uniform(workload, w, a)
    if args.first_last:
        fw, fa = parse_bits(args.first_last)
        for name in {workload.layers[0].name, workload.layers[-1].name}:
            alloc.bits[name] = (fw, fa)
    return alloc


def run_simulation(workload: Workload, args: argparse.Namespace) -> list[Report]:
    """Validate all inputs first, then simulate, print and write outputs."""
    for opt, out in (("--json", args.json), ("--plot", args.plot), ("--markdown", args.markdown)):
        if out:
            check_out_file(out, args.force, opt)
    configs = [load_config(p) for p in args.accel]
    alloc = allocation_from_args(workload, args)
    reports = [simulate(workload, alloc, cfg) for cfg in configs]
    for rep in reports:
        if args.quiet:
            print(f"{rep.accelerator}: " + ", ".join(f"{k}={v:.4g}" for k, v in rep.totals.items()))
            for note in rep.notes:
                print(f"note: {note}")
        else:
            print(rep.to_text())
            print()
    if len(reports) > 1:
        print(comparison_table(reports))
    if args.json:
        payload = (
            reports[0].to_dict()
            if len(reports) == 1
            else {"reports": [r.to_dict() for r in reports]}
        )
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    if args.markdown:
        atomic_write_text(args.markdown, "\n".join(r.to_markdown() for r in reports))
    if args.plot:
        plot_reports(reports, args.plot)
    return reports


def comparison_table(reports: Sequence[Report]) -> str:
    """Totals of several accelerators side by side, with ratios to the first."""
    keys = [k for k in compare_keys() if any(k[0] in r.totals for r in reports)]
    name_w = max(len(r.accelerator) for r in reports) + 2
    head = f"{'accelerator':<{name_w}}" + "".join(f"{label:>18}" for _, label, _ in keys)
    lines = ["side-by-side (ratio to the first accelerator in brackets)", head]
    base = reports[0].totals
    for r in reports:
        cells = []
        for key, _, scale in keys:
            if key not in r.totals:
                cells.append("-")
                continue
            v = r.totals[key]
            ratio = v / base[key] if base.get(key) else float("nan")
            cells.append(f"{v * scale:>10.4g} [{ratio:4.2f}]")
        lines.append(f"{r.accelerator:<{name_w}}" + "".join(f"{c:>18}" for c in cells))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="hwsim",
        description="Simulate a workload (YAML/JSON, or a SCALE-Sim topology CSV) on one or more"
        f" accelerators. Totals include {totals_help()} (see hwsim/metrics.py).",
    )
    parser.add_argument(
        "--workload",
        required=True,
        metavar="FILE",
        help="workload YAML/JSON or SCALE-Sim topology CSV",
    )
    add_simulate_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage error (one line, see OneLineParser) or --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        run_simulation(Workload.load(args.workload), args)
    except HwsimError as exc:
        print(f"hwsim: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up while writing an output
        print(f"hwsim: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwsim: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
