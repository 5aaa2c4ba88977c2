"""``edmips trace``: write a network's workload file (the input of ``hwsim --workload``)."""

from __future__ import annotations

import argparse

from edmips.cmd_simulate import load_workload
from edmips.model_options import add_model_source
from hwsim.errors import HwsimError
from hwsim.fileio import check_out_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "trace",
        help="trace a model's Conv2d/Linear layers into a workload file for hwsim",
        description="Run the model once on a zero input of --input-shape, record every Conv2d and"
        " Linear layer with the shapes it sees (channels, kernel, stride, padding, groups, input and"
        " output height/width in pixels, batch) and the producer -> consumer edges, and write them as"
        " a workload YAML or JSON (by --out's extension) that 'hwsim --workload' and"
        " 'edmips simulate --workload' read. The format is described in the README.",
    )
    add_model_source(p, required=True)
    p.add_argument(
        "--out", required=True, metavar="FILE", help="workload file to write (.yaml, .yml, .json)"
    )
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=run, workload=None)


def run(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise HwsimError(f"--batch {args.batch}: must be at least 1")
    if not args.out.lower().endswith((".yaml", ".yml", ".json")):
        raise HwsimError(f"--out {args.out}: expected a .yaml, .yml or .json file name")
    check_out_file(args.out, args.force, "--out")  # before tracing, not after
    wl = load_workload(args)
    wl.save(args.out)
    print(
        f"{wl.name}: {len(wl.layers)} layers, {wl.total_macs:,} MACs, {wl.total_params:,}"
        f" parameters (batch {args.batch}); wrote {args.out}"
    )
    return 0
