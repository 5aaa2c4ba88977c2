"""``edmips evaluate``: top-1 accuracy of a trained model file."""

from __future__ import annotations

import argparse
import json

from edmips.model_options import add_byom_arguments
from hwsim.fileio import atomic_write_text, check_out_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="top-1 accuracy of a model file written by 'edmips train'",
        description="Load OUT/model.pt from 'edmips train', rebuild the fixed-precision network and"
        " measure top-1 accuracy on the test split (optionally with the allocation's hardware totals).",
    )
    p.add_argument("--model-file", required=True, help="model.pt written by 'edmips train'")
    p.add_argument(
        "--data",
        default=None,
        help="data set: digits, fmnist, cifar10, imagefolder or package.module:factory"
        " (default: the one the model was trained on)",
    )
    p.add_argument("--data-dir", default=None, help="folder of the data set files")
    p.add_argument(
        "--batch-size", type=int, default=256, help="evaluation batch size (default 256)"
    )
    p.add_argument(
        "--accel",
        default=None,
        help="also simulate the model's allocation on this accelerator config",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="write the result as JSON to FILE")
    add_byom_arguments(p, model_args=False, device=True, workers=True)
    p.add_argument("--force", action="store_true", help="overwrite --json FILE if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from search.api import EvalConfig, evaluate

    if args.json:
        check_out_file(args.json, args.force, "--json")
    if args.accel:  # a broken config is an error now, not after the evaluation
        from hwsim.config import load_config

        load_config(args.accel)
    res = evaluate(
        EvalConfig(
            args.model_file,
            args.data,
            args.data_dir,
            args.batch_size,
            args.accel,
            device=args.device,
            amp=args.amp,
            workers=args.workers,
            pin_memory=args.pin_memory,
        )
    )
    if args.json:
        atomic_write_text(args.json, json.dumps(res, indent=2) + "\n")
    return 0
