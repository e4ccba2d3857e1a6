"""Small torch networks the CLI tests export to ONNX."""

from __future__ import annotations

from torch import nn


def cnn(width: int, depth: int) -> nn.Module:
    """``depth`` 3x3 conv + BatchNorm + ReLU layers of ``width`` channels, a global pool, 10 classes."""
    layers, c = [], 3
    for _ in range(depth):
        layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))
