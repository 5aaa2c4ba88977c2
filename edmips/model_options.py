"""Command-line options for own models and devices (issue 13), shared by every subcommand that
takes a model or trains: ``--model-arg``, ``--weights``, ``--device``, ``--amp``,
``--pin-memory`` (``--workers`` is in :func:`edmips.cmd_search.add_common_train_args`)."""

from __future__ import annotations

import argparse
from typing import Any

MODEL_HELP = (
    "the network: a zoo name (digits_cnn, digits_mlp, fmnist_cnn, resnet20, resnet18, ...),"
    " path/to/file.py:factory or package.module:factory (a callable returning a torch.nn.Module;"
    " it gets num_classes/input_shape from the data set when its signature names them)"
)


class ModelArgAction(argparse.Action):
    """Collects repeated ``--model-arg key=value`` into one dict (values parsed as YAML scalars)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        from search.errors import SearchError
        from search.models import parse_model_args

        try:
            item = parse_model_args([str(values)])
        except SearchError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        current = dict(getattr(namespace, self.dest, None) or {})
        current.update(item)
        setattr(namespace, self.dest, current)


def add_byom_arguments(
    p: argparse.ArgumentParser,
    *,
    model_args: bool = True,
    weights: bool = False,
    device: bool = False,
    workers: bool = False,
    subset: bool = False,
) -> None:
    """Add the own-model options (``model_args``, ``weights``) and the device options
    (``device``: --device/--amp/--pin-memory; ``workers``: --workers; ``subset``:
    --train-subset) to ``p``."""
    if model_args:
        p.add_argument(
            "--model-arg",
            dest="model_args",
            action=ModelArgAction,
            default=None,
            metavar="KEY=VALUE",
            help="keyword argument for the model factory, repeatable; values are YAML scalars"
            " (e.g. --model-arg width=16 --model-arg act=relu6; default: none)",
        )
    if weights:
        p.add_argument(
            "--weights",
            default=None,
            metavar="FILE",
            help="starting weights: a state_dict file (torch.save(model.state_dict())) or a"
            " checkpoint holding one (edmips model.pt, search checkpoint); every weight of the"
            " network must be there with its shape (default: none)",
        )
    if device:
        p.add_argument(
            "--device",
            default="auto",
            help="auto (CUDA when available, default), cpu, cuda or cuda:N; under torchrun each"
            " process takes cuda:LOCAL_RANK",
        )
        p.add_argument(
            "--amp",
            default=None,
            choices=["bf16"],
            help="mixed precision: bf16 autocast of the forward pass (CUDA only; refused on the"
            " CPU; default off)",
        )
        p.add_argument(
            "--pin-memory",
            action="store_true",
            help="pinned host memory for the data loader (faster copies to a GPU; default: off)",
        )
    if subset:
        p.add_argument(
            "--train-subset",
            type=int,
            default=None,
            metavar="N",
            help="train on the first N images of a seeded shuffle of the training split"
            " (quick runs on large data; default: all)",
        )
        p.add_argument(
            "--no-augment",
            dest="augment",
            action="store_false",
            help="no training augmentations (default for cifar10: random crop with 4-pixel padding"
            " + flip; imagefolder: random resized crop + flip; none for digits/fmnist)",
        )
    if workers:
        p.add_argument(
            "--workers",
            type=int,
            default=0,
            help="data-loader worker processes (default 0: load in the main process)",
        )
