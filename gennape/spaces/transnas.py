"""TransNAS-Bench-101 (Duan et al., CVPR 2021): macro (``64-1242-basic``) and micro
(``64-41414-1_00_210``) arch strings -> the classification networks of the benchmark.

Both spaces follow the official TransNAS-Bench-101 code (``tnb101/models/net_infer/net_macro.py``
``MacroNet``, ``cell_micro.py`` ``MicroCell`` / ``ResNetBasicblock``, ``net_ops/cell_ops.py``,
``decoder.py`` ``FFDecoder``, as vendored in NASLib), classification tasks ``class_object`` (100
classes) and ``class_scene`` (63 classes):

* stem: Conv3x3 stride 2 (3 -> C/2) + BN, then ReLUConvBN 3x3 stride 2 (C/2 -> C), C = 64;
* one layer of 2 blocks per macro-code digit: 1 keeps width and resolution, 2 doubles the width,
  3 halves the resolution, 4 does both (the change happens in the layer's first block);
* macro blocks are ResNet basic blocks (ReLUConvBN 3x3 twice; a Conv1x1+BN shortcut when the
  stride or width changes); micro blocks are a ``MicroCell`` on the fixed skeleton ``41414``;
* decoder: global average pool, flatten, Linear(width, num_classes) (width 512 for every micro
  arch; for macro archs 64 * 2^(number of 2/4 digits)).

MicroCell: nodes 0..3, node j = sum of ``op(node i)`` over i < j; the output is node 3. The arch
string ``a_bc_def`` gives node 1's edge (0->1), node 2's (0->2, 1->2), node 3's (0->3, 1->3, 2->3).
Op codes: 0 ``none`` (zeros), 1 skip (Identity, or FactorizedReduce when the edge changes stride
or width), 2 ReLUConvBN 1x1, 3 ReLUConvBN 3x3. Edges leaving node 0 carry the block's stride and
C_in -> C_out; the others are C_out -> C_out, stride 1. All BatchNorms are affine.

Parameter counts and the reference tables: NASLib's ``zc_transbench101_{macro,micro}.json``
(NAS-Bench-Suite-Zero) ``params`` is trainable parameters / 1e6 of this module (BN affine weights
and the classifier included), with 100 classes for ``class_object`` and 63 for ``class_scene``
(the two tasks differ by exactly 37 * (width + 1)). Measured on every row of both tasks of both
spaces (macro 662 rows per task, micro 711; tests/test_spaces_transnas.py, slow): identical to
the 6 printed decimals.

NASLib's tuple keys: NASLib indexes archs by 6-int tuples. Macro: the code digits padded with
trailing zeros, ``(1, 2, 4, 2, 0, 0)`` -> ``64-1242-basic``. Micro: ``(a, b, c, d, e, f)`` ->
``64-41414-a_bc_def`` (NASLib's ``convert_naslib_to_transbench101_micro``: the digits in order).
These strings are what NASLib queries the official benchmark with, so the labels (accuracies)
belong to the official network of that string; and NASLib's default model (``create_graph=False``,
``convert_op_indices_*_to_model``) is the official model of the same string, which is what counted
``params`` -- hence the exact match here. NASLib's own graph implementation
(``TransBench101SearchSpaceMicro(create_graph=True)``) disagrees with the official network in
four ways, and is NOT what this module builds:

1. op codes: NASLib's ``OP_NAMES`` are 0 Identity, 1 Zero, 2 ReLUConvBN3x3, 3 ReLUConvBN1x1,
   while the official codes (used by the arch string, hence by the labels) are 0 none, 1 skip,
   2 conv1x1, 3 conv3x3;
2. edge order: NASLib's ``EDGE_LIST`` is (1,2),(1,3),(1,4),(2,3),(2,4),(3,4) (by source node), the
   arch string's order is by target node, 0->1, 0->2, 1->2, 0->3, 1->3, 2->3, so tuple positions 2
   and 3 name different edges;
3. stem: NASLib's graph uses Conv3x3 stride 1 (3 -> 64) + BN, so its feature maps are 4x larger;
4. a strided skip is FactorizedReduce with a non-affine BN in NASLib's graph.

So a NASLib graph model of a tuple is a different network from the one the tuple's labels were
measured on; use the arch string (this module) for both labels and structure.

Input resolution: Taskonomy images at 256 x 256 (:data:`INPUT_SHAPE`), confirmed against the
tables' ``flops`` column, which is multiply-accumulates / 1e6 at batch 1 of this module, counting
also about one op per element of BN, ReLU, adds and pooling: our graph FLOPs (2 x the conv and
Linear MACs) / 2 are 0.988-0.999 x the column at 256 on the macro rows (0.76 x at 224, the area
ratio), Spearman 1.000. Micro: the module's conv + Linear MACs are 0.971-0.998 x the column,
Spearman 1.000; but the canonical graph drops compute that cannot reach the output or only sees
zeros (an op on a node that is identically zero, a node whose out-edges are all ``none``), which the
table counts. That happens on 316 of the 711 micro rows, so graph FLOPs vs the column has Spearman
0.81 over all micro rows (1.000 over the 395 rows where nothing is dropped). 20 micro rows have an
all-zero cell output (e.g. ``64-41414-0_12_010``): the network is constant and its canonical graph
is input -> output (0 FLOPs); those rows still have labels (near-chance accuracy).

Valid sets: micro, all 4^6 = 4,096 cells. Macro, the benchmark's 3,256 codes: 4 to 6 digits over
1..4 with 1 to 4 resolution halvings (digits 3/4) and 1 to 3 width doublings (digits 2/4) (NASLib's
``sample_random_architecture``; 210 + 750 + 2,296 = 3,256, the paper's count; every row of the
tables satisfies it). :meth:`TransNASMacroSpace.parse` accepts any code of 4 to 6 digits over 1..4
(``TransNASMacroSpec.in_benchmark`` says whether it is one of the 3,256).
"""

