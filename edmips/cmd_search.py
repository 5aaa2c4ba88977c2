"""``edmips search``: EdMIPS bit-width search against a simulated accelerator."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from edmips.model_options import MODEL_HELP, add_byom_arguments
from hwsim.errors import HwsimError


def bit_list(text: str) -> list[int]:
    """Parse ``1,2,3,4`` into a sorted list of distinct positive integers."""
    try:
        vals = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}': expected comma-separated integers such as 1,2,3,4"
        ) from None
    if not vals or min(vals) < 1 or max(vals) > 32:
        raise argparse.ArgumentTypeError(f"'{text}': bit-widths must be 1..32")
    return vals


def add_data_args(p: argparse.ArgumentParser, default_data: str | None = "digits") -> None:
    p.add_argument(
        "--data",
        default=default_data,
        help="data set: digits (sklearn, bundled, default), fmnist (Fashion-MNIST IDX files, e.g. from"
        " 'apt-get install dataset-fashion-mnist'), cifar10 (python batches), imagefolder (train/ and val/ class folders),"
        " or package.module:factory / file.py:factory returning (train, test[, info]) datasets",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder of the data set files (fmnist default: /usr/share/datasets/fashion-mnist; required for cifar10/imagefolder)",
    )


def add_common_train_args(p: argparse.ArgumentParser, epochs: int, step_epoch: int) -> None:
    p.add_argument("--model", default="digits_cnn", help=MODEL_HELP + " (default digits_cnn)")
    add_data_args(p)
    p.add_argument(
        "--family",
        default="paper",
        choices=["paper", "fixed"],
        help="quantizers: paper (HWGQ + Gaussian steps, as EdMIPS) or fixed (power-of-two steps that map onto ap_fixed; needed by codegen)",
    )
    p.add_argument(
        "--first",
        default="float",
        choices=["float", "search"],
        help="first MAC layer: keep float (costed at 8/8, the paper's choice) or search/quantize it",
    )
    p.add_argument(
        "--last",
        default="float",
        choices=["float", "search"],
        help="last MAC layer: keep float (default) or search/quantize it",
    )
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument(
        "--step-epoch",
        type=int,
        default=step_epoch,
        help=f"multiply learning rates by 0.1 every this many epochs (default {step_epoch})",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=0.1,
        help="weight learning rate (SGD, momentum 0.9, weight decay 1e-4; default 0.1)",
    )
    p.add_argument(
        "--batch-size", type=int, default=64, help="minibatch size per process (default 64)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed: the same seed gives the same result (default 0)",
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite an existing finished --out folder"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="data-loader worker processes (default 0: load in the main process)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    add_byom_arguments(p, model_args=True, weights=True, device=True, subset=True)


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """A search/train config dataclass filled from the parsed arguments of the same names.

    ``progress`` follows ``--no-progress``; ``overrides`` set fields whose value is derived.
    """
    given = vars(args)
    values = {f.name: given[f.name] for f in fields(cls) if f.name in given}
    if "progress" in {f.name for f in fields(cls)} and "no_progress" in given:
        values["progress"] = not given["no_progress"]
    values.update(overrides)
    return cls(**values)


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
    add_common_train_args(p, epochs=12, step_epoch=5)
    p.add_argument(
        "--accel",
        default=None,
        help="accelerator config YAML (e.g. accel_configs/bitfusion_eyeriss.yaml); needed for every metric except bitops",
    )
    p.add_argument(
        "--metric",
        default=None,
        choices=["latency", "energy", "edp", "dram", "lut", "dsp", "bitops"],
        help="hardware cost to budget: latency (s), energy (pJ), edp (pJ*s), dram (bytes), lut, dsp (FPGA), bitops (MACs*w*a, no accelerator needed); default: the --target's metric",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument(
        "--target",
        default=None,
        help="budget METRIC=VALUE: relative to uniform 8/8 (latency=0.5x) or absolute with a unit (latency=2ms, energy=3mJ, dram=2MB, lut=60000, bitops=1.5G)",
    )
    g.add_argument(
        "--lambda",
        dest="lam",
        type=float,
        default=None,
        help="fixed cost weight (the paper's gamma) instead of a target: loss = CE + lambda * cost / cost(8/8)",
    )
    p.add_argument(
        "--w-bits",
        type=bit_list,
        default=None,
        help="candidate weight bit-widths (default 1,2,3,4; 2,3,4 for --family fixed, whose weights need"
        " at least 2 bits: search.api.DEFAULT_W_BITS); widths the accelerator lacks are dropped with a notice",
    )
    p.add_argument(
        "--a-bits",
        type=bit_list,
        default=[2, 3, 4],
        help="candidate activation bit-widths (default 2,3,4)",
    )
    p.add_argument(
        "--preset",
        default="converge",
        choices=["converge", "paper"],
        help="architecture-parameter settings: converge (default: Adam lr 0.05, softmax temperature"
        " annealed 1 -> 0.03, first 25%% of the epochs a warm-up without the cost term, lambda"
        " controller aimed at 0.95x the target) or paper (EdMIPS: SGD lr 0.01 on the weights' step"
        " schedule, no annealing, no warm-up); the options below override single values",
    )
    p.add_argument(
        "--arch-optimizer",
        default=None,
        choices=["adam", "sgd"],
        help="optimizer of the architecture parameters (default: the preset's)",
    )
    p.add_argument(
        "--lra",
        type=float,
        default=None,
        help="architecture (alpha) learning rate per step (default: the preset's, 0.05 / paper 0.01)",
    )
    p.add_argument(
        "--temp-start",
        type=float,
        default=None,
        help="softmax temperature of the alphas after the warm-up (default 1)",
    )
    p.add_argument(
        "--temp-end",
        type=float,
        default=None,
        help="softmax temperature at the last step, geometric in between (default 0.03; paper 1)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="fraction of the epochs that train weights only (alphas frozen, no cost; default 0.25)",
    )
    p.add_argument(
        "--entropy",
        type=float,
        default=None,
        help="weight of the per-layer entropy penalty, ramped up with the annealing (default 0.01; paper 0)",
    )
    p.add_argument(
        "--setpoint",
        type=float,
        default=None,
        help="the lambda controller aims the expected cost at this fraction of the target (default 0.95)",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="MODEL.pt",
        help="warm start: copy the weights of a trained model.pt (edmips train, e.g. --bits 8/8)"
        " or of a search checkpoint before searching",
    )
    p.add_argument("--out", default="runs/search", help="output folder (default runs/search)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the search in --out from its last epoch checkpoint (same result as an uninterrupted run)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hwsim.fileio import check_out_dir
    from search.api import SearchConfig, search
    from search.budget import parse_target

    check_out_dir(args.out)  # before the search, not after it
    metric = args.metric
    if args.target is not None:
        tmetric = parse_target(args.target).metric
        if metric is not None and metric != tmetric:
            raise HwsimError(f"--target '{args.target}' is on {tmetric} but --metric is {metric}")
        metric = tmetric
    if metric is None:
        metric = "bitops" if args.accel is None else "latency"
    # w_bits=None and preset fields left None take the config's defaults (search.api)
    cfg = config_from_args(SearchConfig, args, metric=metric)
    search(cfg)
    return 0
