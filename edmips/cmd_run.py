"""``edmips run``: one experiment file from model to verified firmware, with report.md and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from search.config import SearchConfig, add_field_argument

from .options import add_device_args


def register(subparsers: argparse._SubParsersAction) -> None:
    from .pipeline import STAGES

    p = subparsers.add_parser(
        "run",
        help="run an experiment file: search -> train -> baselines -> simulate -> firmware -> report",
        description="Run every stage of an experiment YAML (see examples/digits_fpga.yaml) into one run"
        " folder: search/ (allocation.yaml), train/ (model.pt), baselines/<WxAy>/, simulate/ (JSON +"
        " PNG per accelerator), firmware/ (the verified hls4ml project), report.md and plots/."
        " Finished stages whose config is unchanged are skipped; an interrupted run resumes at the"
        " unfinished stage (the search from its checkpoint).",
    )
    p.add_argument("config", help="experiment YAML file")
    p.add_argument(
        "--out", default=None, help="run folder (default runs/<experiment file name without .yaml>)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="redo the selected stages even when finished (and accept a changed config)",
    )
    p.add_argument(
        "--stages",
        nargs="+",
        choices=STAGES,
        default=None,
        metavar="STAGE",
        help=f"run only these stages ({', '.join(STAGES)}); the ones they need must be finished",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    add_device_args(p, SearchConfig)  # how the run executes: overrides the file, not hashed
    add_field_argument(p, SearchConfig, "workers", type=int)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .experiment import Experiment
    from .pipeline import run as run_pipeline

    exp = Experiment.load(args.config)
    # devices are how the run executes, not what it computes: they override the file's sections
    # and stay out of the stage hashes (an interrupted CUDA run may resume on the CPU)
    given = {"device": args.device if args.device != "auto" else None, "amp": args.amp}
    given.update(pin_memory=args.pin_memory or None, workers=args.workers or None)
    for sec in (exp.search, exp.train):
        for key, value in given.items():
            if value is not None:
                setattr(sec, key, value)
    out = args.out or str(Path("runs") / Path(args.config).stem)
    res = run_pipeline(
        exp, out, force=args.force, stages=args.stages, progress=not args.no_progress
    )
    print(
        f"ran: {', '.join(res.ran) or 'nothing'}; skipped: {', '.join(res.skipped) or 'nothing'};"
        f" report: {Path(out) / 'report.md'}"
    )
    return 0
