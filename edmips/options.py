"""Command-line options shared by ``edmips search``, ``train`` and ``pareto``, built from the
config models of :mod:`search.config` (flag, default and help come from the field; see
:func:`search.config.add_field_argument`), so the CLI and the Python API have one default each."""

from __future__ import annotations

import argparse

from search.config import (
    FAMILIES,
    LAYER_POLICIES,
    ConfigBase,
    NetworkConfig,
    TrainingConfig,
    add_field_argument,
)

from .model_options import ModelArgAction


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


def add_data_args(p: argparse.ArgumentParser, cls: type[ConfigBase] = NetworkConfig) -> None:
    """``--data`` and ``--data-dir``."""
    add_field_argument(p, cls, "data")
    add_field_argument(p, cls, "data_dir")


def add_network_args(p: argparse.ArgumentParser, cls: type[NetworkConfig]) -> None:
    """The :class:`search.config.NetworkConfig` fields (model, data, quantizers, layer policy,
    train subset, batch size, seed)."""
    add_field_argument(p, cls, "model")
    add_field_argument(
        p, cls, "model_args", "--model-arg", action=ModelArgAction, metavar="KEY=VALUE"
    )
    add_data_args(p, cls)
    add_field_argument(p, cls, "family", choices=list(FAMILIES))
    add_field_argument(p, cls, "first", choices=list(LAYER_POLICIES))
    add_field_argument(p, cls, "last", choices=list(LAYER_POLICIES))
    add_field_argument(p, cls, "train_subset", type=int, metavar="N")
    add_field_argument(p, cls, "batch_size", type=int)
    add_field_argument(p, cls, "seed", type=int)


def add_training_args(p: argparse.ArgumentParser, cls: type[TrainingConfig]) -> None:
    """The network options and the weight training's (epochs, SGD, output folder, workers)."""
    add_network_args(p, cls)
    for name in ("epochs", "step_epoch"):
        add_field_argument(p, cls, name, type=int)
    for name in ("lr", "momentum", "weight_decay"):
        add_field_argument(p, cls, name, type=float)
    add_field_argument(p, cls, "out")
    add_field_argument(p, cls, "force")
    add_field_argument(p, cls, "workers", type=int)
    add_progress_argument(p)
    add_field_argument(p, cls, "weights", metavar="FILE")
    add_device_args(p, cls)
    add_field_argument(
        p,
        cls,
        "augment",
        "--no-augment",
        action="store_false",
        help="turn off the standard training augmentations (cifar10: random crop of the"
        " 4-pixel-padded image + flip; imagefolder: random resized crop + flip; default: on)",
    )


def add_device_args(p: argparse.ArgumentParser, cls: type[ConfigBase]) -> None:
    """``--device``, ``--amp`` and ``--pin-memory`` (see :mod:`search.device`)."""
    add_field_argument(p, cls, "device")
    add_field_argument(p, cls, "amp", choices=["bf16"])
    add_field_argument(p, cls, "pin_memory")


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: the inverse of a config's ``progress`` field (default: shown)."""
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars or per-epoch lines (default: shown)",
    )
