"""Model zoo: torchvision-compatible ResNet-18/50 and MobileNet-V2, plus small models.

The ImageNet models are re-implementations with the *same module names* (and so the same
``state_dict`` keys) as torchvision, because torchvision is not installable here. The small
``digits_*`` / ``fmnist_cnn`` models only use layers hls4ml's PyTorch frontend can export
(Conv2d, BatchNorm, ReLU, MaxPool/AvgPool with stride == kernel, Flatten, Linear).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .errors import SearchError


@dataclass(frozen=True)
class ModelInfo:
    """A zoo entry: default input shape (C, H, W), class count and a one-line description."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    description: str


# ---------------------------------------------------------------------------------------------
# ResNet (torchvision layout: conv1, bn1, relu, maxpool, layer1..4, avgpool, fc)
# ---------------------------------------------------------------------------------------------
def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual (torchvision names: conv1, bn1, relu, conv2, bn2, downsample)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here, as torchvision v1.5) -> 1x1 x4, with a residual."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet with torchvision's module names. ``cifar=True`` gives the 3-stage CIFAR variant
    (3x3 stem, no max-pool, widths 16/32/64; 1x1 conv + BN shortcuts)."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        cifar: bool = False,
        width: int = 16,
    ):
        super().__init__()
        widths = [width, 2 * width, 4 * width] if cifar else [64, 128, 256, 512]
        self.inplanes = widths[0]
        if cifar:
            self.conv1 = _conv3x3(in_channels, self.inplanes)
        else:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(3, stride=2, padding=1)
        for i, (w, n) in enumerate(zip(widths, layers)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, w, n, 1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        if hasattr(self, "layer4"):
            x = self.layer4(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# ---------------------------------------------------------------------------------------------
# MobileNet-V2 (torchvision layout: features.N..., classifier.1)
# ---------------------------------------------------------------------------------------------
# [expand t, channels c, repeats n, first stride s] of the 1x28x28 MobileNetV2-style network:
# 28x28 -> 14x14 -> 7x7 -> 4x4, 1 + 2 + 2 + 2 inverted residual blocks.
MOBILENETV2_FM_SETTINGS = [[1, 16, 1, 1], [4, 24, 2, 2], [4, 32, 2, 2], [4, 64, 2, 2]]


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU(nn.Sequential):
    """Conv2d (0) -> BatchNorm2d (1) -> ReLU6 (2), torchvision's Conv2dNormActivation layout."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )
        self.out_channels = cout


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise 3x3 -> project 1x1 (linear), residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int):
        super().__init__()
        self.stride = stride
        hidden = int(round(cin * expand_ratio))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNet-V2 (width 1.0) with torchvision's module names."""

    SETTINGS = [
        [1, 16, 1, 1],
        [6, 24, 2, 2],
        [6, 32, 3, 2],
        [6, 64, 4, 2],
        [6, 96, 3, 1],
        [6, 160, 3, 2],
        [6, 320, 1, 1],
    ]

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.2,
        settings: list[list[int]] | None = None,
        stem_channels: int = 32,
        stem_stride: int = 2,
        last_channel: int = 1280,
    ):
        super().__init__()
        cin = _make_divisible(stem_channels)
        self.last_channel = _make_divisible(last_channel)
        features: list[nn.Module] = [ConvBNReLU(in_channels, cin, stride=stem_stride)]
        for t, c, n, s in settings if settings is not None else self.SETTINGS:
            cout = _make_divisible(c)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        features.append(ConvBNReLU(cin, self.last_channel, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


# ---------------------------------------------------------------------------------------------
# Small hls4ml-exportable models
# ---------------------------------------------------------------------------------------------
def _cnn(
    in_shape: tuple[int, int, int],
    widths: tuple[int, int, int],
    num_classes: int,
    pool_after: tuple[bool, bool],
) -> nn.Sequential:
    """Three conv-BN-ReLU blocks (3x3, padding 1), 2x2 max pooling after the blocks flagged in
    ``pool_after``, global average pooling as AvgPool2d(H) (hls4ml has no adaptive pooling), and a
    linear classifier. Only layers hls4ml's PyTorch frontend exports exactly."""
    c, h, w = in_shape
    pools = sum(pool_after)
    if h != w or h % (2**pools):
        raise SearchError(
            f"small CNN: input shape {list(in_shape)}: expected square H=W divisible by {2**pools}"
        )
    layers: list[nn.Module] = []
    cin = c
    for i, cout in enumerate(widths):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        if i < 2 and pool_after[i]:
            layers.append(nn.MaxPool2d(2))
        cin = cout
    layers += [nn.AvgPool2d(h // 2**pools), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


def _small_cnn(
    in_shape: tuple[int, int, int], widths: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    """conv-pool-conv-pool-conv-GAP-fc (digits_cnn, fmnist_cnn)."""
    return _cnn(in_shape, widths, num_classes, (True, True))


def _wide_cnn(
    in_shape: tuple[int, int, int], widths: tuple[int, int, int], num_classes: int
) -> nn.Sequential:
    """conv-conv-pool-conv-GAP-fc with wide layers at full resolution.

    Sized so that its searched convs are compute-bound on Bit Fusion at batch 1 (64-channel
    multiples fill the fused bit-bricks), which the narrow ``digits_cnn`` is not: there, DRAM
    stalls cap any speed-up at ~0.6x of uniform 8/8.
    """
    return _cnn(in_shape, widths, num_classes, (False, True))


def _mlp(in_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    features = in_shape[0] * in_shape[1] * in_shape[2]
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(features, 64),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Linear(64, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Linear(32, num_classes),
    )


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo("resnet18", (3, 224, 224), 1000, "ResNet-18 (torchvision layout), ImageNet"),
        ModelInfo("resnet50", (3, 224, 224), 1000, "ResNet-50 v1.5 (torchvision layout), ImageNet"),
        ModelInfo(
            "mobilenet_v2", (3, 224, 224), 1000, "MobileNet-V2 1.0 (torchvision layout), ImageNet"
        ),
        ModelInfo("resnet20", (3, 32, 32), 10, "CIFAR ResNet-20 (3 stages x 3 basic blocks)"),
        ModelInfo(
            "resnet20_fm",
            (1, 28, 28),
            10,
            "ResNet-20-style for Fashion-MNIST 1x28x28 (3 stages x 3 basic blocks, widths "
            "16/32/64); hls4ml-exportable",
        ),
        ModelInfo(
            "resnet20_fm_w8",
            (1, 28, 28),
            10,
            "resnet20_fm at half width (8/16/32): the same 20 searched layers, ~4x cheaper steps",
        ),
        ModelInfo(
            "mobilenetv2_fm",
            (1, 28, 28),
            10,
            "MobileNetV2-style for Fashion-MNIST 1x28x28 (inverted residuals with depthwise "
            "3x3, ReLU6, global average pooling); hls4ml-exportable",
        ),
        ModelInfo(
            "digits_cnn",
            (1, 8, 8),
            10,
            "small CNN for sklearn digits (also 1x28x28); hls4ml-exportable",
        ),
        ModelInfo(
            "digits_cnn_wide",
            (1, 8, 8),
            10,
            "wider CNN 64-128-128 for sklearn digits, compute-bound on Bit Fusion; hls4ml-exportable",
        ),
        ModelInfo(
            "digits_mlp", (1, 8, 8), 10, "MLP 64-64-32-10 for sklearn digits; hls4ml-exportable"
        ),
        ModelInfo(
            "fmnist_cnn", (1, 28, 28), 10, "small CNN for Fashion-MNIST 1x28x28; hls4ml-exportable"
        ),
    ]
}


def build_model(
    name: str,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_shape: tuple[int, int, int] | None = None,
) -> nn.Module:
    """Build a zoo model by name.

    ``input_shape`` (C, H, W) matters only for the small models, whose pooling/linear sizes
    depend on it (default: the zoo entry's shape, with ``in_channels`` replacing C if given).
    """
    if name not in MODELS:
        raise SearchError(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    info = MODELS[name]
    classes = info.num_classes if num_classes is None else int(num_classes)
    shape = tuple(input_shape) if input_shape is not None else info.input_shape
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise SearchError(f"model '{name}': input shape {list(shape)}: expected positive (C, H, W)")
    if in_channels is not None:
        shape = (int(in_channels), int(shape[1]), int(shape[2]))
    cin = int(shape[0])
    if classes < 1:
        raise SearchError(f"model '{name}': num_classes must be positive, got {classes}")
    builders: dict[str, Callable[[], nn.Module]] = {
        "resnet18": lambda: ResNet(BasicBlock, [2, 2, 2, 2], classes, cin),
        "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3], classes, cin),
        "mobilenet_v2": lambda: MobileNetV2(classes, cin),
        "resnet20": lambda: ResNet(BasicBlock, [3, 3, 3], classes, cin, cifar=True),
        "resnet20_fm": lambda: ResNet(BasicBlock, [3, 3, 3], classes, cin, cifar=True),
        "resnet20_fm_w8": lambda: ResNet(BasicBlock, [3, 3, 3], classes, cin, cifar=True, width=8),
        "mobilenetv2_fm": lambda: MobileNetV2(
            classes,
            cin,
            dropout=0.0,
            settings=MOBILENETV2_FM_SETTINGS,
            stem_channels=16,
            stem_stride=1,
            last_channel=128,
        ),
        "digits_cnn": lambda: _small_cnn(shape, (16, 32, 32), classes),
        "digits_cnn_wide": lambda: _wide_cnn(shape, (64, 128, 128), classes),
        "digits_mlp": lambda: _mlp(shape, classes),
        "fmnist_cnn": lambda: _small_cnn(shape, (16, 32, 64), classes),
    }
    return builders[name]()
