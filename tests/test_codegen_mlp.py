"""Digits MLP (io_parallel) bit-exact, and a deliberately wrong emulation is caught and the first
diverging layer named."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from codegen_helpers import digits, heldout_samples, train_fixed

from codegen.export import export_model
from codegen.fixed import FixedType
from codegen.hls import Parallelism, write_project
from codegen.plan import build_plan
from codegen.verify import verify
from hwsim.allocation import Allocation
from search.convert import export_fixed
from search.zoo import build_model

# digits_mlp: 0 Flatten, 1 Linear(64,64), 2 BN, 3 ReLU, 4 Linear(64,32), 5 BN, 6 ReLU, 7 Linear
ALLOC = Allocation({"1": (8, 8), "4": (3, 5), "7": (8, 8)}, ["1", "7"])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    model, acc = train_fixed(build_model("digits_mlp"), ALLOC, steps=300)
    qm = export_model(*export_fixed(model, ALLOC), (1, 8, 8))
    plan = build_plan(qm, digits()[0][:512].double().numpy(), "io_parallel")
    out = tmp_path_factory.mktemp("mlp") / "prj"
    par = {"4": Parallelism(4, "Resource")}
    hm = write_project(plan, out, par, "io_parallel", "xc7z020clg400-1", 10.0)
    return plan, hm, out, acc


def test_mlp_bit_exact(project):
    plan, hm, out, acc = project
    assert acc > 0.5
    res = verify(plan, hm, out, heldout_samples(200))
    assert res.ok and res.max_abs_diff == 0.0 and res.samples == 200, res.line()
    assert plan.node("net_4").params["reuse_factor"] == 4
    assert plan.node("net_4").params["strategy"].lower() == "resource"
    # the BN stayed its own layer (not fused into the dense layer before it)
    assert "net_2" in {layer.name for layer in hm.get_layers()}


def test_wrong_emulation_names_first_diverging_layer(project):
    plan, hm, out, _ = project
    bad = copy.deepcopy(plan)
    relu = bad.node("net_3")
    t = relu.result
    # one fraction bit less than the project really uses: a different quantizer
    relu.types["result"] = FixedType(t.signed, t.width - 1, t.integer, t.rounding, t.overflow)
    res = verify(bad, hm, out, heldout_samples(20))
    assert not res.ok
    assert res.first_diverging_layer == "net_3"
    assert "first diverging layer: 'net_3'" in res.line()
    assert np.isfinite(res.max_abs_diff) and res.max_abs_diff > 0
