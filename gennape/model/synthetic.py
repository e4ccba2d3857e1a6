"""Tiny random ComputeGraphs with a learnable synthetic accuracy, for tests and smoke runs.

The graphs are small CNNs (Conv / ReLU / residual Add / MaxPool, then GlobalAvgPool, Linear)
built directly as ``Node`` lists, so they need no frontend. The synthetic "accuracy" depends on
the structure (3x3 convs and residuals help, pooling early hurts), so a working predictor ranks
them well above chance.
"""

from __future__ import annotations

import random

import torch
from torch_geometric.data import Data

from gennape.graph.ir import ComputeGraph, Node
from gennape.model.dataset import graph_to_record, record_to_data


def _conv(c_in: int, c_out: int, hw: int, k: int) -> Node:
    p = k // 2
    return Node("Conv", ((c_in, hw, hw),), (c_out, hw, hw), (k, k), (1, 1), (p, p, p, p), (1, 1), 1, True)


def random_graph(rng: random.Random, num_classes: int = 10) -> tuple[ComputeGraph, float]:
    """One random small CNN and its synthetic accuracy in %.

    Args:
        rng: source of randomness.
        num_classes: width of the final Linear.
    """
    c, hw = rng.choice([8, 16]), 32
    nodes = [Node("Input", (), (3, hw, hw))]
    inputs: list[tuple[int, ...]] = [()]
    nodes.append(_conv(3, c, hw, 3))
    inputs.append((0,))
    score = 0.0
    for _ in range(rng.randint(1, 5)):
        kind = rng.choice(["conv1", "conv3", "res", "pool"])
        last = len(nodes) - 1
        if kind in ("conv1", "conv3"):
            k = 1 if kind == "conv1" else 3
            nodes += [_conv(c, c, hw, k), Node("ReLU", ((c, hw, hw),), (c, hw, hw))]
            inputs += [(last,), (last + 1,)]
            score += 2.0 if k == 3 else 0.5
        elif kind == "res":
            nodes += [_conv(c, c, hw, 3), Node("ReLU", ((c, hw, hw),), (c, hw, hw)),
                      Node("Add", ((c, hw, hw), (c, hw, hw)), (c, hw, hw))]
            inputs += [(last,), (last + 1,), (last + 2, last)]
            score += 3.0
        elif hw > 4:
            nodes.append(Node("MaxPool", ((c, hw, hw),), (c, hw // 2, hw // 2), (2, 2), (2, 2),
                              (0, 0, 0, 0), (1, 1)))
            inputs.append((last,))
            hw //= 2
            score -= 1.0
    last = len(nodes) - 1
    nodes += [Node("GlobalAvgPool", ((c, hw, hw),), (c,)), Node("Linear", ((c,),), (num_classes,), bias=True),
              Node("Output", ((num_classes,),), (num_classes,))]
    inputs += [(last,), (last + 1,), (last + 2,)]
    acc = 70.0 + 2.0 * score + (0.2 * c / 16) + rng.gauss(0.0, 0.3)
    return ComputeGraph(tuple(nodes), tuple(inputs), name="synthetic"), acc


def synthetic_graphs(n: int, seed: int = 0) -> list[Data]:
    """``n`` encoded random graphs with ``y`` (synthetic accuracy) and ``spectrum`` set."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cg, acc = random_graph(rng)
        d = record_to_data(graph_to_record(cg))
        d.y, d.row = torch.tensor([acc]), torch.tensor([i])
        out.append(d)
    return out
