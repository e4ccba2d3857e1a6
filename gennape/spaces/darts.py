"""DARTS: a genotype (normal and reduction cells, 8 [op, input] pairs each) -> NetworkCIFAR.

Follows ``NetworkCIFAR`` / ``Cell`` / ``OPS`` of DARTS (Liu et al., ICLR 2019; the same code is
used by NAS-Bench-301 and NASLib) for evaluation, without the auxiliary head and drop-path: stem
Conv3x3(3 -> 3C)+BN; ``layers`` cells with reduction cells (channels doubled, stride 2) at
``layers // 3`` and ``2 * layers // 3``; each cell preprocesses its two inputs (ReLUConvBN 1x1, or
FactorizedReduce after a reduction cell), computes 4 nodes as the sum of two ops each, and
concatenates nodes 2..5; global average pool; Linear.

Parameter count and the reference table: ``nb301/nb301_725.csv.gz`` column ``params`` (NASLib's
``NasBench301SearchSpace``, counted by NAS-Bench-Suite-Zero) is trainable parameters / 1e6 of this
module built with :data:`NB301_REFERENCE_SETTINGS`: C=32, 8 cells (NB-301's training size, not
the 16 channels of the DARTS search model), and the edge ops' BatchNorms non-affine, as NASLib
builds them (``affine=False``), while stem, preprocessing and classifier parameters count.
Measured on all 725 rows: identical to the printed 6 decimals. With affine edge-op BNs (the DARTS
evaluation network) the count is 0.5-1.2 % higher; with C=16 it is 3.5-3.8x lower. NASLib also
appends a non-affine BatchNorm to the pooling ops; it has no parameters and is left out here.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import torch
from torch import nn

from gennape.spaces.registry import SearchSpace, register_space

DARTS_OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
# ``none`` is accepted by the builder (DARTS' OPS has it) but never sampled: discrete DARTS
# genotypes never pick it.
BUILDABLE_OPS: tuple[str, ...] = ("none", *DARTS_OPS)
STEPS = 4
CONCAT = (2, 3, 4, 5)
# The settings with which ``nb301/nb301_725.csv.gz``'s ``params`` were counted (see module doc).
NB301_REFERENCE_SETTINGS: dict[str, int | bool] = {"C": 32, "layers": 8, "affine_ops": False}


@dataclass(frozen=True)
class DartsGenotype:
    """A DARTS genotype: per cell type, 8 (op, input state) pairs; node k uses pairs 2k, 2k+1.

    Input states 0 and 1 are the two cell inputs; state i >= 2 is intermediate node i - 2.
    """

    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        for kind, cell in (("normal", self.normal), ("reduce", self.reduce)):
            if len(cell) != 2 * STEPS:
                raise ValueError(f"DARTS {kind} cell needs {2 * STEPS} (op, input) pairs, got {len(cell)}")
            for k, (op, src) in enumerate(cell):
                if op not in BUILDABLE_OPS:
                    raise ValueError(f"DARTS {kind} cell: unknown op {op!r}; allowed: {list(BUILDABLE_OPS)}")
                if not 0 <= src < 2 + k // 2:
                    raise ValueError(
                        f"DARTS {kind} cell: pair {k} ({op}) reads state {src}, must be < {2 + k // 2}"
                    )

    def to_json(self) -> str:
        cells = {"normal": self.normal, "reduce": self.reduce}
        return json.dumps({kind: [list(p) for p in pairs] for kind, pairs in cells.items()})


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class DilConv(nn.Sequential):
    """ReLU -> dilated depthwise conv -> pointwise conv -> BN."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked (ReLU, depthwise, pointwise, BN) blocks; only the first is strided."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True
    ) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros, subsampled when strided (as DARTS' ``Zero``)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve H, W: two stride-2 1x1 convs on x and on x shifted by one pixel, concatenated, BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even output width, got {c_out}")
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(name: str, C: int, stride: int, affine: bool = True) -> nn.Module:
    """DARTS' ``OPS[name](C, stride, affine)``; ``affine`` only matters for ops with a BatchNorm."""
    if name == "none":
        return Zero(stride)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)
    if name == "sep_conv_3x3":
        return SepConv(C, C, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(C, C, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(C, C, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(C, C, 5, stride, 4, 2, affine)
    raise ValueError(f"unknown DARTS op {name!r}")


class DartsCell(nn.Module):
    """One evaluation cell.

    Args:
        pairs: the cell's 8 (op, input state) pairs.
        c_prev_prev: channels of input s0.
        c_prev: channels of input s1.
        C: channels of every node.
        reduction: a reduction cell (ops on the inputs are strided).
        reduction_prev: the previous cell reduced, so s0 is twice as large as s1.
        affine_ops: affine BatchNorms inside the edge ops (preprocessing BNs are always affine).
    """

    def __init__(
        self,
        pairs: tuple[tuple[str, int], ...],
        c_prev_prev: int,
        c_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        affine_ops: bool = True,
    ) -> None:
        super().__init__()
        # After a reduction cell s0 is twice as large as s1, so it is reduced to match.
        self.preprocess0 = (
            FactorizedReduce(c_prev_prev, C) if reduction_prev else ReLUConvBN(c_prev_prev, C, 1, 1, 0)
        )
        self.preprocess1 = ReLUConvBN(c_prev, C, 1, 1, 0)
        self.indices = [src for _, src in pairs]
        self.ops = nn.ModuleList(
            make_op(op, C, 2 if reduction and src < 2 else 1, affine_ops) for op, src in pairs
        )
        self.multiplier = len(CONCAT)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(STEPS):
            a, b = 2 * i, 2 * i + 1
            states.append(self.ops[a](states[self.indices[a]]) + self.ops[b](states[self.indices[b]]))
        return torch.cat([states[i] for i in CONCAT], dim=1)


class DartsNetworkCIFAR(nn.Module):
    """DARTS ``NetworkCIFAR`` without auxiliary head and drop-path, returning the logits.

    Args:
        genotype: the two cells.
        C: initial channels (stem gives 3C).
        layers: number of cells, reductions at layers//3 and 2*layers//3.
        num_classes: classifier outputs.
        affine_ops: affine BatchNorms inside the edge ops (DARTS evaluation: True; NASLib's
            NB-301 space: False).
    """

    def __init__(
        self, genotype: DartsGenotype, C: int, layers: int, num_classes: int = 10, affine_ops: bool = True
    ) -> None:
        super().__init__()
        if layers < 3:
            raise ValueError(f"DARTS network needs at least 3 cells, got layers={layers}")
        c_curr = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
        cells = []
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            pairs = genotype.reduce if reduction else genotype.normal
            cell = DartsCell(pairs, c_prev_prev, c_prev, c_curr, reduction, reduction_prev, affine_ops)
            cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))


def _pairs(cell: object, kind: str) -> tuple[tuple[str, int], ...]:
    problem = f"DARTS genotype {kind!r} must be a list of [op, input] pairs, got {cell!r}"
    if not isinstance(cell, (list, tuple)):
        raise ValueError(problem)
    try:
        return tuple((str(op), int(src)) for op, src in cell)
    except (TypeError, ValueError):
        raise ValueError(problem) from None


@register_space("darts")
class DartsSpace(SearchSpace):
    """The DARTS / NAS-Bench-301 cell space (7 ops, 2 inputs per node)."""

    def parse(self, value: object) -> DartsGenotype:
        """Accept a :class:`DartsGenotype`, a dict with ``normal``/``reduce`` (extra keys such as
        ``normal_concat`` must be ``[2, 3, 4, 5]``), its JSON string, or a DARTS ``Genotype``."""
        if isinstance(value, DartsGenotype):
            return value
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                raise ValueError(f"DARTS genotype is not valid JSON ({err}): {value[:80]!r}") from None
        if hasattr(value, "_asdict"):  # DARTS' namedtuple Genotype
            value = value._asdict()  # type: ignore[union-attr]
        if not isinstance(value, dict) or not {"normal", "reduce"} <= value.keys():
            raise ValueError(f"DARTS genotype needs 'normal' and 'reduce', got {value!r}")
        for key in ("normal_concat", "reduce_concat"):
            if key in value and [int(i) for i in value[key]] != list(CONCAT):
                raise ValueError(f"DARTS genotype {key}={value[key]!r}: only {list(CONCAT)} is supported")
        return DartsGenotype(_pairs(value["normal"], "normal"), _pairs(value["reduce"], "reduce"))

    def spec_to_str(self, spec: DartsGenotype) -> str:
        return self.parse(spec).to_json()

    def build(
        self,
        spec: DartsGenotype | object,
        C: int = 32,
        layers: int = 8,
        num_classes: int = 10,
        affine_ops: bool = True,
    ) -> nn.Module:
        """Build the DARTS evaluation network (defaults: NAS-Bench-301's 32 channels, 8 cells).

        Args:
            spec: genotype or anything :meth:`parse` accepts.
            C: initial channels (NB-301 and its reference table: 32; DARTS paper: 36).
            layers: cells (NB-301 and its reference table: 8; DARTS paper: 20).
            num_classes: 10.
            affine_ops: affine BatchNorms inside edge ops (the reference table's params need
                False, see :data:`NB301_REFERENCE_SETTINGS`).
        """
        return DartsNetworkCIFAR(
            self.parse(spec), C=C, layers=layers, num_classes=num_classes, affine_ops=affine_ops
        )

    def sample(self, n: int, seed: int = 0) -> list[DartsGenotype]:
        """Uniform per node: two distinct inputs among the earlier states, an op for each."""
        rng = random.Random(seed)

        def cell() -> tuple[tuple[str, int], ...]:
            pairs: list[tuple[str, int]] = []
            for k in range(STEPS):
                for src in rng.sample(range(2 + k), 2):
                    pairs.append((rng.choice(DARTS_OPS), src))
            return tuple(pairs)

        return [DartsGenotype(cell(), cell()) for _ in range(n)]