from __future__ import annotations

import ast
import itertools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gennape.spaces.registry import SearchSpace, register_space
from gennape.spaces.templates import Choice, slot_factory

INPUT_SHAPE: tuple[int, int, int] = (3, 256, 256)
BASE_CHANNELS = 64
MICRO_SKELETON = "41414"
# Official micro op codes (the arch string's digits).
MICRO_OPS: dict[int, str] = {0: "none", 1: "skip_connect", 2: "conv_1x1", 3: "conv_3x3"}
# (source node, target node) of each micro digit, in the arch string's order.
MICRO_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_CLASSES: dict[str, int] = {"class_object": 100, "class_scene": 63}

_MACRO_RE = re.compile(r"^(\d+)-([1-4]{4,6})-basic$")
_MICRO_RE = re.compile(r"^(\d+)-41414-([0-3])_([0-3]{2})_([0-3]{3})$")


# --- specs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransNASMacroSpec:
    """A macro arch: its layer code, 4 to 6 digits over 1..4 (e.g. ``"1242"``)."""

    code: str

    def __post_init__(self) -> None:
        if not (isinstance(self.code, str) and re.fullmatch(r"[1-4]{4,6}", self.code)):
            raise ValueError(f"TransNAS macro code must be 4 to 6 digits over 1..4, got {self.code!r}")

    @property
    def in_benchmark(self) -> bool:
        """Whether the code is one of the benchmark's 3,256 (1-4 downsamplings, 1-3 doublings)."""
        down = sum(d in "34" for d in self.code)
        wide = sum(d in "24" for d in self.code)
        return 1 <= down <= 4 and 1 <= wide <= 3

    def __str__(self) -> str:
        return f"{BASE_CHANNELS}-{self.code}-basic"


@dataclass(frozen=True)
class TransNASMicroSpec:
    """A micro cell: the official op code (0..3) of each edge, in :data:`MICRO_EDGES` order."""

    ops: tuple[int, ...]

    def __post_init__(self) -> None:
        if (not isinstance(self.ops, tuple) or len(self.ops) != 6
                or not all(isinstance(o, int) and 0 <= o <= 3 for o in self.ops)):
            raise ValueError(f"TransNAS micro cell needs 6 op codes in 0..3, got {self.ops!r}")

    def __str__(self) -> str:
        a, b, c, d, e, f = self.ops
        return f"{BASE_CHANNELS}-{MICRO_SKELETON}-{a}_{b}{c}_{d}{e}{f}"


