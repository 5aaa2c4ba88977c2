"""``edmips emit``: write a trained fixed-family network as an hls4ml project, verified
bit-exactly. :func:`emit` is the one emit stage: the command and ``edmips run`` both call it with
an :class:`edmips.experiment.EmitConfig`."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from codegen.emit import EmitResult
from codegen.emit import emit as cg_emit
from codegen.errors import CodegenError
from codegen.export import export_model
from hwsim.allocation import Allocation
from hwsim.config import load_config
from hwsim.fileio import check_out_dir
from search.config import add_field_argument, apply_fpga, config_from_args
from search.convert import export_fixed
from search.data import load_dataset
from search.errors import SearchError
from search.models import is_zoo
from search.train import build_fixed, load_trained
from search.zoo import MODELS

from .experiment import EmitConfig
from .model_options import ModelArgAction
from .options import add_progress_argument

_IO = {"stream": "io_stream", "parallel": "io_parallel"}


def _io_type(text: str) -> str:
    """``stream``/``parallel`` are short for ``io_stream``/``io_parallel``."""
    return _IO.get(text, text)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "emit",
        help="emit an hls4ml (Vitis/Vivado HLS) project for a trained fixed-family network",
        description="Export the trained network as an hls4ml project: per-layer ap_fixed types, and"
        " the io type, reuse factors and strategy of the budgeted FPGA design (the plan stored with"
        " the allocation for --accel, else the one hwsim computes from it: the design the search"
        " costed and 'simulate' reports). The project is written atomically into OUT, its C"
        " simulation compiled with g++ and N held-out samples compared bit-exactly with a float64"
        " emulation. --io-type and --target-ii override the budgeted design; the report then says"
        " that the firmware differs from it, and by how much.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    add_field_argument(src, EmitConfig, "model_file")
    add_field_argument(src, EmitConfig, "zoo", metavar="SPEC")
    add_field_argument(
        p, EmitConfig, "model_args", "--model-arg", action=ModelArgAction, metavar="KEY=VALUE"
    )
    add_field_argument(p, EmitConfig, "alloc")
    add_field_argument(p, EmitConfig, "bits")
    add_field_argument(p, EmitConfig, "accel")
    add_field_argument(p, EmitConfig, "out", required=True)
    add_field_argument(p, EmitConfig, "verify", type=int, metavar="N")
    add_field_argument(
        p,
        EmitConfig,
        "io_type",
        type=_io_type,
        choices=("auto", "io_stream", "io_parallel"),
        metavar="{auto,stream,parallel}",
    )
    add_field_argument(p, EmitConfig, "backend", choices=("vitis", "vivado"))
    add_field_argument(p, EmitConfig, "target_ii", type=float, metavar="CYCLES")
    add_field_argument(p, EmitConfig, "data")
    add_field_argument(p, EmitConfig, "data_dir")
    add_field_argument(p, EmitConfig, "force")
    add_progress_argument(p)
    p.set_defaults(func=run)


def _load(cfg: EmitConfig) -> tuple[Any, Any, dict[str, Any]]:
    """(model, allocation, meta) of a model file (with ``alloc``'s stored plans when given) or
    of an untrained zoo model."""
    if cfg.model_file:
        model, alloc, meta = load_trained(cfg.model_file)
        if cfg.alloc:
            given = Allocation.load(cfg.alloc)
            if given.bits != alloc.bits:
                raise CodegenError(
                    f"{cfg.alloc}: allocation differs from the one {cfg.model_file} was trained with"
                )
            alloc = given  # same widths, maybe with stored FPGA plans
        return model, alloc, meta
    if not cfg.zoo:
        raise SearchError("give a trained model file (--model-file) or a zoo model (--zoo)")
    if is_zoo(cfg.zoo):
        if cfg.zoo not in MODELS:
            raise SearchError(f"unknown model '{cfg.zoo}' (known: {', '.join(MODELS)})")
        shape, classes = MODELS[cfg.zoo].input_shape, MODELS[cfg.zoo].num_classes
    else:  # a factory is sized by the data set it will be verified on
        _, _, data_info = load_dataset(cfg.data or "digits", cfg.data_dir)
        shape, classes = tuple(data_info["input_shape"]), int(data_info["num_classes"])
    alloc = Allocation.load(cfg.alloc) if cfg.alloc else None
    model, alloc, _ = build_fixed(
        cfg.zoo, shape, classes, alloc, cfg.bits, "fixed", model_args=cfg.model_args
    )
    meta = {"family": "fixed", "data": "digits", "zoo_args": {"input_shape": shape}}
    return model, alloc, meta


def emit(cfg: EmitConfig) -> EmitResult:
    """Emit ``cfg.model_file`` (or the zoo model ``cfg.zoo``) as an hls4ml project in
    ``cfg.out``, verifying ``cfg.verify`` test samples bit-exactly (g++ C simulation). The
    accelerator config is taken under the experiment's FPGA target (``cfg.fpga``), so the design
    is the one the search costed and ``simulate`` reported. Returns codegen's ``EmitResult``."""
    check_out_dir(cfg.out)  # before loading and exporting, not after
    accel = apply_fpga(load_config(cfg.accel), cfg.fpga) if cfg.accel else None
    model, alloc, meta = _load(cfg)
    if meta.get("family", "fixed") != "fixed":
        raise CodegenError(
            f"{cfg.model_file}: family '{meta.get('family')}' has no exact hls4ml types:"
            " train with family fixed"
        )
    data = cfg.data or meta.get("data") or "digits"
    train_set, test_set, info = load_dataset(data, cfg.data_dir)
    shape = tuple(int(s) for s in info["input_shape"])
    calib = torch.stack([train_set[i][0] for i in range(min(512, len(train_set)))])
    if cfg.zoo:  # untrained: record activation statistics once so the formats are sensible
        model.train()
        with torch.no_grad():
            model(calib)
        model.eval()
    n = min(int(cfg.verify), len(test_set))
    samples = torch.stack([test_set[i][0] for i in range(n)]).double().numpy() if n > 0 else None
    return cg_emit(
        export_model(*export_fixed(model, alloc), shape),
        cfg.out,
        accel=accel,
        samples=samples,
        calib=calib.double().numpy(),
        io_type=None if cfg.io_type == "auto" else cfg.io_type,
        force=cfg.force,
        backend={"vitis": "Vitis", "vivado": "Vivado"}[cfg.backend],
        target_ii_cycles=cfg.target_ii,
        progress=cfg.progress,
    )


def run(args: argparse.Namespace) -> int:
    res = emit(config_from_args(EmitConfig, args))
    print(res.report, end="")
    print(f"wrote {res.out_dir}")
    return 0
