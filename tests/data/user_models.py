"""Networks a user might write, for tests/test_byom.py: not part of the zoo.

``tiny_mobilenet``: a MobileNet-style stack of depthwise-separable blocks (3x3 depthwise conv,
BN, ReLU6, 1x1 pointwise conv, BN, ReLU6; a residual where the shape allows), global average
pooling and a linear classifier. ``mlp``: a two-hidden-layer perceptron. Both take the data set's
``num_classes`` and ``input_shape`` (C, H, W); ``width``/``hidden`` are user arguments.
"""

from __future__ import annotations

import torch
from torch import nn


class SeparableBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.dw(x)))
        out = self.act(self.bn2(self.pw(out)))
        return out + x if self.residual else out


class TinyMobileNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, width: int = 8):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU6(),
        )
        self.blocks = nn.Sequential(
            SeparableBlock(width, width),
            SeparableBlock(width, 2 * width, stride=2),
            SeparableBlock(2 * width, 2 * width),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.blocks(self.stem(x)))))


def tiny_mobilenet(num_classes: int = 10, input_shape=(1, 8, 8), width: int = 8) -> nn.Module:
    return TinyMobileNet(num_classes, int(input_shape[0]), width)


def mlp(num_classes: int = 10, input_shape=(1, 8, 8), hidden: int = 32) -> nn.Module:
    c, h, w = input_shape
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(c * h * w, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def broken(num_classes: int = 10) -> nn.Module:
    raise ValueError("this factory always fails")


def not_a_module(num_classes: int = 10) -> int:
    return 42
