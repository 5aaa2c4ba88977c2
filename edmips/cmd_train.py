"""``edmips train``: train the fixed mixed-precision network of an allocation (or uniform bits)."""

from __future__ import annotations

import argparse

from edmips.cmd_search import add_common_train_args, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train and evaluate a fixed-precision network from an allocation file or uniform --bits",
        description="Train the network with every searched layer fixed at its allocated (w, a) bits"
        " (from scratch, as the paper, or from the weights of a search checkpoint), evaluate top-1 on the"
        " test split and write OUT/model.pt (model, allocation, family, weights, accuracy) and"
        " OUT/train_summary.json.",
    )
    add_common_train_args(p, epochs=15, step_epoch=6)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--allocation", default=None, help="allocation.yaml written by 'edmips search'"
    )
    src.add_argument(
        "--bits", default=None, help="uniform baseline W/A for every non-float layer, e.g. 2/2"
    )
    p.add_argument(
        "--init-from-search",
        default=None,
        metavar="CKPT",
        help="start from the weights of a search checkpoint (OUT/checkpoint.pt) instead of from scratch",
    )
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hwsim.fileio import check_out_dir
    from search.api import TrainConfig, train

    check_out_dir(args.out)  # before training, not after it
    cfg = config_from_args(TrainConfig, args)
    train(cfg)
    return 0
