"""Zoo models keep torchvision's names; the tracer gives real shapes, MACs and skip edges."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from search.convert import convert_for_search
from search.errors import SearchError
from search.trace import layer_inputs, trace_workload
from search.zoo import MODELS, build_model

# state_dict keys as torchvision 0.2x names them (hard-coded on purpose)
TORCHVISION_KEYS = {
    "resnet18": [
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer1.1.bn2.num_batches_tracked",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_var",
        "layer4.1.conv2.weight",
        "fc.weight",
        "fc.bias",
    ],
    "resnet50": [
        "layer1.0.conv3.weight",
        "layer1.0.bn3.bias",
        "layer1.0.downsample.0.weight",
        "layer3.5.conv2.weight",
        "layer4.2.bn3.running_mean",
        "fc.weight",
    ],
    "mobilenet_v2": [
        "features.0.0.weight",
        "features.0.1.running_var",
        "features.1.conv.0.0.weight",
        "features.1.conv.1.weight",
        "features.1.conv.2.weight",
        "features.2.conv.0.0.weight",
        "features.2.conv.1.0.weight",
        "features.2.conv.2.weight",
        "features.2.conv.3.running_mean",
        "features.17.conv.2.weight",
        "features.18.0.weight",
        "features.18.1.bias",
        "classifier.1.weight",
    ],
}
# torchvision parameter counts (1000 classes)
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet50": 25_557_032, "mobilenet_v2": 3_504_872}


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_zoo_matches_torchvision_names_and_sizes(name):
    model = build_model(name)
    keys = set(model.state_dict())
    for key in TORCHVISION_KEYS[name]:
        assert key in keys, key
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]


@pytest.fixture(scope="module")
def resnet18_wl():
    return trace_workload(build_model("resnet18"), (3, 224, 224), name="resnet18")


def test_resnet18_layers_and_macs(resnet18_wl):
    wl = resnet18_wl
    assert len(wl) == 21
    kinds = [lyr.kind for lyr in wl]
    assert kinds.count("conv") == 20 and kinds.count("linear") == 1
    assert [n for n in wl.names if "downsample" in n] == [
        f"layer{i}.0.downsample.0" for i in (2, 3, 4)
    ]
    assert wl.names[0] == "conv1" and wl.names[-1] == "fc"
    assert wl.total_macs == pytest.approx(1.814e9, rel=2e-3)
    c1 = wl.layer("conv1")
    assert (
        c1.in_hw == (224, 224)
        and c1.out_hw == (112, 112)
        and c1.kernel == (7, 7)
        and c1.stride == (2, 2)
    )
    assert wl.layer("layer1.0.conv1").in_hw == (56, 56)
    assert wl.layer("layer4.1.conv2").out_hw == (7, 7)
    fc = wl.layer("fc")
    assert (fc.in_channels, fc.out_channels, fc.bias) == (512, 1000, True)
    # searched layers (without first/last) as in the EdMIPS table: 1.696 GMACs
    searched = sum(lyr.macs for lyr in wl.layers[1:-1])
    assert searched == pytest.approx(1.696e9, rel=2e-3)


def test_resnet18_edges_include_skips(resnet18_wl):
    edges = set(resnet18_wl.edges)
    assert ("layer1.0.conv1", "layer1.0.conv2") in edges  # main path
    assert ("conv1", "layer1.1.conv1") in edges  # identity skip around layer1.0
    assert ("layer1.1.conv2", "layer2.0.downsample.0") in edges  # into the downsample
    assert ("layer2.0.downsample.0", "layer2.1.conv1") in edges  # downsample joins the sum
    assert ("layer2.0.conv2", "layer2.1.conv1") in edges
    assert ("layer4.1.conv2", "fc") in edges and ("layer4.0.conv2", "fc") in edges
    assert ("layer1.0.conv1", "layer1.1.conv1") not in edges
    g = resnet18_wl.graph
    assert g.in_degree("conv1") == 0 and g.out_degree("fc") == 0


def test_resnet50_and_mobilenet_v2_trace():
    wl = trace_workload(build_model("resnet50"), (3, 224, 224))
    assert len(wl) == 54 and sum("downsample" in n for n in wl.names) == 4
    assert wl.total_macs == pytest.approx(4.09e9, rel=5e-3)
    wl = trace_workload(build_model("mobilenet_v2"), (3, 224, 224))
    assert len(wl) == 53
    dw = [lyr for lyr in wl if lyr.is_depthwise]
    assert len(dw) == 17 and all(lyr.groups == lyr.in_channels for lyr in dw)
    assert wl.layer("features.1.conv.0.0").is_depthwise
    assert wl.total_macs == pytest.approx(300.8e6, rel=5e-3)
    edges = set(wl.edges)
    # features.3 is a residual block: its input also skips to features.4's first conv
    assert ("features.2.conv.2", "features.4.conv.0.0") in edges
    assert ("features.3.conv.2", "features.4.conv.0.0") in edges


def test_input_signedness_from_the_graph():
    info = layer_inputs(build_model("mobilenet_v2"))
    assert info["features.0.0"].signed_input  # the image
    assert not info["features.2.conv.1.0"].signed_input  # after ReLU6
    assert info["features.2.conv.0.0"].signed_input  # after a linear bottleneck
    assert not info["classifier.1"].signed_input  # ReLU6 -> pool -> flatten -> dropout
    info = layer_inputs(build_model("digits_cnn"))
    assert not info["4"].signed_input and not info["13"].signed_input


def test_trace_of_converted_model_keeps_names_and_shapes():
    model = build_model("resnet20")
    before = trace_workload(model, (3, 32, 32))
    convert_for_search(model, [1, 2], [2, 3])
    after = trace_workload(model, (3, 32, 32), batch=4)
    assert after.names == before.names
    assert after.total_macs == 4 * before.total_macs
    assert set(after.edges) == set(before.edges)


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"resnet18", "resnet50", "mobilenet_v2"}))
def test_small_models_run_at_their_input_shape(name):
    info = MODELS[name]
    model = build_model(name)
    out = model.eval()(torch.zeros(2, *info.input_shape))
    assert out.shape == (2, info.num_classes)
    assert len(trace_workload(model, info.input_shape)) >= 3


def test_digits_cnn_on_fashion_mnist_shape():
    model = build_model("digits_cnn", input_shape=(1, 28, 28))
    assert model.eval()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert not any(
        isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) for m in model.modules()
    )


def test_errors_are_search_errors():
    with pytest.raises(SearchError, match=r"unknown model 'vgg' \(known: resnet18"):
        build_model("vgg")
    with pytest.raises(SearchError, match="input shape"):
        trace_workload(build_model("digits_mlp"), (1, 9, 9))


class _Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        if h.sum() > 1e9:  # data-dependent: torch.fx cannot trace this
            h = -h
        return self.b(h)


def test_untraceable_model_falls_back_to_a_chain():
    wl = trace_workload(_Branchy(), (4,))
    assert wl.names == ["a", "b"] and wl.edges == [("a", "b")]
    assert layer_inputs(_Branchy()) is None


class _Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(torch.relu(self.proj(x)))


def test_linear_on_token_inputs_counts_tokens_as_batch():
    wl = trace_workload(_Tokens(), (5, 8), batch=2)
    proj = wl.layer("proj")
    assert (proj.kind, proj.batch, proj.in_channels, proj.out_channels) == ("linear", 10, 8, 16)
    assert wl.total_macs == 10 * 8 * 16 + 10 * 16 * 3
    assert not layer_inputs(_Tokens())["head"].signed_input


EXPORTABLE = sorted(n for n, info in MODELS.items() if "hls4ml-exportable" in info.description)


def test_zoo_claims_exportable_models():
    assert {"digits_cnn", "fmnist_cnn", "digits_mlp"} <= set(EXPORTABLE)


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("name", EXPORTABLE)
def test_models_the_zoo_calls_exportable_pass_codegen_preflight(name, io_type):
    """The zoo's claim checked by codegen's own pre-flight (its module and fx-graph checks), at
    the model's input shape and at 1x28x28 where the zoo says the model takes it."""
    from codegen.preflight import preflight

    preflight(build_model(name), io_type, input_shape=MODELS[name].input_shape)
    if "also 1x28x28" in MODELS[name].description:
        preflight(build_model(name, input_shape=(1, 28, 28)), io_type, input_shape=(1, 28, 28))


@pytest.mark.parametrize(
    ("model", "culprit"),
    [
        (lambda: nn.Sequential(nn.Conv2d(4, 8, 3, groups=2), nn.ReLU()), "groups=2"),
        (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.Upsample(scale_factor=2)), "Upsample"),
    ],
)
def test_unsupported_layers_fail_codegen_preflight(model, culprit):
    """Control: the same pre-flight rejects layers hls4ml 1.3.0 cannot express (a grouped conv
    that is not depthwise, upsampling), naming the layer, so the test above can fail."""
    from codegen.errors import CodegenError
    from codegen.preflight import preflight

    with pytest.raises(CodegenError, match=f"{culprit}.*not supported"):
        preflight(model())