def _int_tuple(value: Any, what: str) -> tuple[int, ...] | None:
    """A tuple of ints from a tuple/list or a tuple string like ``"(1, 2, 0)"``; None otherwise."""
    if isinstance(value, str):
        s = value.strip()
        if not s.startswith(("(", "[")):
            return None
        try:
            value = ast.literal_eval(s)
        except (ValueError, SyntaxError):
            raise ValueError(f"TransNAS {what}: cannot read a tuple from {s!r}") from None
    if isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool)
                                               for v in value):
        return tuple(int(v) for v in value)
    if isinstance(value, (tuple, list)):
        try:  # numpy ints and the like
            ints = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            return None
        return ints if all(float(a) == float(b) for a, b in zip(ints, value)) else None
    return None


def macro_from_naslib(t: Any) -> str:
    """NASLib macro tuple (or its string) -> official arch string, ``(1, 2, 4, 2, 0, 0)`` ->
    ``64-1242-basic`` (the non-zero digits in order, as ``convert_naslib_to_transbench101_macro``).

    Raises ``ValueError`` naming ``t`` when it is not 6 ints over 0..4 whose non-zero digits form
    a macro code (4 to 6 digits over 1..4).
    """
    ints = _int_tuple(t, "macro tuple")
    if ints is None or len(ints) != 6 or not all(0 <= v <= 4 for v in ints):
        raise ValueError(f"not a NASLib TransNAS macro tuple (6 ints over 0..4): {t!r}")
    code = "".join(str(v) for v in ints if v)
    try:
        return str(TransNASMacroSpec(code))
    except ValueError as err:
        raise ValueError(f"NASLib TransNAS macro tuple {t!r}: {err}") from None


def micro_from_naslib(t: Any) -> str:
    """NASLib micro tuple (or its string) -> official arch string, ``(1, 0, 0, 2, 1, 0)`` ->
    ``64-41414-1_00_210`` (the digits in order, as ``convert_naslib_to_transbench101_micro``).

    Raises ``ValueError`` naming ``t`` when it is not 6 ints over 0..3.
    """
    ints = _int_tuple(t, "micro tuple")
    if ints is None or len(ints) != 6 or not all(0 <= v <= 3 for v in ints):
        raise ValueError(f"not a NASLib TransNAS micro tuple (6 ints over 0..3): {t!r}")
    return str(TransNASMicroSpec(ints))


def parse_macro(value: Any) -> TransNASMacroSpec:
    """A macro spec from a spec, an arch string ``64-1242-basic``, or a NASLib tuple (string)."""
    if isinstance(value, TransNASMacroSpec):
        return value
    if isinstance(value, str) and not value.strip().startswith(("(", "[")):
        m = _MACRO_RE.match(value.strip())
        if m is None or int(m.group(1)) != BASE_CHANNELS:
            raise ValueError(f"not a TransNAS macro arch string ('{BASE_CHANNELS}-<4-6 digits "
                             f"1..4>-basic'): {value!r}")
        return TransNASMacroSpec(m.group(2))
    if isinstance(value, (str, tuple, list)):
        return parse_macro(macro_from_naslib(value))
    raise ValueError(f"cannot read a TransNAS macro spec from {type(value).__name__}: {value!r}")


def parse_micro(value: Any) -> TransNASMicroSpec:
    """A micro spec from a spec, an arch string ``64-41414-1_00_210``, or a NASLib tuple (string)."""
    if isinstance(value, TransNASMicroSpec):
        return value
    if isinstance(value, str) and not value.strip().startswith(("(", "[")):
        m = _MICRO_RE.match(value.strip())
        if m is None or int(m.group(1)) != BASE_CHANNELS:
            raise ValueError(f"not a TransNAS micro arch string ('{BASE_CHANNELS}-41414-a_bc_def', "
                             f"digits 0..3): {value!r}")
        return TransNASMicroSpec(tuple(int(c) for c in "".join(m.groups()[1:])))
    if isinstance(value, (str, tuple, list)):
        return parse_micro(micro_from_naslib(value))
    raise ValueError(f"cannot read a TransNAS micro spec from {type(value).__name__}: {value!r}")


