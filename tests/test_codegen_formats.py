"""codegen reads formats from the allocation's records, builds its workload from its own export
plan (one trace per emit), emits float layers at the float-layer width hwsim costs, and
dispatches every layer type through its op registry."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from codegen_helpers import digits, train_fixed
from torch import nn

import codegen
from codegen.emit import emit
from codegen.export import export_model
from codegen.ops import OPS
from codegen.plan import build_plan
from hwsim.allocation import Allocation
from hwsim.config import load_config
from hwsim.formats import float_layer_format
from search.convert import export_fixed
from search.trace import trace_workload
from search.zoo import build_model

ROOT = Path(__file__).resolve().parents[1]
FPGA = ROOT / "accel_configs" / "fpga_xc7z020.yaml"
ALLOC = Allocation({"0": (8, 8), "4": (4, 3), "8": (2, 4), "13": (8, 8)}, ["0", "13"])


class Block(nn.Module):
    """A residual block with a depthwise conv, ReLU6 and global average pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 8, 1)
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        y = y + self.pw(self.act(self.dw(y)))
        return self.fc(torch.flatten(self.pool(y), 1))


def _plain_allocation(model: nn.Module) -> Allocation:
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return Allocation({n: float_layer_format().bits for n in names}, names)


@pytest.mark.parametrize("name", ["digits_cnn", "block"])
def test_plan_workload_equals_the_traced_workload(name: str) -> None:
    model = Block() if name == "block" else build_model("digits_cnn")
    model.eval()
    qm = export_model(model, _plain_allocation(model), (1, 8, 8))
    wl = build_plan(qm).workload()
    ref = trace_workload(model, (1, 8, 8), batch=1)
    assert wl.layers == ref.layers
    assert sorted(wl.edges) == sorted(ref.edges)


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    model, _ = train_fixed(build_model("digits_cnn"), ALLOC, steps=60)
    return model


def test_emit_traces_once_and_reads_only_records(
    trained: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One torch.fx trace by codegen per emit (hls4ml's converter traces on its own), no
    search code on the way, and a float first and last layer emitted at the widths hwsim costs."""
    calls: list[str] = []
    orig = torch.fx.Tracer.trace

    def counting(self, root, *args, **kwargs):  # type: ignore[no-untyped-def]
        caller = inspect.stack()[1].frame.f_globals.get("__name__", "")
        calls.append(caller)
        return orig(self, root, *args, **kwargs)

    monkeypatch.setattr(torch.fx.Tracer, "trace", counting)
    import search.trace

    def no_search(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("codegen called search")

    monkeypatch.setattr(search.trace, "trace_workload", no_search)
    monkeypatch.setattr(search.trace, "layer_inputs", no_search)
    plain, alloc = export_fixed(trained, ALLOC)  # search's side: before counting
    calls.clear()
    res = emit(
        export_model(plain, alloc, (1, 8, 8)),
        tmp_path / "prj",
        accel=load_config(FPGA),
        calib=digits()[0][:256].double().numpy(),
        progress=False,
    )
    ours = [c for c in calls if c.startswith(("codegen", "search", "hwsim", "edmips"))]
    assert ours == ["codegen.preflight"], calls
    # float layers: the first layer's input and the last layer's input are a_bits wide
    w_bits, a_bits = float_layer_format().bits
    for layer in ("0", "13"):
        node = next(p for p in res.plan.mac_nodes() if p.params["layer"] == layer)
        assert node.types["weight"].width == w_bits
        assert res.plan.mac_input(node).result.width == a_bits
        lp = res.budgeted.layer(layer)
        assert (lp.w_bits, lp.a_bits) == (w_bits, a_bits)
        line = f"float layer {layer}: emitted and costed at {w_bits}/{a_bits} bits"
        assert line in res.notes
        assert line in (tmp_path / "prj" / "emit_report.md").read_text()


def test_float_last_layer_input_is_quantized_in_the_emulation(trained: nn.Module) -> None:
    from codegen.emulate import emulate

    plain, alloc = export_fixed(trained, ALLOC)
    x = digits()[2][:64].double().numpy()
    plan = build_plan(export_model(plain, alloc, (1, 8, 8)), digits()[0][:256].double().numpy())
    last = next(p for p in plan.mac_nodes() if p.params["layer"] == "13")
    src = plan.mac_input(last)
    _, per = emulate(plan, x)
    vals = per[src.name]
    assert np.array_equal(src.result.cast(vals), vals) and src.result.width == 8
    qp = next(p for p in plan.nodes if p.quant_point == "13")  # through max pooling / flatten
    assert qp.result == src.result and qp.op not in ("conv", "linear")


def test_registry_is_the_one_dispatch() -> None:
    for name, op in OPS.items():
        assert op.name == name and callable(op.plan) and callable(op.emulate)
        assert "result" in op.precision
    assert {"conv", "linear", "bn", "relu", "clip", "maxpool", "avgpool", "add", "flatten"} <= set(
        OPS
    )
    assert set(codegen.ops.hls_handlers()) == {"Depthwise2d", "Clip"}
    for name in ("emit", "verify", "OPS", "register", "CodegenError", "export_model"):
        assert name in codegen.__all__ and hasattr(codegen, name)
    # preflight, plan, emulate and hls name no layer type of their own
    for mod in ("preflight", "plan", "emulate", "hls"):
        src = (ROOT / "codegen" / f"{mod}.py").read_text()
        assert "isinstance(m, nn." not in src and "isinstance(m, (nn." not in src, mod
        assert 'p.op == "conv"' not in src and 'op == "relu"' not in src, mod
