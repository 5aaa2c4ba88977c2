"""``edmips train``: train the fixed mixed-precision network of an allocation (or uniform bits)."""

from __future__ import annotations

import argparse

from hwsim.fileio import check_out_dir
from search.api import TrainConfig, train
from search.config import add_field_argument, config_from_args

from .options import add_training_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train and evaluate a fixed-precision network from an allocation file or uniform --bits",
        description="Train the network with every searched layer fixed at its allocated (w, a) bits"
        " (from scratch, as the paper, or from the weights of a search checkpoint), evaluate top-1 on the"
        " test split and write OUT/model.pt (model, allocation, family, weights, accuracy) and"
        " OUT/train_summary.json.",
    )
    add_training_args(p, TrainConfig)
    src = p.add_mutually_exclusive_group(required=True)
    add_field_argument(src, TrainConfig, "allocation")
    add_field_argument(src, TrainConfig, "bits")
    add_field_argument(p, TrainConfig, "init_from_search", metavar="CKPT")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out_dir(args.out)  # before training, not after it
    train(config_from_args(TrainConfig, args))
    return 0
