"""``edmips pareto``: accuracy against hardware cost on several accelerators, with Pareto fronts
and the cross-accelerator check (an allocation searched for A, simulated on B)."""

from __future__ import annotations

import argparse
from typing import Any

from hwsim.fileio import check_out_dir
from hwsim.metrics import cost_names
from search.config import add_field_argument, config_from_args

from .options import add_device_args, add_network_args, add_progress_argument, bit_list
from .pareto import ParetoConfig, run_pareto


def _list(text: str) -> list[str]:
    vals = [t.strip() for t in text.split(",") if t.strip()]
    if not vals:
        raise argparse.ArgumentTypeError(f"'{text}': expected a comma-separated list")
    return vals


class AccelTargetsAction(argparse.Action):
    """Collects repeated ``--accel-targets NAME=T1,T2`` into one dict of target lists."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        name, sep, rest = str(values).partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentError(
                self, f"'{values}': expected NAME=T1,T2 (NAME: an --accel file's stem)"
            )
        try:
            targets = _list(rest)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        current = dict(getattr(namespace, self.dest, None) or {})
        current[name.strip()] = targets
        setattr(namespace, self.dest, current)


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
    add_field_argument(p, ParetoConfig, "metric", choices=cost_names(hardware=True))
    add_field_argument(p, ParetoConfig, "targets", type=_list)
    add_field_argument(
        p,
        ParetoConfig,
        "accel_targets",
        action=AccelTargetsAction,
        metavar="NAME=T1,T2",
        default_text="--targets on every accelerator; repeatable",
    )
    add_field_argument(p, ParetoConfig, "uniform", type=_list)
    add_field_argument(p, ParetoConfig, "w_bits", type=bit_list)
    add_field_argument(p, ParetoConfig, "a_bits", type=bit_list)
    add_field_argument(p, ParetoConfig, "bitops")
    add_field_argument(p, ParetoConfig, "search_epochs", type=int)
    add_field_argument(p, ParetoConfig, "train_epochs", type=int)
    add_field_argument(p, ParetoConfig, "out", required=True)
    add_field_argument(p, ParetoConfig, "force")
    add_field_argument(p, ParetoConfig, "workers", type=int)
    add_device_args(p, ParetoConfig)
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
