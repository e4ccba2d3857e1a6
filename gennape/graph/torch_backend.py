"""``to_torch``: a runnable network with fresh weights, built from a ComputeGraph alone."""

from __future__ import annotations


import torch
from torch import nn

from gennape.graph import modules as GM
from gennape.graph.ir import ComputeGraph
from gennape.graph.ops import get_op


class GraphNet(nn.Module):
    """Executes a ComputeGraph node by node.

    Args:
        cg: the graph; each node's module comes from its op's ``build``. Where a producer's shape
            differs from what its reader expects (a dropped flatten before a Linear, a global pool
            feeding a 1x1 Conv), the tensor is reshaped, as the original network did.
        batchnorm: put a fresh BatchNorm after each convolution the canonical form may have folded
            one into (see :func:`batchnorm_after`).
    """

    def __init__(self, cg: ComputeGraph, batchnorm: bool = False) -> None:
        super().__init__()
        self.cg = cg
        with_bn = batchnorm_after(cg) if batchnorm else set()
        layers = []
        for i, n in enumerate(cg.nodes):
            layer = GM.Zeros(n.out_shape) if n.op == "Output" and not cg.inputs[i] else get_op(n.op).build(n)
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


__all__ = ["GraphNet", "to_torch", "batchnorm_after", "example_input"]
