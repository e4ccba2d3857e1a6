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
    """

    def __init__(self, cg: ComputeGraph) -> None:
        super().__init__()
        self.cg = cg
        self.layers = nn.ModuleList(
            GM.Zeros(n.out_shape) if n.op == "Output" and not cg.inputs[i] else get_op(n.op).build(n)
            for i, n in enumerate(cg.nodes)
        )
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


def to_torch(cg: ComputeGraph) -> nn.Module:
    """A fresh, randomly initialised ``nn.Module`` computing ``cg`` (one input tensor)."""
    if sum(n.op == "Input" for n in cg.nodes) != 1:
        raise ValueError(f"{cg.name}: to_torch supports graphs with exactly one input")
    return GraphNet(cg)


def example_input(cg: ComputeGraph, batch: int = 1) -> torch.Tensor:
    """A random input batch of the graph's input shape."""
    return torch.randn(batch, *cg.input_shape)


__all__ = ["GraphNet", "to_torch", "example_input"]
