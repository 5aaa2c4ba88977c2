"""The ``edmips`` command. Each subcommand lives in ``edmips/cmd_<name>.py`` and defines
``register(subparsers)``, which adds its parser and sets ``func`` to the function that runs it.

User mistakes raise :class:`hwsim.HwsimError` (or a subclass): printed as one line, exit 2; so
are usage errors (:class:`hwsim.cli.OneLineParser`) and operating-system errors such as a full
disk. Every command checks its output locations before it starts work.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import edmips
from hwsim.cli import OneLineParser, os_error_line
from hwsim.errors import HwsimError


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="edmips",
        description="Hardware-aware mixed-precision quantization: search per-layer bit-widths against a"
        " simulated accelerator, simulate networks on accelerators, and emit hls4ml firmware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(edmips.__path__), key=lambda i: i.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"edmips.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage error (one line, see OneLineParser) or --help
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except HwsimError as exc:
        print(f"edmips {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up while writing an output
        print(f"edmips {args.command}: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edmips {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
