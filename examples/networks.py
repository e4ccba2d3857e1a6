"""Networks whose order on CIFAR-10 any practitioner knows, at 32 x 32 px and 10 classes.

They make the example set (``python examples/make_examples.py``) and the sanity pairs the shipped
checkpoint must order correctly (tests/test_sanity_pairs.py). Plain torch: no torchvision needed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int, stride: int = 1, k: int = 3, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """Conv, BatchNorm, activation."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, act()) if act is not None else nn.Sequential(*layers)


def mlp(hidden: int = 128) -> nn.Module:
    """A 3-layer perceptron on the flattened image (about 55 % on CIFAR-10)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2),
                         nn.ReLU(), nn.Linear(hidden // 2, 10))


def plain_cnn(width: int = 16, depth: int = 3) -> nn.Module:
    """``depth`` 3x3 conv layers, a stride-2 conv every second layer from the second on, then a
    global pool and a linear classifier (3 layers of width 16: about 70 % on CIFAR-10)."""
    layers, c = [], 3
    for i in range(depth):
        out = width * 2 ** (i // 2) if depth > 3 else width * 2 ** i
        layers.append(conv_bn(c, out, stride=2 if i % 2 else 1))
        c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs and an identity or 1x1 projection shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, c_out, stride), conv_bn(c_out, c_out, act=None))
        self.short = (conv_bn(c_in, c_out, stride, k=1, act=None) if stride != 1 or c_in != c_out
                      else nn.Identity())
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.short(x))


def resnet(blocks: tuple[int, ...] = (3, 3, 3), width: int = 16) -> nn.Module:
    """A CIFAR ResNet: (3, 3, 3) at width 16 is ResNet-20 (91 % on CIFAR-10, He et al. 2016);
    (2, 2, 2, 2) at width 64 is ResNet-18's layout (95 %)."""
    layers: list[nn.Module] = [conv_bn(3, width)]
    c = width
    for stage, n in enumerate(blocks):
        out = width * 2 ** stage
        for b in range(n):
            layers.append(BasicBlock(c, out, 2 if stage and not b else 1))
            c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project, identity shortcut if it fits."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int = 6) -> None:
        super().__init__()
        mid = c_in * expand
        self.body = nn.Sequential(conv_bn(c_in, mid, k=1, act=nn.ReLU6), conv_bn(mid, mid, stride, groups=mid, act=nn.ReLU6),
                                  conv_bn(mid, c_out, k=1, act=None))
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.skip else self.body(x)


def mobilenet(width: int = 16) -> nn.Module:
    """A small MobileNetV2 for 32 px inputs (about 90 % on CIFAR-10 at this size)."""
    cfg = [(width, 1), (width * 3 // 2, 1), (width * 2, 2), (width * 2, 1), (width * 4, 2), (width * 4, 1), (width * 6, 2)]
    layers: list[nn.Module] = [conv_bn(3, width * 2, act=nn.ReLU6)]
    c = width * 2
    for out, stride in cfg:
        layers.append(InvertedResidual(c, out, stride))
        c = out
    return nn.Sequential(*layers, conv_bn(c, 320, k=1, act=nn.ReLU6), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(320, 10))


class NoPath(nn.Module):
    """A cell with no path from input to output (an NB-201 cell of ``none`` edges): the classifier
    sees zeros whatever the image, so the network cannot learn (10 %, chance)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.stem = conv_bn(3, width)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cell = self.stem(x) * 0.0  # the cell's output: no edge carries its input
        return self.head(cell.mean((2, 3)))


EXAMPLES: dict[str, Callable[[], nn.Module]] = {
    "mlp": mlp,
    "plain_cnn": plain_cnn,
    "resnet20": resnet,
    "mobilenet_v2_small": mobilenet,
}
"""The shipped example set, worst to best by what they reach on CIFAR-10."""


def export(module: nn.Module, path: str) -> str:
    """Write ``module`` (eval mode, one 1x3x32x32 input) as ONNX with torch's legacy exporter."""
    module.eval()
    torch.onnx.export(module, (torch.randn(1, 3, 32, 32),), path, dynamo=False, opset_version=17,
                      input_names=["image"], output_names=["logits"])
    return path
