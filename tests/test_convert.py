"""Model conversion: policy, summary, signedness, allocations."""

from __future__ import annotations

import pytest
import torch

from hwsim.allocation import Allocation
from search.convert import (
    LayerPolicy,
    convert_fixed,
    convert_for_search,
    derive_allocation,
    mixed_layers,
)
from search.errors import SearchError
from search.layers import MixedConv2d, MixedLinear, QConv2d, QLinear
from search.trace import trace_workload
from search.zoo import build_model


def test_summary_lists_first_and_last_as_float_with_reason():
    model = build_model("resnet18")
    summary = convert_for_search(model, [1, 2, 3, 4], [2, 3, 4])
    assert summary.row("conv1").status == "float" and summary.row("conv1").reason == "first layer"
    assert summary.row("fc").status == "float" and summary.row("fc").reason == "last layer"
    assert summary.float_layers == ["conv1", "fc"]
    assert len(summary.converted) == 19
    text = str(summary)
    assert "first layer" in text and "last layer" in text and "19 of 21 layers converted" in text
    assert summary.row("layer1.0.conv1").status == "searched"
    assert not summary.row("layer1.0.conv1").signed_input
    assert summary.row("conv1").signed_input
    # in place, same names: torchvision state_dict keys still load
    assert isinstance(model.layer2[0].downsample[0], MixedConv2d)
    assert "layer1.0.conv1.weight" in model.state_dict()
    assert "layer1.0.conv1.alpha_w" in model.state_dict()
    assert set(mixed_layers(model)) == set(summary.converted)


def test_policy_search_first_last_and_skip():
    model = build_model("digits_cnn")
    summary = convert_for_search(
        model, [2, 4], [2, 4], policy=LayerPolicy(first="search", last="search", skip=["4"])
    )
    assert summary.row("0").status == "searched" and summary.row("0").signed_input
    assert summary.row("4").reason == "skipped"
    assert isinstance(model[13], MixedLinear)
    with pytest.raises(SearchError, match="skip names layer 'nope'"):
        convert_for_search(build_model("digits_cnn"), [2], [2], policy=LayerPolicy(skip=["nope"]))
    with pytest.raises(SearchError, match="key 'first'"):
        LayerPolicy(first="int8")


def test_fixed_family_rejects_one_bit_weights_naming_the_layer():
    with pytest.raises(SearchError, match="layer '4'.*1-bit"):
        convert_for_search(build_model("digits_cnn"), [1, 2], [2], family="fixed")


def test_padding_mode_is_reported_unsupported():
    model = build_model("digits_cnn")
    model[4].padding_mode = "reflect"
    summary = convert_for_search(model, [2], [2])
    assert summary.row("4").reason.startswith("unsupported")


def test_derive_allocation_names_every_workload_layer():
    model = build_model("resnet20")
    convert_for_search(model, [1, 2, 3, 4], [2, 3, 4])
    with torch.no_grad():
        model.layer2[0].conv1.alpha_w[3] = 1.0
        model.layer2[0].conv1.alpha_a[1] = 1.0
    wl = trace_workload(model, (3, 32, 32))
    alloc = derive_allocation(model, wl)
    alloc.validate(wl)
    assert set(alloc.bits) == set(wl.names)
    assert alloc.bits["layer2.0.conv1"] == (4, 3)
    assert alloc.bits["layer1.0.conv1"] == (1, 2)  # ties: the first candidate
    assert alloc.float_layers == ["conv1", "fc"]
    assert alloc.bits["conv1"] == (8, 8) and alloc.bits["fc"] == (8, 8)


def test_convert_fixed_follows_the_allocation():
    wl = trace_workload(build_model("digits_cnn"), (1, 8, 8))
    alloc = Allocation(
        {"0": (8, 8), "4": (3, 2), "8": (2, 4), "13": (8, 8)}, float_layers=["0", "13"]
    )
    model = build_model("digits_cnn")
    summary = convert_fixed(model, alloc, family="fixed")
    assert isinstance(model[4], QConv2d) and (model[4].w_bits, model[4].a_bits) == (3, 2)
    assert isinstance(model[8], QConv2d) and (model[8].w_bits, model[8].a_bits) == (2, 4)
    assert not isinstance(model[13], QLinear)
    assert summary.row("4").bits == "3/2" and summary.row("13").status == "float"
    out = model(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10)
    assert trace_workload(model, (1, 8, 8)).names == wl.names
    with pytest.raises(SearchError, match="no entry for layer '8'"):
        convert_fixed(build_model("digits_cnn"), Allocation({"4": (2, 2)}))
    with pytest.raises(SearchError, match="layer 'ghost'"):
        convert_fixed(
            build_model("digits_cnn"), Allocation({"4": (2, 2), "8": (2, 2), "ghost": (2, 2)})
        )


def test_search_step_trains_alphas():
    torch.manual_seed(0)
    model = build_model("digits_cnn")
    convert_for_search(model, [2, 4], [2, 4], family="fixed")
    alphas = [p for n, p in model.named_parameters() if "alpha" in n]
    assert len(alphas) == 4
    loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 1, 8, 8)), torch.arange(8))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in alphas)
