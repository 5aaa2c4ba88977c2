"""Digits CNN trained briefly in the fixed family with a mixed allocation -> hls4ml project
(io_stream, reuse factors from the FPGA-dataflow model) -> g++ C simulation, bit-exact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from codegen_helpers import digits, heldout_samples, train_fixed

from codegen.emit import emit
from codegen.export import export_model
from hwsim.allocation import Allocation
from hwsim.config import load_config
from search.convert import export_fixed
from search.zoo import build_model

ROOT = Path(__file__).resolve().parents[1]
FPGA = ROOT / "accel_configs" / "fpga_xc7z020.yaml"
ALLOC = Allocation({"0": (8, 8), "4": (4, 3), "8": (2, 4), "13": (8, 8)}, ["0", "13"])


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    model, acc = train_fixed(build_model("digits_cnn"), ALLOC, steps=300)
    qm = export_model(*export_fixed(model, ALLOC), (1, 8, 8))
    out = tmp_path_factory.mktemp("cnn") / "prj"
    res = emit(
        qm,
        out,
        accel=load_config(FPGA),
        samples=heldout_samples(200),
        calib=digits()[0][:512].double().numpy(),
        io_type="io_stream",
        progress=False,
    )
    return res, acc, out


def _defines(out: Path) -> dict[str, str]:
    text = (out / "firmware" / "defines.h").read_text()
    out = {}
    for m in re.finditer(r"typedef (.+?) (\w+);", text):
        t = m.group(1)
        inner = re.fullmatch(r"nnet::array<(.+), [\d*]+>", t)  # io_stream: one pixel per beat
        out[m.group(2)] = inner.group(1) if inner else t
    return out


def _output_type(out: Path, layer: str) -> str:
    """The result typedef name of hls4ml layer ``layer`` (from its call in myproject.cpp)."""
    for line in (out / "firmware" / "myproject.cpp").read_text().splitlines():
        if line.rstrip().endswith(f"// {layer}"):
            return re.findall(r"(layer\d+)_out", line)[-1] + "_t"
    raise AssertionError(f"layer {layer} not called in myproject.cpp")


def test_cnn_bit_exact_on_200_samples(emitted):
    res, acc, _ = emitted
    assert acc > 0.5  # the brief training did learn
    assert res.verify is not None
    assert (res.verify.samples, res.verify.exact, res.verify.max_abs_diff) == (200, 200, 0.0)
    assert res.verify.line() == "verify: 200/200 samples bit-exact (max |diff| = 0)"


def test_cnn_project_files_and_report(emitted):
    res, _, out = emitted
    for f in [
        "build_prj.tcl",
        "project.tcl",
        "build_opt.tcl",
        "firmware/myproject.cpp",
        "firmware/defines.h",
        "firmware/parameters.h",
        "firmware/weights/w6.txt",
        "emit_report.md",
        "emit.json",
        "tb_data/tb_input_features.dat",
        "tb_data/tb_output_predictions.dat",
    ]:
        assert (out / f).is_file(), f
    assert not list(out.glob("firmware/*.so")), "build products must not ship"
    tb = (out / "tb_data" / "tb_input_features.dat").read_text().splitlines()
    assert len(tb) == 200 and len(tb[0].split()) == 64
    preds = (out / "tb_data" / "tb_output_predictions.dat").read_text().splitlines()
    assert len(preds) == 200 and len(preds[0].split()) == 10
    assert not list(out.parent.glob(".prj.tmp-*")), "temporary folder left behind"
    report = (out / "emit_report.md").read_text()
    assert "verify: 200/200 samples bit-exact (max |diff| = 0)" in report
    assert "vitis-run --mode hls --tcl build_prj.tcl" in report
    assert "vivado_hls -f build_prj.tcl" in report
    project_tcl = (out / "project.tcl").read_text()
    assert "xc7z020clg400-1" in project_tcl
    assert re.search(r"clock_period 10(\.0)?\b", project_tcl)
    assert "io_stream" in (out / "hls4ml_config.yml").read_text()
    assert str(out.parent / ".prj.tmp") not in (out / "hls4ml_config.yml").read_text()


def test_cnn_types_in_defines_match_allocation(emitted):
    res, _, out = emitted
    defs = _defines(out)
    # float first layer: its input at the layer's allocated a_bits, the width hwsim costs
    assert re.match(rf"ap_u?fixed<{ALLOC.bits['0'][1]},", defs["input_t"]), defs["input_t"]
    quant_point = {"4": "net_2", "8": "net_6"}  # ReLU feeding each quantized conv
    for layer, relu in quant_point.items():
        w_bits, a_bits = ALLOC.bits[layer]
        wt = defs[f"net_{layer}_weight_t"]
        assert re.fullmatch(rf"ap_fixed<{w_bits},-?\d+>", wt), wt
        at = defs[_output_type(out, relu)]
        assert re.fullmatch(rf"ap_ufixed<{a_bits},-?\d+,AP_RND,AP_SAT,0>", at), at
    for layer in ALLOC.float_layers:
        assert re.fullmatch(r"ap_fixed<8,-?\d+>", defs[f"net_{layer}_weight_t"])


def _layer_reuse_factors(out: Path) -> dict[str, int]:
    """hls4ml layer name -> the reuse_factor of its config struct in the written firmware
    (myproject.cpp names the config of each call; parameters.h holds the struct)."""
    params = (out / "firmware" / "parameters.h").read_text()
    found = {}
    for line in (out / "firmware" / "myproject.cpp").read_text().splitlines():
        m = re.search(r"<[^;]*\b(config\d+)>\(.*//\s*(\S+)\s*$", line)
        if not m:
            continue
        body = re.search(rf"struct {m.group(1)} : .*?\n}};", params, re.S)
        rf = re.search(r"reuse_factor = (\d+);", body.group(0)) if body else None
        if rf:
            found[m.group(2)] = int(rf.group(1))
    return found


def test_cnn_reuse_factors_are_legal_for_hls4ml(emitted):
    """The reuse factors in the written firmware are the ones emit reports, and each is one
    hls4ml itself accepts for the layer's shape (``get_valid_reuse_factors``: hls4ml's own rule,
    not hwsim's re-implementation of it), with n_in and n_out taken from the torch layer."""
    from hls4ml.backends import get_backend

    from search.trace import trace_workload

    res, _, out = emitted
    summary = json.loads((out / "emit.json").read_text())
    rows = {r["module"]: r for r in summary["layers"] if r["op"] in ("conv", "linear")}
    written = _layer_reuse_factors(out)
    modules = dict(res.plan.qm.model.named_modules())
    backend = get_backend("Vitis")
    assert set(rows) == set(ALLOC.bits)
    assert any(r["reuse_factor"] > 1 for r in rows.values())  # the FPGA model did choose
    for layer, row in rows.items():
        m = modules[layer]
        if hasattr(m, "kernel_size"):
            n_in, n_out = m.in_channels * m.kernel_size[0] * m.kernel_size[1], m.out_channels
        else:
            n_in, n_out = m.in_features, m.out_features
        rf = row["reuse_factor"]
        assert written[f"net_{layer}"] == rf, layer
        if row["strategy"] == "Resource":
            assert rf in backend.get_valid_reuse_factors(n_in, n_out), (layer, rf)
        assert row["emitted"]["ii_cycles"] is not None and row["emitted"]["dsp"] is not None
    # the plan is the one the FPGA model costs (the emitted firmware is the simulated design)
    wl = trace_workload(res.plan.qm.model, (1, 8, 8))
    assert {lyr.name for lyr in wl} == set(rows)


def test_cnn_reuse_factors_from_fpga_model(emitted):
    from hwsim.fpga_plan import make_plan
    from search.trace import trace_workload

    res, _, out = emitted
    wl = trace_workload(res.plan.qm.model, (1, 8, 8))
    plan = make_plan(wl, ALLOC, load_config(FPGA))  # the budgeted (simulated) design
    want = {lp.name: (lp.rf, lp.strategy) for lp in plan.layers}
    params = (out / "firmware" / "parameters.h").read_text()
    summary = json.loads((out / "emit.json").read_text())
    rows = {r["module"]: r for r in summary["layers"] if r["op"] in ("conv", "linear")}
    for layer, (rf, strategy) in want.items():
        assert rows[layer]["reuse_factor"] == rf
        assert rows[layer]["strategy"] == strategy
        assert rows[layer]["budgeted"] == rows[layer]["emitted"]
        assert rows[layer]["budgeted"]["ii_cycles"] > 0
    # the written per-layer configs carry those reuse factors
    found = sorted(int(v) for v in re.findall(r"reuse_factor = (\d+);", params))
    for rf, _ in want.values():
        assert rf in found
