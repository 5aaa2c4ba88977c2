"""``edmips evaluate``: top-1 accuracy of a trained model file."""

from __future__ import annotations

import argparse
import json

from hwsim.config import load_config
from hwsim.fileio import atomic_write_text, check_out_file
from search.api import EvalConfig, evaluate
from search.config import add_field_argument, config_from_args

from .options import add_data_args, add_device_args, add_progress_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="top-1 accuracy of a model file written by 'edmips train'",
        description="Load OUT/model.pt from 'edmips train', rebuild the fixed-precision network and"
        " measure top-1 accuracy on the test split (optionally with the allocation's hardware totals).",
    )
    add_field_argument(p, EvalConfig, "model_file", required=True)
    add_data_args(p, EvalConfig)
    add_field_argument(p, EvalConfig, "batch_size", type=int)
    add_field_argument(p, EvalConfig, "accel")
    p.add_argument("--json", default=None, metavar="FILE", help="write the result as JSON to FILE")
    add_device_args(p, EvalConfig)
    add_field_argument(p, EvalConfig, "workers", type=int)
    p.add_argument("--force", action="store_true", help="overwrite --json FILE if it exists")
    add_progress_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.json:
        check_out_file(args.json, args.force, "--json")
    if args.accel:  # a broken config is an error now, not after the evaluation
        load_config(args.accel)
    res = evaluate(config_from_args(EvalConfig, args))
    if args.json:
        atomic_write_text(args.json, json.dumps(res, indent=2) + "\n")
    return 0
