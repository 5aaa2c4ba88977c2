"""``edmips pareto``: accuracy against hardware cost on several accelerators, with Pareto fronts
and the cross-accelerator check (an allocation searched for A, simulated on B)."""

from __future__ import annotations

import argparse

from hwsim.fileio import check_out_dir
from hwsim.metrics import cost_names
from search.config import add_field_argument, config_from_args

from .options import add_network_args, add_progress_argument, bit_list
from .pareto import ParetoConfig, run_pareto


def _list(text: str) -> list[str]:
    vals = [t.strip() for t in text.split(",") if t.strip()]
    if not vals:
        raise argparse.ArgumentTypeError(f"'{text}': expected a comma-separated list")
    return vals


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pareto",
        help="search against each accelerator, train, and compare accuracy vs simulated cost",
        description="For every --accel and every relative target: an EdMIPS search against that"
        " accelerator and the final training of its allocation; uniform baselines trained once;"
        " with --bitops, BitOps-targeted searches at the same targets. Every trained allocation is"
        " then simulated on every accelerator. Writes OUT/pareto.{md,csv,json},"
        " OUT/crosscheck.{md,csv} and per accelerator OUT/<accel>_acc_vs_{latency,energy}.png."
        " Finished sub-runs (OUT/runs/*) are skipped when the command is run again.",
    )
    add_network_args(p, ParetoConfig)
    add_field_argument(
        p, ParetoConfig, "accels", "--accel", action="append", required=True, metavar="YAML"
    )
    add_field_argument(p, ParetoConfig, "metric", choices=cost_names(hardware=True, universal=True))
    add_field_argument(p, ParetoConfig, "targets", type=_list)
    add_field_argument(p, ParetoConfig, "uniform", type=_list)
    add_field_argument(p, ParetoConfig, "w_bits", type=bit_list)
    add_field_argument(p, ParetoConfig, "a_bits", type=bit_list)
    add_field_argument(p, ParetoConfig, "bitops")
    add_field_argument(p, ParetoConfig, "search_epochs", type=int)
    add_field_argument(p, ParetoConfig, "train_epochs", type=int)
    add_field_argument(p, ParetoConfig, "out", required=True)
    add_field_argument(p, ParetoConfig, "force")
    add_progress_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out_dir(args.out)
    cfg = config_from_args(ParetoConfig, args)
    res = run_pareto(cfg)
    print(
        f"{len(res['ran'])} sub-runs ran, {len(res['skipped'])} skipped (finished before);"
        f" wrote {', '.join(str(f) for f in res['files'][:5])} and {len(res['files']) - 5} plots"
    )
    return 0
