"""``to_torch``: a runnable network with fresh weights, built from a ComputeGraph alone.

Each canonical op (``gennape.graph.ops``, torch-free metadata) has a *builder* here: node -> a fresh
``nn.Module`` computing it, its inputs passed positionally. A new op needs ``register_op`` there
and ``register_builder`` here.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from gennape.graph import modules as GM
from gennape.graph.ir import ComputeGraph, Node
from gennape.core.registry import Registry

Builder = Callable[[Node], nn.Module]

_BUILDERS: Registry[Builder] = Registry("op builder")


def register_builder(*ops: str) -> Callable[[Builder], Builder]:
    """Decorator: ``builder`` (node -> fresh module) builds the nodes of each op in ``ops``."""

    def add(builder: Builder) -> Builder:
        for op in ops:
            _BUILDERS.add(op, builder)
        return builder

    return add


get_builder = _BUILDERS.get  # the builder of op ``name``; KeyError lists the ops that have one


def count_params(module: nn.Module) -> int:
    """Trainable parameters of a module (the benchmarks' convention)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# --- builders of the canonical ops -------------------------------------------------------------

@register_builder("Conv", "DepthwiseConv")
def _conv(n: Node) -> nn.Module:
    if len(n.kernel) == 1:
        l, r = n.padding
        conv1 = nn.Conv1d(n.in_shapes[0][0], n.out_shape[0], n.kernel, n.stride, l if l == r else 0,
                          n.dilation, n.groups, n.bias)
        return conv1 if l == r else nn.Sequential(nn.ConstantPad1d((l, r), 0.0), conv1)
    t, l, b, r = n.padding
    sym = t == b and l == r
    conv = nn.Conv2d(n.in_shapes[0][0], n.out_shape[0], n.kernel, n.stride,
                     (t, l) if sym else 0, n.dilation, n.groups, n.bias)
    return conv if sym else nn.Sequential(nn.ZeroPad2d((l, r, t, b)), conv)


@register_builder("Linear")
def _linear(n: Node) -> nn.Module:
    return nn.Linear(n.in_shapes[0][-1], n.out_shape[-1], n.bias)


@register_builder("MaxPool")
def _maxpool(n: Node) -> nn.Module:
    t, l, b, r = n.padding
    if t == b and l == r:
        return nn.MaxPool2d(n.kernel, n.stride, (t, l), n.dilation, ceil_mode=n.attr("ceil_mode", False))
    return nn.Sequential(nn.ConstantPad2d((l, r, t, b), -math.inf),
                         nn.MaxPool2d(n.kernel, n.stride, 0, n.dilation, ceil_mode=n.attr("ceil_mode", False)))


@register_builder("AvgPool")
def _avgpool(n: Node) -> nn.Module:
    t, l, b, r = n.padding
    if not (t == b and l == r):
        raise ValueError("AvgPool with asymmetric padding is not executable")
    return nn.AvgPool2d(n.kernel, n.stride, (t, l), ceil_mode=n.attr("ceil_mode", False),
                        count_include_pad=n.attr("count_include_pad", True))


def _same(module: type[nn.Module]) -> Builder:
    return lambda n: module()


for _op, _builder in [
    ("Input", lambda n: nn.Identity()),
    ("Output", lambda n: nn.Identity()),
    ("ReLU", _same(nn.ReLU)),
    ("ReLU6", _same(nn.ReLU6)),
    ("HardSwish", _same(nn.Hardswish)),
    ("HardSigmoid", _same(nn.Hardsigmoid)),
    ("Sigmoid", _same(nn.Sigmoid)),
    ("SiLU", _same(nn.SiLU)),
    ("GELU", _same(nn.GELU)),
    ("Tanh", _same(nn.Tanh)),
    ("Add", _same(GM.Add)),
    ("Mul", _same(GM.Mul)),
    ("Concat", lambda n: GM.Concat(n.attr("axis", 0) + 1)),
    ("GlobalAvgPool", _same(GM.GlobalAvgPool)),
    ("Pad", lambda n: GM.Pad(n.attr("pads"), n.attr("value", 0.0))),
    ("Softmax", lambda n: nn.Softmax(n.attr("axis") + 1)),
    ("LayerNorm", lambda n: nn.LayerNorm(n.attr("normalized_shape"))),
    ("BatchNorm", lambda n: nn.BatchNorm2d(n.out_shape[0]) if len(n.out_shape) == 3
     else nn.BatchNorm1d(n.out_shape[0])),
    ("MatMul", _same(GM.MatMul)),
    ("Transpose", lambda n: GM.Permute(n.attr("perm"))),
    ("Reshape", lambda n: GM.Reshape(n.out_shape)),
    ("Slice", lambda n: GM.Slice(n.attr("axis"), n.attr("start"), n.attr("end"), n.attr("step"))),
    # the timm zoo's ops
    ("Sub", _same(GM.Sub)),
    ("Div", _same(GM.Div)),
    ("Parameter", lambda n: GM.Parameter(n.out_shape)),
    ("Resize", lambda n: nn.Upsample(size=tuple(n.out_shape[1:]), mode=n.attr("mode", "nearest"))),
    ("Reduce", lambda n: GM.Reduce(n.attr("kind"), n.attr("axes"))),
    ("Elementwise", lambda n: GM.Elementwise(n.attr("kind"), n.attr("exponent"))),
    ("GroupNorm", lambda n: nn.GroupNorm(n.attr("num_groups"), n.in_shapes[0][0], affine=False)),
]:
    register_builder(_op)(_builder)


class GraphNet(nn.Module):
    """Executes a ComputeGraph node by node.

    Args:
        cg: the graph; each node's module comes from its op's builder (:func:`register_builder`).
            Where a producer's shape differs from what its reader expects (a dropped flatten before
            a Linear, a global pool feeding a 1x1 Conv), the tensor is reshaped, as the original
            network did.
        batchnorm: put a fresh BatchNorm after each convolution the canonical form may have folded
            one into (see :func:`batchnorm_after`).
    """

    def __init__(self, cg: ComputeGraph, batchnorm: bool = False) -> None:
        super().__init__()
        self.cg = cg
        with_bn = batchnorm_after(cg) if batchnorm else set()
        layers = []
        for i, n in enumerate(cg.nodes):
            layer = GM.Zeros(n.out_shape) if n.op == "Output" and not cg.inputs[i] else get_builder(n.op)(n)
            layers.append(nn.Sequential(layer, nn.BatchNorm2d(n.out_shape[0])) if i in with_bn else layer)
        self.layers = nn.ModuleList(layers)
        self.reshape = [[cg.nodes[s].out_shape != want for s, want in zip(srcs, n.in_shapes)]
                        for n, srcs in zip(cg.nodes, cg.inputs)]

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        vals: list[torch.Tensor] = []
        outs: list[torch.Tensor] = []
        for i, (node, srcs) in enumerate(zip(self.cg.nodes, self.cg.inputs)):
            layer = self.layers[i]
            if node.op == "Input":
                vals.append(x)
                continue
            if node.op == "Output" and not srcs:
                vals.append(layer(x))
                outs.append(vals[-1])
                continue
            args = []
            for s, want, fix in zip(srcs, node.in_shapes, self.reshape[i]):
                v = vals[s]
                args.append(v.reshape(v.shape[0], *want) if fix else v)
            vals.append(layer(*args))
            if node.op == "Output":
                outs.append(vals[-1])
        return outs[0] if len(outs) == 1 else tuple(outs)


_CONVS = ("Conv", "DepthwiseConv")


def batchnorm_after(cg: ComputeGraph) -> set[int]:
    """The convolutions that get a BatchNorm with ``to_torch(cg, batchnorm=True)``: every 2-D Conv
    or DepthwiseConv, except one whose output goes straight into another convolution (a factorised
    conv, as DARTS' separable convs) or into an explicit BatchNorm.

    Canonical graphs fold a BatchNorm after a conv into its bias, and an ONNX export in eval mode
    has already folded them, so the graph cannot say which convs had one. Modern convolutional
    networks put one after nearly every conv; proxies that read activations or gradients at
    initialisation (nwot, jacov, snip, NNGP, ...) are defined on networks with them.
    """
    readers: dict[int, list[str]] = {}
    for i, srcs in enumerate(cg.inputs):
        for s in srcs:
            readers.setdefault(s, []).append(cg.nodes[i].op)
    return {i for i, n in enumerate(cg.nodes)
            if n.op in _CONVS and len(n.out_shape) == 3
            and not any(op in (*_CONVS, "BatchNorm") for op in readers.get(i, []))}


def to_torch(cg: ComputeGraph, batchnorm: bool = False) -> nn.Module:
    """A fresh, randomly initialised ``nn.Module`` computing ``cg`` (one input tensor); with
    ``batchnorm``, a BatchNorm after each conv of :func:`batchnorm_after` (how features see networks)."""
    if sum(n.op == "Input" for n in cg.nodes) != 1:
        raise ValueError(f"{cg.name}: to_torch supports graphs with exactly one input")
    return GraphNet(cg, batchnorm)


def example_input(cg: ComputeGraph, batch: int = 1) -> torch.Tensor:
    """A random input batch of the graph's input shape."""
    return torch.randn(batch, *cg.input_shape)


__all__ = ["GraphNet", "to_torch", "batchnorm_after", "example_input", "register_builder", "get_builder",
           "count_params"]
