"""ComputeGraph.to_dict / from_dict: a faithful, JSON-ready serialisation (the zoo cache uses it)."""

from __future__ import annotations

import json

import pytest
import torch

from gennape.graph import ComputeGraph, from_module
from gennape.graph.ir import Node
from gennape.spaces import get_space
from zoo import ZOO

X = torch.randn(1, 3, 32, 32)


def _round_trip(cg: ComputeGraph) -> ComputeGraph:
    return ComputeGraph.from_dict(json.loads(json.dumps(cg.to_dict())))


@pytest.mark.parametrize("name", ["resnet_small", "mobilenet_v3", "inception", "densenet", "transformer"])
def test_zoo_networks_round_trip(name):
    cg = from_module(ZOO[name]().eval(), X, name=name)
    back = _round_trip(cg)
    assert back.hash == cg.hash
    assert back.nodes == cg.nodes and back.inputs == cg.inputs and back.name == name
    assert (back.params, back.flops) == (cg.params, cg.flops)


def test_nb201_cell_round_trips():
    space = get_space("nb201")
    cg = space.graph(space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"))
    back = _round_trip(cg)
    assert back.hash == cg.hash and back.nodes == cg.nodes


def test_attribute_types_survive():
    extra = (("axis", 1), ("flag", True), ("inf", float("inf")), ("lst", [1, (2, 3)]), ("none", None),
             ("perm", (1, 0)), ("s", "x"), ("v", 0.1))
    n = Node("Transpose", ((4, 8),), (8, 4), extra=extra)
    g = ComputeGraph((Node("Input", (), (4, 8)), n), ((), (0,)), name="t")
    back = _round_trip(g)
    assert back.nodes[1].extra == extra and back.hash == g.hash
    assert isinstance(back.nodes[1].attr("lst"), list) and isinstance(back.nodes[1].attr("perm"), tuple)
