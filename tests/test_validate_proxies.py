"""benchmarks/validate_proxies.py: the networks it scores."""

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from validate_proxies import network_factory  # noqa: E402

from gennape.graph import from_module  # noqa: E402

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"


def _bns(net: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_shortcut_bn_module_has_the_batchnorms_of_the_canonical_graph():
    space, shortcut_bn, graph = (network_factory(ARCH, n)() for n in ("space", "shortcut-bn", "graph"))
    assert _bns(shortcut_bn) == _bns(space) + 2 == _bns(graph)  # one per reduction block's shortcut
    # An eval-mode BatchNorm folds into the conv before it: the module's canonical graph is unchanged.
    x = torch.zeros(1, 3, 32, 32)
    assert from_module(shortcut_bn.eval(), x).hash == from_module(space.eval(), x).hash
