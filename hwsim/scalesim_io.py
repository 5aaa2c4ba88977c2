"""SCALE-Sim topology CSV (conv format) in and out.

Rows: ``name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,``
(an optional trailing sparsity column is ignored). SCALE-Sim has no padding: the IFMAP size in the
file is the padded input. A name containing ``DP`` is depthwise (as SCALE-Sim treats it).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .errors import WorkloadError
from .fileio import atomic_write_text
from .workload import LayerSpec, Workload

_COLUMNS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter", "Strides")


def read_topology(path: str | os.PathLike, batch: int = 1) -> Workload:
    """Parse a SCALE-Sim topology CSV into a chain Workload (conv layers, linear when 1x1 in and kernel)."""
    p = Path(path)
    if not p.is_file():
        raise WorkloadError(f"{p}: file not found")
    rows = [r for r in csv.reader(io.StringIO(p.read_text())) if any(c.strip() for c in r)]
    if not rows:
        raise WorkloadError(f"{p}: empty topology file")
    header, body = rows[0], rows[1:]
    if len(header) < 8 or "ifmap" not in header[1].lower():
        raise WorkloadError(
            f"{p}: line 1: expected the SCALE-Sim header 'Layer name, IFMAP Height, IFMAP Width, Filter Height,"
            " Filter Width, Channels, Num Filter, Strides,'"
        )
    layers = []
    for lineno, row in enumerate(body, start=2):
        cells = [c.strip() for c in row]
        if len(cells) < 8:
            raise WorkloadError(f"{p}: line {lineno}: expected 8 columns, got {len(cells)}")
        name = cells[0]
        vals = []
        for col, cell in zip(_COLUMNS, cells[1:8]):
            try:
                v = int(cell)
            except ValueError:
                raise WorkloadError(f"{p}: line {lineno} ({name}): column '{col}': expected an integer, got {cell!r}") from None
            if v < 1:
                raise WorkloadError(f"{p}: line {lineno} ({name}): column '{col}': expected a positive integer, got {v}")
            vals.append(v)
        ih, iw, fh, fw, c, m, s = vals
        depthwise = "DP" in name
        is_fc = ih == fh and iw == fw and ih == 1
        try:
            if is_fc:
                lyr = LayerSpec(name=name, kind="linear", in_channels=c, out_channels=m, batch=batch)
            else:
                lyr = LayerSpec(
                    name=name,
                    kind="conv",
                    in_channels=c,
                    out_channels=c if depthwise else m,
                    kernel=(fh, fw),
                    stride=(s, s),
                    groups=c if depthwise else 1,
                    in_hw=(ih, iw),
                    batch=batch,
                )
        except WorkloadError as exc:
            raise WorkloadError(f"{p}: line {lineno}: {exc}") from None
        layers.append(lyr)
    try:
        return Workload(name=p.stem, layers=layers)
    except WorkloadError as exc:
        raise WorkloadError(f"{p}: {exc}") from None


def topology_rows(workload: Workload) -> list[list[str | int]]:
    """SCALE-Sim rows for a workload: padding folded into the IFMAP size, linear as 1x1 conv.

    Dilated layers cannot be expressed and raise WorkloadError.
    """
    rows: list[list[str | int]] = []
    for lyr in workload.layers:
        if lyr.dilation != (1, 1):
            raise WorkloadError(f"layer '{lyr.name}': SCALE-Sim cannot express dilation {list(lyr.dilation)}")
        if lyr.stride[0] != lyr.stride[1]:
            raise WorkloadError(f"layer '{lyr.name}': SCALE-Sim needs equal strides, got {list(lyr.stride)}")
        if lyr.groups != 1 and not lyr.is_depthwise:
            raise WorkloadError(f"layer '{lyr.name}': SCALE-Sim cannot express groups={lyr.groups}")
        ih = lyr.in_hw[0] + 2 * lyr.padding[0]
        iw = lyr.in_hw[1] + 2 * lyr.padding[1]
        name = lyr.name.replace(",", "_")
        if lyr.is_depthwise and "DP" not in name:
            name = f"DP_{name}"
        rows.append([name, ih, iw, lyr.kernel[0], lyr.kernel[1], lyr.in_channels, lyr.out_channels, lyr.stride[0]])
    return rows


def write_topology(workload: Workload, path: str | os.PathLike) -> None:
    """Write a workload as a SCALE-Sim topology CSV, atomically."""
    buf = io.StringIO()
    buf.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n")
    for row in topology_rows(workload):
        buf.write(", ".join(str(c) for c in row) + ",\n")
    atomic_write_text(path, buf.getvalue())
