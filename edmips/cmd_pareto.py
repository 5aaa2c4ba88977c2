"""``edmips pareto``: accuracy against hardware cost on several accelerators, with Pareto fronts
and the cross-accelerator check (an allocation searched for A, simulated on B)."""

from __future__ import annotations

import argparse

from edmips.cmd_search import add_data_args, bit_list
from edmips.model_options import MODEL_HELP, add_byom_arguments


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
    p.add_argument("--model", default="digits_cnn", help=MODEL_HELP + " (default digits_cnn)")
    add_byom_arguments(p, model_args=True)
    add_data_args(p)
    p.add_argument(
        "--accel",
        action="append",
        required=True,
        metavar="YAML",
        help="accelerator config; repeat for each accelerator (e.g. accel_configs/stripes.yaml)",
    )
    p.add_argument(
        "--metric",
        default="latency",
        choices=["latency", "energy", "edp", "dram"],
        help="hardware cost the searches target (default latency)",
    )
    p.add_argument(
        "--targets",
        type=_list,
        default=["0.4x", "0.6x"],
        help="relative targets: fractions of the searched layers' cost at uniform 8/8 on each"
        " accelerator, as 'edmips search --target' reads them; a target an accelerator cannot"
        " reach is skipped there (default 0.4x,0.6x)",
    )
    p.add_argument(
        "--uniform",
        type=_list,
        default=["2/2", "4/4", "8/8"],
        help="uniform W/A baselines, trained once (default 2/2,4/4,8/8)",
    )
    p.add_argument(
        "--w-bits",
        type=bit_list,
        default=None,
        help="candidate weight bit-widths of every search, e.g. 2,4,8 (default: edmips search's)",
    )
    p.add_argument(
        "--a-bits",
        type=bit_list,
        default=None,
        help="candidate activation bit-widths of every search (default: edmips search's)",
    )
    p.add_argument(
        "--bitops",
        action="store_true",
        help="also search against BitOps (MACs x w x a, the paper's cost) at the same targets",
    )
    p.add_argument("--family", default="paper", choices=["paper", "fixed"], help="quantizers")
    p.add_argument("--search-epochs", type=int, default=6, help="epochs per search (default 6)")
    p.add_argument(
        "--train-epochs", type=int, default=6, help="epochs per final training (default 6)"
    )
    p.add_argument(
        "--train-subset",
        type=int,
        default=None,
        metavar="N",
        help="use N training images (a seeded random subset; default all)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size (default 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--force", action="store_true", help="start over: delete the sub-runs already in OUT"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edmips.pareto import ParetoConfig, run_pareto
    from hwsim.fileio import check_out_dir

    check_out_dir(args.out)
    cfg = ParetoConfig(
        accels=args.accel,
        model=args.model,
        model_args=args.model_args,
        data=args.data,
        data_dir=args.data_dir,
        metric=args.metric,
        targets=args.targets,
        uniform=args.uniform,
        w_bits=args.w_bits,
        a_bits=args.a_bits,
        bitops=args.bitops,
        family=args.family,
        search_epochs=args.search_epochs,
        train_epochs=args.train_epochs,
        train_subset=args.train_subset,
        batch_size=args.batch_size,
        seed=args.seed,
        out=args.out,
        force=args.force,
        progress=not args.no_progress,
    )
    res = run_pareto(cfg)
    print(
        f"{len(res['ran'])} sub-runs ran, {len(res['skipped'])} skipped (finished before);"
        f" wrote {', '.join(str(f) for f in res['files'][:5])} and {len(res['files']) - 5} plots"
    )
    return 0
