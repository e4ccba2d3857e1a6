"""Small, diverse reference networks (for tests, benchmarks and examples).

Each builder returns an ``nn.Module`` taking (N, 3, H, W) images; they cover the op families a
ComputeGraph must handle: residual blocks, depthwise + ReLU6, squeeze-excite with HardSigmoid
and HardSwish, Inception-style Concat, dense connectivity, a transformer block
(LayerNorm / GELU / MatMul / Softmax), padding and dilation, and a full-size ResNet-50.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int, k: int = 3, s: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU,
            dilation: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, s, dilation * (k // 2), dilation, groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1, 3x3, 1x1) with a projection shortcut when the shape changes."""

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = width * 4
        self.body = nn.Sequential(conv_bn(c_in, width, 1), conv_bn(width, width, 3, stride), conv_bn(width, c_out, 1, act=None))
        self.short = conv_bn(c_in, c_out, 1, stride, act=None) if stride != 1 or c_in != c_out else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.short(x))


class ResNet(nn.Module):
    """ResNet with bottleneck blocks; ``ResNet((3, 4, 6, 3))`` is ResNet-50 (25.6 M params)."""

    def __init__(self, blocks: tuple[int, ...] = (3, 4, 6, 3), width: int = 64, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, width, 7, 2), nn.MaxPool2d(3, 2, 1)]
        c = width
        for i, n in enumerate(blocks):
            for j in range(n):
                layers.append(Bottleneck(c, width * 2 ** i, 2 if j == 0 and i > 0 else 1))
                c = width * 2 ** i * 4
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1, depthwise 3x3, project 1x1, optional SE (MobileNetV3)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, act: type[nn.Module], se: bool) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = [conv_bn(c_in, hidden, 1, act=act), conv_bn(hidden, hidden, 3, stride, hidden, act)]
        if se:
            layers.append(SqueezeExcite(hidden))
        layers.append(conv_bn(hidden, c_out, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class SqueezeExcite(nn.Module):
    """x * hardsigmoid(conv(relu(conv(avgpool(x)))))."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, max(8, c // 4), 1), nn.Conv2d(max(8, c // 4), c, 1)
        self.act, self.gate = nn.ReLU(), nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class MobileNet(nn.Module):
    """MobileNetV2-like (ReLU6, no SE) or MobileNetV3-like (HardSwish, SE) network."""

    def __init__(self, v3: bool = False, num_classes: int = 10) -> None:
        super().__init__()
        act = nn.Hardswish if v3 else nn.ReLU6
        cfg = [(16, 1, 1), (24, 2, 4), (24, 1, 4), (40, 2, 4), (40, 1, 4)]
        layers: list[nn.Module] = [conv_bn(3, 16, 3, 2, act=act)]
        c = 16
        for c_out, s, e in cfg:
            layers.append(InvertedResidual(c, c_out, s, e, act, se=v3 and s == 1))
            c = c_out
        self.features = nn.Sequential(*layers, conv_bn(c, 128, 1, act=act))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(128, 64), act(), nn.Dropout(0.2), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


class Inception(nn.Module):
    """Inception-style block: four branches concatenated on channels."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = conv_bn(3, 32, 3)
        self.b1 = conv_bn(32, 16, 1)
        self.b2 = nn.Sequential(conv_bn(32, 16, 1), conv_bn(16, 24, 3))
        self.b3 = nn.Sequential(conv_bn(32, 8, 1), conv_bn(8, 12, 5))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_bn(32, 12, 1))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)
        return self.fc(y.mean(dim=(2, 3)))


class DenseNet(nn.Module):
    """DenseNet-like: BN-ReLU-Conv layers each fed the concat of all earlier maps, a transition."""

    def __init__(self, growth: int = 8, layers: int = 4, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        c = 16
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, growth, 3, padding=1, bias=False)))
            c += growth
        self.transition = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.BatchNorm2d(c // 2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c // 2, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.stem(x)]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, 1)))
        return self.head(self.transition(torch.cat(feats, 1)))


class TransformerNet(nn.Module):
    """Patch embedding, one pre-norm transformer block (single-head attention, GELU MLP), mean pooling."""

    def __init__(self, dim: int = 32, patch: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, num_classes)
        self.scale = dim ** -0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x).flatten(2).transpose(1, 2)  # (N, tokens, dim)
        h = self.norm1(t)
        att = torch.softmax(torch.matmul(self.q(h), self.k(h).transpose(1, 2)) * self.scale, dim=-1)
        t = t + self.proj(torch.matmul(att, self.v(h)))
        t = t + self.mlp(self.norm2(t))
        return self.head(t.mean(dim=1))


class DilatedNet(nn.Module):
    """Explicit zero padding, dilated and strided convolutions, SiLU and Tanh activations."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 2, 1, 2))
        self.c1 = nn.Conv2d(3, 16, 4, 1)
        self.c2 = conv_bn(16, 32, 3, 2, act=nn.SiLU, dilation=2)
        self.c3 = nn.Conv2d(32, 32, 3, 1, padding=3, dilation=3)
        self.act = nn.Tanh()
        self.pool = nn.AvgPool2d(3, 2, 1)
        self.fc = nn.Linear(32 * 8 * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.act(self.c3(self.c2(self.c1(self.pad(x))))))
        return self.fc(y.view(y.size(0), -1))


ZOO: dict[str, Callable[[], nn.Module]] = {
    "resnet_small": lambda: ResNet((1, 1), width=8, num_classes=10),
    "mobilenet_v2": lambda: MobileNet(v3=False),
    "mobilenet_v3": lambda: MobileNet(v3=True),
    "inception": Inception,
    "densenet": DenseNet,
    "transformer": TransformerNet,
    "dilated": DilatedNet,
}


def resnet50() -> nn.Module:
    """ResNet-50 for ImageNet (25.6 M parameters, ~100 MB as ONNX)."""
    return ResNet((3, 4, 6, 3))


def randomize_batchnorm(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine values, as a trained network has
    (so that exporters folding BN into a Conv keep a non-zero bias)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return module
