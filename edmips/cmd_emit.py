"""``edmips emit``: write a trained fixed-family network as an hls4ml project, verified bit-exactly."""

from __future__ import annotations

import argparse
from typing import Any

from edmips.model_options import add_byom_arguments


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
    src.add_argument(
        "--model-file", default=None, help="OUT/model.pt written by 'edmips train' (default: none)"
    )
    src.add_argument(
        "--zoo",
        default=None,
        metavar="SPEC",
        help="build an untrained model instead: a zoo name or file.py:factory / module:factory"
        " (tests/smoke runs; needs --alloc or --bits; default: none)",
    )
    add_byom_arguments(p, model_args=True)
    p.add_argument(
        "--alloc",
        default=None,
        help="allocation.yaml, e.g. one carrying the FPGA plan written by 'simulate'"
        " (default: the model file's allocation)",
    )
    p.add_argument(
        "--bits", default=None, help="with --zoo: uniform W/A for non-float layers (default: none)"
    )
    p.add_argument(
        "--accel",
        default=None,
        help="fpga_dataflow accelerator config: part, clock and the budgeted design"
        " (default: none; then RF 1, Latency strategy, part xc7z020clg400-1, 10 ns)",
    )
    p.add_argument("--out", required=True, help="project folder to create (required)")
    p.add_argument(
        "--verify",
        type=int,
        default=200,
        metavar="N",
        help="held-out samples to C-simulate, 0 to skip (default: 200)",
    )
    p.add_argument(
        "--io-type",
        choices=("stream", "parallel"),
        default=None,
        help="override the budgeted design's io type (default: the budgeted design's, i.e. the"
        " config's io_type; without --accel: stream when a conv is too big for io_parallel)",
    )
    p.add_argument(
        "--backend",
        choices=("vitis", "vivado"),
        default="vitis",
        help="hls4ml backend the project is written for (default: vitis)",
    )
    p.add_argument(
        "--target-ii",
        type=float,
        default=None,
        metavar="CYCLES",
        help="override the budgeted design's throughput target, cycles per image: reuse factors"
        " are re-chosen for it (default: the budgeted design's, i.e. the config's reuse policy)",
    )
    p.add_argument(
        "--data", default=None, help="data set for samples (default: the model's data set)"
    )
    p.add_argument(
        "--data-dir", default=None, help="folder of the data set files (default: built-in paths)"
    )
    p.add_argument(
        "--force", action="store_true", help="replace an existing --out folder (default: off)"
    )
    p.add_argument(
        "--no-progress", action="store_true", help="hide the progress bar (default: shown)"
    )
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from hwsim.allocation import Allocation

    if args.model_file:
        from search.train import load_trained

        model, alloc, meta = load_trained(args.model_file)
        if args.alloc:
            given = Allocation.load(args.alloc)
            if given.bits != alloc.bits:
                from codegen.errors import CodegenError

                raise CodegenError(
                    f"{args.alloc}: allocation differs from the one {args.model_file} was trained with"
                )
            alloc = given  # same widths, maybe with stored FPGA plans
        return model, alloc, meta
    from search.models import is_zoo
    from search.train import build_fixed
    from search.zoo import MODELS

    if is_zoo(args.zoo):
        if args.zoo not in MODELS:
            from search.errors import SearchError

            raise SearchError(f"unknown model '{args.zoo}' (known: {', '.join(MODELS)})")
        shape, classes = MODELS[args.zoo].input_shape, MODELS[args.zoo].num_classes
    else:  # a factory is sized by the data set it will be verified on
        from search.data import load_dataset

        _, _, data_info = load_dataset(args.data or "digits", args.data_dir)
        shape, classes = tuple(data_info["input_shape"]), int(data_info["num_classes"])
    alloc = Allocation.load(args.alloc) if args.alloc else None
    model, alloc, _ = build_fixed(
        args.zoo, shape, classes, alloc, args.bits, "fixed", model_args=args.model_args
    )
    return (
        model,
        alloc,
        {"family": "fixed", "data": "digits", "zoo_args": {"input_shape": shape}},
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from codegen.emit import emit
    from codegen.errors import CodegenError
    from codegen.export import from_search_model
    from hwsim.config import load_config
    from hwsim.fileio import check_out_dir
    from search.data import load_dataset

    check_out_dir(args.out)  # before loading and exporting, not after
    accel = load_config(args.accel) if args.accel else None
    model, alloc, meta = _load(args)
    if meta.get("family", "fixed") != "fixed":
        raise CodegenError(
            f"model family '{meta.get('family')}' has no exact hls4ml types: train with --family fixed"
        )
    data = args.data or meta.get("data") or "digits"
    train_set, test_set, info = load_dataset(data, args.data_dir)
    shape = tuple(int(s) for s in info["input_shape"])
    calib = torch.stack([train_set[i][0] for i in range(min(512, len(train_set)))])
    if args.zoo:  # untrained: record activation statistics once so the formats are sensible
        model.train()
        with torch.no_grad():
            model(calib)
        model.eval()
    n = min(int(args.verify), len(test_set))
    samples = torch.stack([test_set[i][0] for i in range(n)]).double().numpy() if n > 0 else None
    qm = from_search_model(model, alloc, shape)
    io_type = {"stream": "io_stream", "parallel": "io_parallel", None: None}[args.io_type]
    res = emit(
        qm,
        args.out,
        accel=accel,
        samples=samples,
        calib=calib.double().numpy(),
        io_type=io_type,
        force=args.force,
        backend={"vitis": "Vitis", "vivado": "Vivado"}[args.backend],
        target_ii_cycles=args.target_ii,
        progress=not args.no_progress,
    )
    print(res.report, end="")
    print(f"wrote {res.out_dir}")
    return 0
