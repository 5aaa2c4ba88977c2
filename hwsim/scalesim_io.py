"""SCALE-Sim topology CSV (conv format) in and out.

Rows: ``name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,``
(an optional trailing sparsity column is ignored). SCALE-Sim has no padding: the IFMAP size in the
file is the padded input. SCALE-Sim counts output pixels as ceil((I - K + S) / S), i.e. it keeps a
last, partial window when (I - K) is not a multiple of S; a file row is therefore read as the layer
whose input is zero-extended to (O - 1) * S + K pixels, and a layer is written with its padded input
trimmed to exactly (O - 1) * S + K so both tools agree on O.

A name containing ``DP`` is depthwise, as SCALE-Sim treats it: the row is split into ``Channels``
single-channel convolutions with ``Num Filter`` filters each, so ``Num Filter`` is the channel
multiplier (1 for a plain depthwise layer) and the layer has Channels x Num Filter outputs.
SCALE-Sim has no batch: a conv layer must have batch 1; a linear layer with batch N is written as a
1x1 convolution over an N x 1 IFMAP (the same GEMM).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import WorkloadError
from .fileio import atomic_write_text, read_text_file

if TYPE_CHECKING:
    from .workload import Workload

HEADER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,"
    " Strides,"
)
_COLUMNS = (
    "IFMAP Height",
    "IFMAP Width",
    "Filter Height",
    "Filter Width",
    "Channels",
    "Num Filter",
    "Strides",
)


def _windows(size: int, kernel: int, stride: int) -> int:
    """SCALE-Sim's output size along one axis: ceil((I - K + S) / S)."""
    return -(-(size - kernel) // stride) + 1


def parse_topology(
    path: str | os.PathLike, batch: int = 1
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """Parse a SCALE-Sim topology CSV into ``(name, [(where, LayerSpec fields), ...])``.

    ``hwsim.Workload.load`` (or ``Workload.from_topology``) builds the chain workload from it.
    A 1x1 filter over a 1x1 IFMAP is a linear layer; a ``DP`` name is a depthwise conv (see the
    module docstring); everything else is a conv with no padding. Errors name the file and line
    (``where`` is ``<file>: line <n>``, for errors the layer fields raise later).
    """
    p = Path(path)
    text = read_text_file(p, WorkloadError)  # missing, folder, binary, empty: one line
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise WorkloadError(f"{p}: not a CSV file ({exc})") from None
    if not rows:
        raise WorkloadError(f"{p}: empty topology file")
    header, body = rows[0], rows[1:]
    if len(header) < 8 or "ifmap" not in header[1].lower():
        raise WorkloadError(f"{p}: line 1: expected the SCALE-Sim header '{HEADER}'")
    if not body:
        raise WorkloadError(f"{p}: no layer rows after the header")
    layers = []
    for lineno, row in enumerate(body, start=2):
        cells = [c.strip() for c in row]
        while cells and cells[-1] == "":
            cells.pop()
        if len(cells) < 8:
            raise WorkloadError(f"{p}: line {lineno}: expected 8 columns, got {len(cells)}")
        name = cells[0]
        vals = []
        for col, cell in zip(_COLUMNS, cells[1:8]):
            try:
                v = int(cell)
            except ValueError:
                raise WorkloadError(
                    f"{p}: line {lineno} ({name}): column '{col}': expected an integer, got {cell!r}"
                ) from None
            if v < 1:
                raise WorkloadError(
                    f"{p}: line {lineno} ({name}): column '{col}': expected a positive integer,"
                    f" got {v}"
                )
            vals.append(v)
        ih, iw, fh, fw, c, m, s = vals
        if fh > ih or fw > iw:
            raise WorkloadError(
                f"{p}: line {lineno} ({name}): filter {fh}x{fw} is larger than the IFMAP {ih}x{iw}"
            )
        depthwise = "DP" in name
        if ih == fh == iw == fw == 1 and not depthwise:
            fields: dict[str, Any] = dict(
                name=name, kind="linear", in_channels=c, out_channels=m, batch=batch
            )
        else:
            oh, ow = _windows(ih, fh, s), _windows(iw, fw, s)
            fields = dict(
                name=name,
                kind="conv",
                in_channels=c,
                out_channels=c * m if depthwise else m,
                kernel=(fh, fw),
                stride=(s, s),
                groups=c if depthwise else 1,
                in_hw=((oh - 1) * s + fh, (ow - 1) * s + fw),
                batch=batch,
            )
        layers.append((f"{p}: line {lineno}", fields))
    return p.stem, layers


def topology_rows(workload: Workload) -> list[list[str | int]]:
    """SCALE-Sim rows for a workload: padding folded into the IFMAP size, linear as 1x1 conv.

    The padded IFMAP is trimmed to the (O - 1) * S + K pixels the windows use, so SCALE-Sim's
    ceil((I - K + S) / S) gives the layer's real output size. Depthwise rows get a ``DP`` name and
    ``Num Filter`` = channel multiplier. Dilation, unequal strides, grouped (non-depthwise)
    convolutions, conv layers with batch > 1 and non-depthwise names containing ``DP`` cannot be
    expressed and raise WorkloadError.
    """
    rows: list[list[str | int]] = []
    for lyr in workload.layers:
        name = lyr.name.replace(",", "_")
        if lyr.kind == "linear":
            if "DP" in name:
                raise WorkloadError(
                    f"layer '{lyr.name}': SCALE-Sim treats a name containing 'DP' as depthwise;"
                    " rename the layer"
                )
            rows.append([name, lyr.batch, 1, 1, 1, lyr.in_channels, lyr.out_channels, 1])
            continue
        if lyr.dilation != (1, 1):
            raise WorkloadError(
                f"layer '{lyr.name}': SCALE-Sim cannot express dilation {list(lyr.dilation)}"
            )
        if lyr.stride[0] != lyr.stride[1]:
            raise WorkloadError(
                f"layer '{lyr.name}': SCALE-Sim needs equal strides, got {list(lyr.stride)}"
            )
        if lyr.groups != 1 and not lyr.is_depthwise:
            raise WorkloadError(f"layer '{lyr.name}': SCALE-Sim cannot express groups={lyr.groups}")
        if lyr.batch != 1:
            raise WorkloadError(
                f"layer '{lyr.name}': SCALE-Sim has no batch for conv layers, got batch {lyr.batch}"
            )
        assert lyr.out_hw is not None
        ih = (lyr.out_hw[0] - 1) * lyr.stride[0] + lyr.kernel[0]
        iw = (lyr.out_hw[1] - 1) * lyr.stride[1] + lyr.kernel[1]
        if lyr.is_depthwise:
            if "DP" not in name:
                name = f"DP_{name}"
            filters = lyr.out_channels // lyr.groups
        elif "DP" in name:
            raise WorkloadError(
                f"layer '{lyr.name}': SCALE-Sim treats a name containing 'DP' as depthwise;"
                " rename the layer"
            )
        else:
            filters = lyr.out_channels
        k = lyr.kernel
        rows.append([name, ih, iw, k[0], k[1], lyr.in_channels, filters, lyr.stride[0]])
    return rows


def write_topology(workload: Workload, path: str | os.PathLike) -> None:
    """Write a workload as a SCALE-Sim topology CSV, atomically."""
    buf = io.StringIO()
    buf.write(HEADER + "\n")
    for row in topology_rows(workload):
        buf.write(", ".join(str(c) for c in row) + ",\n")
    atomic_write_text(path, buf.getvalue())