# --- ops --------------------------------------------------------------------------------------


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> affine BN, as TransNAS' ``ReLUConvBN``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the edge's output, computed from the input (``x * 0``,
    subsampled when strided, repeated along channels when the width grows) so the data-flow edge
    stays visible. TransNAS' ``Zero`` makes ``new_zeros`` of the same shape when C_in != C_out."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        if c_out % c_in:
            raise ValueError(f"Zero op: C_out={c_out} is not a multiple of C_in={c_in}")
        self.stride, self.repeat = stride, c_out // c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        z = x.mul(0.0)
        if self.repeat > 1:
            z = torch.cat([z] * self.repeat, dim=1)
        return z


class FactorizedReduce(nn.Module):
    """TransNAS' strided skip: ReLU; two strided 1x1 convs, on x and on x shifted by one pixel,
    concatenated; affine BN.

    The official op shifts with a right/bottom zero pad then ``[:, :, 1:, 1:]``; on an even-sized
    map a stride-2 1x1 conv never reads the padded row, so ``x[:, :, 1:, 1:]`` (DARTS' form, no pad
    module) is the same function. Every map this op sees is even when H and W are multiples of 32
    (the benchmark's 256 included); odd maps raise a shape error in ``torch.cat``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even output width, got {c_out}")
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=stride, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=stride, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_micro_op(code: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    """TransNAS' ``OPS[str(code)](C_in, C_out, stride, affine=True, track_running_stats=True)``."""
    if code == 0:
        return Zero(c_in, c_out, stride)
    if code == 1:
        return nn.Identity() if stride == 1 and c_in == c_out else FactorizedReduce(c_in, c_out, stride)
    if code == 2:
        return ReLUConvBN(c_in, c_out, 1, stride)
    if code == 3:
        return ReLUConvBN(c_in, c_out, 3, stride)
    raise ValueError(f"unknown TransNAS micro op code {code!r}; allowed: {MICRO_OPS}")


class MicroCell(nn.Module):
    """TransNAS' ``MicroCell``: node j = sum over i < j of op_ij(node i); returns node 3.

    Args:
        spec: the cell's op codes.
        c_in, c_out: block input / output width (edges from node 0 change it).
        stride: block stride (edges from node 0 carry it).
        make_op: the op factory, ``make_op(code, c_in, c_out, stride)`` (templates pass their own).
    """

    def __init__(self, spec: TransNASMicroSpec, c_in: int, c_out: int, stride: int,
                 make_op: Callable[..., nn.Module] = make_micro_op) -> None:
        super().__init__()
        self.edges = MICRO_EDGES
        self.layers = nn.ModuleList(
            make_op(op, c_in, c_out, stride) if src == 0 else make_op(op, c_out, c_out, 1)
            for op, (src, _) in zip(spec.ops, MICRO_EDGES)
        )

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
    """TransNAS' ``ResNetBasicblock``: ReLUConvBN 3x3 (strided) -> ReLUConvBN 3x3, plus the input,
    through Conv1x1 (strided) + BN when the stride or the width changes; no final ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class TransNASNetwork(nn.Module):
    """TransNAS ``MacroNet`` backbone + ``FFDecoder``: the classification network.

    Args:
        macro_code: layer digits (``"1242"``; micro archs use ``"41414"``).
        micro: the micro cell, or None for ResNet basic blocks (the macro space).
        C: base width (64 in the benchmark).
        num_classes: classifier outputs (100 class_object, 63 class_scene).
        make_op: the micro cells' op factory (see :class:`MicroCell`).
    """

    def __init__(self, macro_code: str, micro: TransNASMicroSpec | None = None, C: int = BASE_CHANNELS,
                 num_classes: int = 100, make_op: Callable[..., nn.Module] = make_micro_op) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            ReLUConvBN(C // 2, C, 3, 2),
        )
        blocks: list[nn.Module] = []
        c_prev = C
        for digit in map(int, macro_code):
            c_out = 2 * c_prev if digit % 2 == 0 else c_prev
            stride = 2 if digit > 2 else 1
            for b in range(2):
                s = stride if b == 0 else 1
                blocks.append(ResNetBasicBlock(c_prev, c_out, s) if micro is None
                              else MicroCell(micro, c_prev, c_out, s, make_op))
                c_prev = c_out
        self.layers = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.avgpool(self.layers(self.stem(x)))
        return self.fc(torch.flatten(out, 1))


# --- spaces -----------------------------------------------------------------------------------


class _TransNASSpace(SearchSpace):
    """What the two TransNAS spaces share: resolution, classes, the string id and the builder."""

    input_shape = INPUT_SHAPE
    num_classes = 100

    def spec_to_str(self, spec: Any) -> str:
        return str(self.parse(spec))

    def _skeleton(self, spec: Any) -> tuple[str, Any]:
        """The macro code and the micro cell (None: ResNet basic blocks) of ``spec``'s network."""
        raise NotImplementedError

    def build(self, spec: Any, num_classes: int = 100, C: int = BASE_CHANNELS) -> nn.Module:
        """Build the classification network.

        Args:
            spec: spec, arch string or NASLib tuple.
            num_classes: 100 for class_object, 63 for class_scene.
            C: base width (benchmark: 64).
        """
        code, cell = self._skeleton(self.parse(spec))
        return TransNASNetwork(code, cell, C=C, num_classes=num_classes)


