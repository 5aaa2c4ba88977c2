"""Workload contract: shapes, YAML/JSON and SCALE-Sim CSV round trips, one-line errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hwsim.errors import HwsimError, WorkloadError
from hwsim.scalesim_io import topology_rows, write_topology
from hwsim.workload import LayerSpec, Workload

ROOT = Path(__file__).resolve().parents[1]
BENCH_NETS = sorted((ROOT / "bench" / "data").glob("cifar_*.yaml"))


def _one_line(exc: pytest.ExceptionInfo[HwsimError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg, msg
    return msg


# ---- shapes ---------------------------------------------------------------------------------


def test_derived_sizes(tiny_workload: Workload) -> None:
    conv, dw, fc = tiny_workload.layers
    assert conv.out_hw == (8, 8)  # (16 + 2 - 3) // 2 + 1
    assert conv.reduction == 27 and conv.macs == 64 * 27 * 8 and conv.weights == 27 * 8
    assert conv.ifmap == 3 * 16 * 16 and conv.ofmap == 8 * 64
    assert dw.is_depthwise and dw.reduction == 9 and dw.macs == 64 * 9 * 8
    assert fc.out_hw == (1, 1) and fc.macs == 512 * 10
    assert tiny_workload.total_macs == conv.macs + dw.macs + fc.macs
    L = tiny_workload.arrays()
    assert list(L.macs) == [conv.macs, dw.macs, fc.macs]
    assert list(L.is_depthwise) == [False, True, False] and list(L.is_linear) == [
        False,
        False,
        True,
    ]
    assert list(tiny_workload.graph.edges) == [("conv1", "dw2"), ("dw2", "fc3")]


def test_bench_workloads_have_the_published_sizes() -> None:
    nets = {p.stem: Workload.load(p) for p in BENCH_NETS}
    assert nets["cifar_small_cnn"].total_macs == 39_160_320  # ~39 M MACs (hwsim-models.md §2)
    r20 = nets["cifar_resnet20"]
    assert len(r20) == 22 and r20.total_macs == 40_813_184  # ~41 M MACs
    # the residual graph: layer2.0's shortcut and conv1 both read the stage-1 output
    assert r20.graph.has_edge("layer1.2.conv2", "layer2.0.shortcut")
    assert r20.graph.has_edge("layer1.2.conv2", "layer2.0.conv1")
    assert r20.layer("layer3.0.conv1").out_hw == (8, 8)


# ---- YAML / JSON round trip -----------------------------------------------------------------


@pytest.mark.parametrize("ext", ["yaml", "json"])
def test_round_trip(tmp_path: Path, tiny_workload: Workload, ext: str) -> None:
    p = tmp_path / f"w.{ext}"
    tiny_workload.save(p)
    back = Workload.load(p)
    assert back.name == tiny_workload.name
    assert back.layers == tiny_workload.layers
    assert back.edges == tiny_workload.edges
    if ext == "json":
        assert json.loads(p.read_text())["version"] == 1


@pytest.mark.parametrize("path", BENCH_NETS, ids=lambda p: p.stem)
def test_round_trip_with_residual_edges(tmp_path: Path, path: Path) -> None:
    w = Workload.load(path)
    w.save(tmp_path / "w.json")
    back = Workload.load(tmp_path / "w.json")
    assert back.layers == w.layers and sorted(back.graph.edges) == sorted(w.graph.edges)


# ---- SCALE-Sim CSV ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", BENCH_NETS, ids=lambda p: p.stem)
def test_scalesim_csv_round_trip(tmp_path: Path, path: Path) -> None:
    w = Workload.load(path)
    csv_path = tmp_path / "topo.csv"
    write_topology(w, csv_path)
    back = Workload.load(csv_path)  # .csv goes through Workload.from_topology
    assert [x.name.removeprefix("DP_") for x in back.layers] == w.names
    for a, b in zip(w.layers, back.layers):
        # padding is folded into the input size, everything the cost depends on is kept
        assert (a.kind, a.in_channels, a.out_channels, a.kernel, a.stride, a.groups) == (
            b.kind,
            b.in_channels,
            b.out_channels,
            b.kernel,
            b.stride,
            b.groups,
        )
        assert a.out_hw == b.out_hw and a.macs == b.macs and a.weights == b.weights
        assert b.padding == (0, 0)
    # writing the read-back workload gives the same file
    again = tmp_path / "again.csv"
    write_topology(back, again)
    assert again.read_text() == csv_path.read_text()


def test_scalesim_rows_fold_padding_and_match_scalesim_window_count() -> None:
    s2 = LayerSpec(
        name="s2",
        kind="conv",
        in_channels=16,
        out_channels=32,
        kernel=3,
        stride=2,
        padding=1,
        in_hw=32,
    )
    dw = LayerSpec(
        name="dw",
        kind="conv",
        in_channels=8,
        out_channels=16,
        kernel=3,
        padding=1,
        groups=8,
        in_hw=10,
    )
    fc = LayerSpec(name="fc", kind="linear", in_channels=64, out_channels=10, batch=4)
    rows = topology_rows(Workload("w", [s2, dw, fc]))
    # 32 + 2 padding = 34, trimmed to the 33 pixels the 16 windows use: ceil((33-3+2)/2) = 16
    assert rows[0] == ["s2", 33, 33, 3, 3, 16, 32, 2]
    # depthwise: DP name, Num Filter = channel multiplier
    assert rows[1] == ["DP_dw", 12, 12, 3, 3, 8, 2, 1]
    # linear with a batch: the same GEMM as a 1x1 conv over a batch x 1 IFMAP
    assert rows[2] == ["fc", 4, 1, 1, 1, 64, 10, 1]


def test_read_topology_uses_scalesim_output_size(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,"
        " Strides,\n"
        "c1, 32, 32, 3, 3, 3, 8, 2,\n"
        "DP_c2, 16, 16, 3, 3, 8, 1, 1,\n"
        "fc, 1, 1, 1, 1, 1568, 10, 1,\n"
    )
    w = Workload.from_topology(p)
    c1, c2, fc = w.layers
    assert c1.out_hw == (16, 16)  # SCALE-Sim: ceil((32 - 3 + 2) / 2) = 16
    assert c2.is_depthwise and c2.out_channels == 8 and c2.out_hw == (14, 14)
    assert fc.kind == "linear" and fc.in_channels == 1568
    odd = tmp_path / "odd.csv"
    odd.write_text(p.read_text().splitlines()[0] + "\nc1, 8, 8, 3, 3, 1, 1, 2,\n")
    # (8 - 3) = 5 is not a multiple of 2: SCALE-Sim keeps a last partial window -> 4 outputs
    assert Workload.from_topology(odd).layers[0].out_hw == (4, 4)


BAD_CSV = [
    ("name, a, b\nc1, 1, 1,\n", "line 1: expected the SCALE-Sim header"),
    ("{hdr}\nc1, 8, 8, 3, 3, 3,\n", "line 2: expected 8 columns, got 6"),
    (
        "{hdr}\nc1, 8, eight, 3, 3, 3, 4, 1,\n",
        "line 2 (c1): column 'IFMAP Width': expected an integer",
    ),
    ("{hdr}\nc1, 8, 8, 3, 3, 0, 4, 1,\n", "line 2 (c1): column 'Channels': expected a positive"),
    ("{hdr}\nc1, 2, 2, 3, 3, 3, 4, 1,\n", "line 2 (c1): filter 3x3 is larger than the IFMAP 2x2"),
    ("{hdr}\nc1, 8, 8, 3, 3, 3, 4, 1,\nc1, 8, 8, 3, 3, 3, 4, 1,\n", "layer 'c1' appears twice"),
    ("{hdr}\n", "no layer rows"),
    ("", "empty file"),
]


@pytest.mark.parametrize(("text", "words"), BAD_CSV)
def test_bad_scalesim_csv(tmp_path: Path, text: str, words: str) -> None:
    hdr = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
    p = tmp_path / "bad.csv"
    p.write_text(text.format(hdr=hdr))
    with pytest.raises(WorkloadError) as info:
        Workload.from_topology(p)
    msg = _one_line(info)
    assert msg.startswith(str(p)) and words in msg, msg


def test_write_topology_refuses_what_scalesim_cannot_express(tmp_path: Path) -> None:
    cases = [
        (
            LayerSpec(
                name="d", kind="conv", in_channels=4, out_channels=4, kernel=3, dilation=2, in_hw=9
            ),
            "dilation",
        ),
        (
            LayerSpec(name="g", kind="conv", in_channels=4, out_channels=8, groups=2, in_hw=4),
            "groups=2",
        ),
        (
            LayerSpec(name="s", kind="conv", in_channels=4, out_channels=8, stride=(1, 2), in_hw=4),
            "equal strides",
        ),
        (
            LayerSpec(name="b", kind="conv", in_channels=4, out_channels=8, batch=2, in_hw=4),
            "batch 2",
        ),
        (LayerSpec(name="myDP", kind="conv", in_channels=4, out_channels=8, in_hw=4), "'DP'"),
    ]
    for lyr, words in cases:
        out = tmp_path / f"{lyr.name}.csv"
        with pytest.raises(WorkloadError) as info:
            write_topology(Workload("w", [lyr]), out)
        msg = _one_line(info)
        assert f"layer '{lyr.name}'" in msg and words in msg, msg
        assert not out.exists()  # nothing half-written


# ---- bad YAML workloads -----------------------------------------------------------------------

BASE: dict[str, Any] = {
    "version": 1,
    "name": "n",
    "layers": [
        {
            "name": "c1",
            "kind": "conv",
            "in_channels": 3,
            "out_channels": 8,
            "kernel": 3,
            "in_hw": 8,
        },
        {"name": "fc", "kind": "linear", "in_channels": 288, "out_channels": 10},
    ],
}


def _edit(fn: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    fn(raw)
    return raw


BAD_YAML = [
    (
        "unknown layer key",
        lambda r: r["layers"][0].update(kernal=3),
        "layers[0]: unknown key 'kernal'",
    ),
    ("unknown top key", lambda r: r.update(layerz=[]), "unknown key 'layerz'"),
    (
        "missing key",
        lambda r: r["layers"][1].pop("in_channels"),
        "layers[1]: missing key 'in_channels'",
    ),
    (
        "kernel too big",
        lambda r: r["layers"][0].update(kernel=9),
        "layer 'c1': kernel [9, 9] does not fit",
    ),
    ("bad groups", lambda r: r["layers"][0].update(groups=2), "layer 'c1': key 'groups'"),
    (
        "bad out_hw",
        lambda r: r["layers"][0].update(out_hw=[8, 8]),
        "key 'out_hw': [8, 8] disagrees",
    ),
    ("negative channels", lambda r: r["layers"][0].update(in_channels=-1), "key 'in_channels'"),
    ("bool channels", lambda r: r["layers"][0].update(out_channels=True), "key 'out_channels'"),
    ("bad stride", lambda r: r["layers"][0].update(stride=[1, 2, 3]), "key 'stride'"),
    ("negative padding", lambda r: r["layers"][0].update(padding=-1), "key 'padding'"),
    ("bad kind", lambda r: r["layers"][0].update(kind="pool"), "key 'kind'"),
    ("linear with kernel", lambda r: r["layers"][1].update(kernel=3), "layer 'fc': a linear layer"),
    (
        "duplicate layers",
        lambda r: r["layers"].append(dict(r["layers"][0])),
        "layer 'c1' appears twice",
    ),
    ("edge to nowhere", lambda r: r.update(edges=[["c1", "c9"]]), "edge names unknown layer 'c9'"),
    ("cycle", lambda r: r.update(edges=[["c1", "fc"], ["fc", "c1"]]), "cycle"),
    ("no layers", lambda r: r.update(layers=[]), "key 'layers'"),
    ("bad version", lambda r: r.update(version=2), "key 'version': expected 1"),
    ("layer not a mapping", lambda r: r["layers"].append(5), "layers[2]: expected a mapping"),
]


@pytest.mark.parametrize(("label", "edit", "words"), BAD_YAML, ids=[c[0] for c in BAD_YAML])
def test_bad_workload_file(tmp_path: Path, label: str, edit: Any, words: str) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(_edit(edit)))
    with pytest.raises(WorkloadError) as info:
        Workload.load(p)
    msg = _one_line(info)
    assert msg.startswith(f"{p}: ") and words in msg, msg


def test_base_workload_is_valid(tmp_path: Path) -> None:
    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(BASE))
    assert Workload.load(p).names == ["c1", "fc"]


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError) as info:
        Workload.load(tmp_path / "nope.yaml")
    assert "file not found" in _one_line(info)
    p = tmp_path / "bad.json"
    p.write_text('{"name": "n", "layers": [}')
    with pytest.raises(WorkloadError) as info:
        Workload.load(p)
    assert "not valid JSON: line 1" in _one_line(info)
