"""NAS-Bench-201: an arch string such as ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|`` -> network.

The network follows xautodl's ``TinyNetwork`` / ``InferCell`` (Dong & Yang, ICLR 2020), CIFAR-10
setting: stem Conv3x3(3->16)+BN; three stages of 5 cells at 16, 32, 64 channels with a ResNet
basic block (stride 2, AvgPool+Conv1x1 shortcut) between stages; BN+ReLU; global average pool;
Linear(64, 10).

Parameter count and the reference table: ``nb201_zc_reference_cifar10.csv.gz`` column ``params``
(NAS-Bench-Suite-Zero, computed by NASLib) is exactly ``trainable parameters / 1e6`` of this
module, counting the classifier (weight and bias) and every BatchNorm's affine weight and bias
(the stem BN, the cell-op BNs, the reduction-block BNs and the last BN). Measured: the difference
is 0 to the table's 6 printed decimals on all 9,445 rows (see tests/test_spaces.py).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gennape.spaces.registry import SearchSpace, register_space
from gennape.spaces.templates import Choice, slot_factory

# Order of NB-201's op list; ``product`` enumeration iterates edges over it.
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (target node, source node) of each of the 6 edges, in the arch string's order.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
ACCURACY_TABLE = Path("nb201") / "nb201_accuracies.csv.gz"


@dataclass(frozen=True)
class NB201Spec:
    """One NB-201 cell: the op on each of the 6 edges, in :data:`NB201_EDGES` order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != 6:
            raise ValueError(f"NB-201 spec needs 6 edge ops, got {len(self.ops)}: {self.ops}")
        bad = [o for o in self.ops if o not in NB201_OPS]
        if bad:
            raise ValueError(f"NB-201 spec has unknown op(s) {bad}; allowed: {list(NB201_OPS)}")

    def __str__(self) -> str:
        it = iter(self.ops)
        nodes = ["|".join(f"{next(it)}~{src}" for src in range(dst)) for dst in (1, 2, 3)]
        return "|" + "|+|".join(nodes) + "|"


def parse_arch_str(arch: str) -> NB201Spec:
    """Parse an NB-201 arch string; raise ``ValueError`` naming the string and the problem."""
    if not isinstance(arch, str):
        raise ValueError(f"NB-201 arch must be a string, got {type(arch).__name__}: {arch!r}")
    nodes = arch.strip().split("+")
    if len(nodes) != 3:
        raise ValueError(f"NB-201 arch {arch!r}: expected 3 nodes joined by '+', got {len(nodes)}")
    ops: list[str] = []
    for dst, node in enumerate(nodes, start=1):
        edges = [e for e in node.split("|") if e]
        if len(edges) != dst:
            raise ValueError(f"NB-201 arch {arch!r}: node {dst} must have {dst} inputs, got {edges}")
        for src, edge in enumerate(edges):
            op, sep, idx = edge.partition("~")
            if not sep or idx != str(src):
                raise ValueError(f"NB-201 arch {arch!r}: edge {edge!r} should read 'op~{src}'")
            ops.append(op)
    try:
        return NB201Spec(tuple(ops))
    except ValueError as err:
        raise ValueError(f"NB-201 arch {arch!r}: {err}") from None


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias, since BN is affine) -> BN, as xautodl's ``ReLUConvBN``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` op: multiplies by 0 like the reference, so the data-flow edge stays visible."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _make_op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB-201 op {name!r}")