@dataclass(frozen=True)
class _SlotCell:
    """What :class:`MicroCell` reads of a spec (``ops``), with template choices as the ops."""

    ops: tuple[Choice, ...]


@register_space("transnas_macro")
class TransNASMacroSpace(_TransNASSpace):
    """TransNAS-Bench-101 macro: ResNet-style layer codes, 3,256 archs."""

    def parse(self, value: Any) -> TransNASMacroSpec:
        """Accept a spec, an arch string ``64-1242-basic``, or a NASLib tuple / tuple string."""
        return parse_macro(value)

    def _skeleton(self, spec: TransNASMacroSpec) -> tuple[str, None]:
        return spec.code, None

    def enumerate(self) -> list[TransNASMacroSpec]:
        """The benchmark's 3,256 codes, by length, then ``itertools.product`` order over 1..4.

        The official index order is not reproduced (it is not in the NASLib tables).
        """
        specs = (TransNASMacroSpec("".join(p)) for n in (4, 5, 6)
                 for p in itertools.product("1234", repeat=n))
        return [s for s in specs if s.in_benchmark]

    def sample(self, n: int, seed: int = 0) -> list[TransNASMacroSpec]:
        """``n`` codes drawn uniformly (with replacement) from the benchmark's 3,256."""
        rng = random.Random(seed)
        pool = self.enumerate()
        return [rng.choice(pool) for _ in range(n)]


@register_space("transnas_micro")
class TransNASMicroSpace(_TransNASSpace):
    """TransNAS-Bench-101 micro: 4 ops on 6 edges of a cell on the 64-41414 skeleton, 4,096 archs."""

    def parse(self, value: Any) -> TransNASMicroSpec:
        """Accept a spec, an arch string ``64-41414-1_00_210``, or a NASLib tuple / tuple string."""
        return parse_micro(value)

    def _skeleton(self, spec: TransNASMicroSpec) -> tuple[str, TransNASMicroSpec]:
        return MICRO_SKELETON, spec

    def template_network(self, num_classes: int = 100, C: int = BASE_CHANNELS) -> nn.Module:
        """The network with a Slot on each of the cells' 6 edges (every cell shares them); a
        ReLUConvBN 3x3 stands in, since every op of an edge gives its output shape."""
        cell = _SlotCell(tuple(Choice(k) for k in range(len(MICRO_EDGES))))
        return TransNASNetwork(MICRO_SKELETON, cell, C=C, num_classes=num_classes,  # type: ignore[arg-type]
                               make_op=slot_factory(make_micro_op, 3))

    def slot_choices(self, spec: TransNASMicroSpec) -> tuple[int, ...]:
        return spec.ops

    def slot_op(self, choice: int, c_in: int, c_out: int, stride: int) -> nn.Module:
        return make_micro_op(choice, c_in, c_out, stride)

    def enumerate(self) -> list[TransNASMicroSpec]:
        """All 4,096 cells in ``itertools.product`` order over the codes 0..3 (the benchmark holds
        every one; NASLib's tuple iterator ``product(range(4), repeat=6)`` has the same order)."""
        return [TransNASMicroSpec(ops) for ops in itertools.product(range(4), repeat=6)]

    def sample(self, n: int, seed: int = 0) -> list[TransNASMicroSpec]:
        rng = random.Random(seed)
        return [TransNASMicroSpec(tuple(rng.randrange(4) for _ in range(6))) for _ in range(n)]
