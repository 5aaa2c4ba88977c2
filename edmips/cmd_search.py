"""``edmips search``: EdMIPS bit-width search against a simulated accelerator."""

from __future__ import annotations

import argparse

from hwsim.fileio import check_out_dir
from hwsim.metrics import COSTS
from search.api import SearchConfig, search
from search.config import PRESETS, add_field_argument, config_from_args

from .options import add_training_args, bit_list


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "search",
        help="search per-layer weight/activation bit-widths for a model under a hardware budget",
        description="EdMIPS search: every searched Conv2d/Linear mixes its candidate quantizations with"
        " learned softmax weights; the loss is cross-entropy + lambda * expected hardware cost / cost of"
        " uniform 8/8. With --target a controller adapts lambda so the expected cost reaches the budget,"
        " then the argmax allocation is repaired to meet it exactly (multiple-choice knapsack, scipy milp)."
        " Writes OUT/allocation.yaml, OUT/search_log.jsonl, OUT/summary.json and OUT/checkpoint.pt."
        " Under torchrun the search runs DistributedDataParallel (NCCL on CUDA, gloo on the CPU) with"
        " rank 0 writing.",
    )
    add_training_args(p, SearchConfig)
    add_field_argument(p, SearchConfig, "accel")
    add_field_argument(
        p,
        SearchConfig,
        "metric",
        choices=list(COSTS),
        default_text="the target's metric, else latency with --accel and bitops without",
    )
    g = p.add_mutually_exclusive_group(required=True)
    add_field_argument(g, SearchConfig, "target")
    add_field_argument(g, SearchConfig, "lam", type=float)
    add_field_argument(p, SearchConfig, "w_bits", type=bit_list, default_text="per family")
    add_field_argument(p, SearchConfig, "a_bits", type=bit_list)
    add_field_argument(p, SearchConfig, "preset", choices=list(PRESETS))
    add_field_argument(
        p, SearchConfig, "arch_optimizer", choices=["adam", "sgd"], default_text="the preset's"
    )
    for name in ("lra", "temp_start", "temp_end", "warmup", "entropy", "setpoint"):
        add_field_argument(p, SearchConfig, name, type=float, default_text="the preset's")
    add_field_argument(p, SearchConfig, "init", metavar="MODEL.pt")
    add_field_argument(p, SearchConfig, "resume")
    add_field_argument(p, SearchConfig, "lambda_interval", type=int)
    add_field_argument(p, SearchConfig, "fill", type=float)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_out_dir(args.out)  # before the search, not after it
    # unset fields (metric, w_bits, the preset's) take the config's defaults (search.config)
    search(config_from_args(SearchConfig, args))
    return 0