class InferCell(nn.Module):
    """A fixed NB-201 cell: node j = sum over i<j of op_ij(node i); the output is node 3.

    Args:
        spec: the cell's edge ops.
        channels: channels of every node (NB-201 cells keep the width).
        make_op: the op factory, ``make_op(name, channels)`` (templates pass their own).
    """

    def __init__(self, spec: NB201Spec, channels: int, make_op: Callable[..., nn.Module] = _make_op) -> None:
        super().__init__()
        self.edges = NB201_EDGES
        self.layers = nn.ModuleList(make_op(op, channels) for op in spec.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        k = 0
        for dst in (1, 2, 3):
            total = self.layers[k](nodes[0])
            k += 1
            for src in range(1, dst):
                total = total + self.layers[k](nodes[src])
                k += 1
            nodes.append(total)
        return nodes[-1]


class ResNetBasicBlock(nn.Module):
    """Stage transition: two ReLUConvBN 3x3 (first strided) plus an AvgPool+Conv1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """xautodl ``TinyNetwork`` returning only the logits.

    Args:
        spec: the cell, shared by all cells.
        C: stem channels (16 in NAS-Bench-201).
        N: cells per stage (5 in NAS-Bench-201).
        num_classes: classifier outputs.
        make_op: the cells' op factory (see :class:`InferCell`).
    """

    def __init__(self, spec: NB201Spec, C: int = 16, N: int = 5, num_classes: int = 10,
                 make_op: Callable[..., nn.Module] = _make_op) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        widths = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        cells: list[nn.Module] = []
        c_prev = C
        for c, red in zip(widths, reductions):
            cells.append(ResNetBasicBlock(c_prev, c) if red else InferCell(spec, c, make_op))
            c_prev = c
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU())
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.cells(self.stem(x)))
        out = self.global_pooling(out).flatten(1)
        return self.classifier(out)


@dataclass(frozen=True)
class _SlotCell:
    """What :class:`InferCell` reads of a spec (``ops``), with template choices as the ops."""

    ops: tuple[Choice, ...]


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201: 5 ops on 6 edges, 15,625 cells."""

    def parse(self, value: object) -> NB201Spec:
        """Accept an :class:`NB201Spec`, an arch string, or a sequence of 6 op names."""
        if isinstance(value, NB201Spec):
            return value
        if isinstance(value, str):
            return parse_arch_str(value)
        if isinstance(value, (list, tuple)):
            return NB201Spec(tuple(str(v) for v in value))
        raise ValueError(f"cannot read an NB-201 spec from {type(value).__name__}: {value!r}")

    def spec_to_str(self, spec: NB201Spec) -> str:
        return str(self.parse(spec))

    def build(
        self, spec: NB201Spec | str, C: int = 16, N: int = 5, num_classes: int = 10
    ) -> nn.Module:
        """Build the NB-201 network.

        Args:
            spec: spec or arch string.
            C: stem channels (NB-201: 16).
            N: cells per stage (NB-201: 5).
            num_classes: 10 for CIFAR-10.
        """
        return NB201Network(self.parse(spec), C=C, N=N, num_classes=num_classes)

    def template_network(self, C: int = 16, N: int = 5, num_classes: int = 10) -> nn.Module:
        """The network with a Slot on each of the cells' 6 edges (every cell shares them)."""
        cell = _SlotCell(tuple(Choice(k) for k in range(len(NB201_EDGES))))
        return NB201Network(cell, C=C, N=N, num_classes=num_classes,  # type: ignore[arg-type]
                            make_op=slot_factory(_make_op, "nor_conv_3x3"))

    def slot_choices(self, spec: NB201Spec) -> tuple[str, ...]:
        return spec.ops

    def slot_op(self, choice: str, channels: int) -> nn.Module:
        return _make_op(choice, channels)

    def sample(self, n: int, seed: int = 0) -> list[NB201Spec]:
        rng = random.Random(seed)
        return [NB201Spec(tuple(rng.choice(NB201_OPS) for _ in range(6))) for _ in range(n)]

    def enumerate(self, order: str = "nb201", data_root: str | Path | None = None) -> list[NB201Spec]:
        """All 15,625 cells.

        Args:
            order: ``"nb201"``: NAS-Bench-201's index order, which is not a simple product and is
                read from the ``arch`` column of ``nb201/nb201_accuracies.csv.gz`` (checked to hold
                every cell exactly once); ``"product"``: ``itertools.product`` over
                :data:`NB201_OPS`, needing no data.
            data_root: folder with ``nb201/`` (default: ``gennape.core.paths.data_root()``).
        """
        if order == "product":
            return [NB201Spec(ops) for ops in itertools.product(NB201_OPS, repeat=6)]
        if order != "nb201":
            raise ValueError(f"unknown NB-201 enumeration order {order!r}; use 'nb201' or 'product'")
        import pandas as pd

        from gennape.core.paths import data_root as find_root

        path = find_root(data_root) / ACCURACY_TABLE
        arch = pd.read_csv(path, usecols=["index", "arch"]).sort_values("index")
        specs = [parse_arch_str(a) for a in arch["arch"]]
        if len(specs) != 5**6 or len(set(specs)) != 5**6:
            raise ValueError(f"{path}: expected 15,625 distinct NB-201 archs, got {len(set(specs))}")
        return specs
