"""Command-line options for own models: ``--model-arg`` (a repeatable ``key=value`` collected into
one dict) and, for the commands without a stage config (``trace``, ``simulate``), the model source
options. The search/train/evaluate/emit/pareto options come from the config fields
(:mod:`edmips.options`)."""

from __future__ import annotations

import argparse
from typing import Any

from search.config import NetworkConfig

#: The help of ``--model``: the description of the config field, written once there.
MODEL_HELP = NetworkConfig.model_fields["model"].description


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


def add_model_source(p: Any, *, required: bool) -> None:
    """``--model`` (zoo name or factory), ``--model-arg``, ``--input-shape`` and ``--batch``: the
    network a workload is traced from (``edmips trace`` and ``edmips simulate``)."""
    p.add_argument("--model", required=required, metavar="SPEC", help=MODEL_HELP)
    p.add_argument(
        "--model-arg",
        dest="model_args",
        action=ModelArgAction,
        default=None,
        metavar="KEY=VALUE",
        help="keyword argument for the model factory, repeatable; values are YAML scalars"
        " (e.g. --model-arg width=16; default: none)",
    )
    p.add_argument(
        "--input-shape",
        metavar="CxHxW",
        help="input shape, e.g. 3x224x224 (default: the zoo model's; required for a factory)",
    )
    p.add_argument("--batch", type=int, default=1, help="images per inference (default 1)")
