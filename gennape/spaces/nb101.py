"""NAS-Bench-101: a cell (upper-triangular adjacency + vertex ops) -> the published network.

Follows ``nasbench/lib/model_builder.py`` and ``model_spec.py`` (Ying et al., ICML 2019): stem
ConvBnRelu 3x3 to 128 channels; 3 stacks of 3 cells, a MaxPool 2x2 and a doubling of the
channels before stacks 2 and 3; global average pool; Linear(512, 10). Inside a cell the output
channels are split over the vertices feeding the output (``compute_vertex_channels``), the cell
input reaches interior vertices through 1x1 ConvBnRelu projections, larger tensors are truncated
(channel slicing) to the width of the vertex they feed, the output concatenates its in-vertices
and adds a projection of the cell input when the input->output edge exists. Vertices that are not
on an input->output path are pruned first, like ``ModelSpec``.

Parameter count and the reference table: ``nb101_500.csv.gz`` column ``params`` (NASLib) is
trainable parameters / 1e6 of this module (convs without bias, every BatchNorm's weight and bias,
the classifier's weight and bias): identical to the printed 6 decimals on all 500 rows. The
table's 7x7 matrices are raw samples: 499 of 500 have vertices off every input->output path and
many have more than 9 edges before pruning; after pruning all are valid nasbench specs, and the
params only match because pruned vertices are not built.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import nn

from gennape.spaces.registry import SearchSpace, register_space

INPUT, OUTPUT = "input", "output"
NB101_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES = 7
MAX_EDGES = 9


@dataclass(frozen=True)
class NB101Spec:
    """An NB-101 cell as given (before pruning).

    Args:
        matrix: square 0/1 adjacency, upper triangular, row = source vertex.
        ops: one label per vertex; first ``input``, last ``output``.
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix)
        n = len(self.ops)
        if m.ndim != 2 or m.shape != (n, n):
            raise ValueError(f"NB-101 adjacency shape {m.shape} does not match {n} ops")
        if not 2 <= n <= MAX_VERTICES:
            raise ValueError(f"NB-101 cell needs 2..{MAX_VERTICES} vertices, got {n}")
        if not np.isin(m, (0, 1)).all() or np.tril(m).any():
            raise ValueError(f"NB-101 adjacency must be 0/1 and strictly upper triangular: {m.tolist()}")
        if self.ops[0] != INPUT or self.ops[-1] != OUTPUT:
            raise ValueError(f"NB-101 ops must start with 'input' and end with 'output': {self.ops}")
        bad = [o for o in self.ops[1:-1] if o not in NB101_OPS]
        if bad:
            raise ValueError(f"NB-101 ops {bad} unknown; allowed: {list(NB101_OPS)}")

    @cached_property
    def pruned(self) -> NB101Spec | None:
        """The cell without vertices off every input->output path; None when input cannot reach output."""
        m = np.asarray(self.matrix)
        n = len(self.ops)
        from_in, from_out = {0}, {n - 1}
        for v in range(1, n):  # topological order: sources come before targets
            if any(m[u, v] for u in from_in):
                from_in.add(v)
        for v in range(n - 2, -1, -1):
            if any(m[v, w] for w in from_out):
                from_out.add(v)
        keep = sorted(from_in & from_out)
        if 0 not in keep or n - 1 not in keep:
            return None
        sub = m[np.ix_(keep, keep)]
        return NB101Spec(tuple(map(tuple, sub.tolist())), tuple(self.ops[i] for i in keep))

    @property
    def is_valid(self) -> bool:
        """nasbench's ``is_valid``: connected, and at most 9 edges once pruned (as ``ModelSpec`` does)."""
        return self.pruned is not None and int(np.sum(self.pruned.matrix)) <= MAX_EDGES

    def to_json(self) -> str:
        return json.dumps({"adjacency": [list(r) for r in self.matrix], "ops": list(self.ops)})


def compute_vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """Channels of each vertex, as nasbench's ``compute_vertex_channels``.

    The output's channels are split evenly (remainder to the first vertices) over the interior
    vertices feeding it; any other interior vertex takes the largest width of its successors.

    Args:
        in_channels: channels of the cell input (vertex 0).
        out_channels: channels of the cell output (last vertex).
        matrix: the pruned adjacency.
    """
    n = matrix.shape[0]
    channels = [0] * n
    channels[0], channels[n - 1] = in_channels, out_channels
    if n == 2:
        return channels
    # The input->output edge is a projection that is added, so it does not take a share.
    in_degree = matrix[1:].sum(axis=0)
    share, extra = divmod(out_channels, int(in_degree[n - 1]))
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            channels[v] = share + (1 if extra > 0 else 0)
            extra -= 1 if extra > 0 else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    channels[v] = max(channels[v], channels[dst])
        if channels[v] <= 0:
            raise ValueError(f"NB-101 vertex {v} gets no channels: {matrix.tolist()}")
    return channels


class ConvBnRelu(nn.Sequential):
    """Conv (no bias) -> BN -> ReLU, nasbench's ``conv_bn_relu``."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )


def _vertex_op(name: str, channels: int) -> nn.Module:
    if name == "conv3x3-bn-relu":
        return ConvBnRelu(channels, channels, 3)
    if name == "conv1x1-bn-relu":
        return ConvBnRelu(channels, channels, 1)
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"unknown NB-101 op {name!r}")


class NB101Cell(nn.Module):
    """One NB-101 module (cell) on a pruned spec.

    Args:
        spec: a pruned, connected spec.
        c_in: cell input channels.
        c_out: cell output channels.
    """

    def __init__(self, spec: NB101Spec, c_in: int, c_out: int) -> None:
        super().__init__()
        m = np.asarray(spec.matrix)
        n = m.shape[0]
        self.n = n
        self.channels = compute_vertex_channels(c_in, c_out, m)
        # Static wiring, kept as plain Python lists so fx unrolls the loops.
        self.sources = [[u for u in range(1, v) if m[u, v]] for v in range(n)]
        self.from_input = [bool(m[0, v]) for v in range(n)]
        self.concat = [v for v in range(1, n - 1) if m[v, n - 1]]
        self.proj = nn.ModuleDict(
            {str(v): ConvBnRelu(c_in, self.channels[v], 1) for v in range(1, n - 1) if m[0, v]}
        )
        self.ops = nn.ModuleDict(
            {str(v): _vertex_op(spec.ops[v], self.channels[v]) for v in range(1, n - 1)}
        )
        self.out_proj = ConvBnRelu(c_in, c_out, 1) if m[0, n - 1] else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensors: list[torch.Tensor] = [x]
        for v in range(1, self.n - 1):
            c = self.channels[v]
            # nasbench truncates wider inputs (by at most one channel) to the vertex's width.
            add_in = [tensors[u] if self.channels[u] == c else tensors[u][:, :c] for u in self.sources[v]]
            if self.from_input[v]:
                add_in.append(self.proj[str(v)](x))
            total = add_in[0]
            for t in add_in[1:]:
                total = total + t
            tensors.append(self.ops[str(v)](total))
        if not self.concat:
            return self.out_proj(x)
        if len(self.concat) == 1:
            out = tensors[self.concat[0]]
        else:
            out = torch.cat([tensors[v] for v in self.concat], 1)
        if self.out_proj is not None:
            out = out + self.out_proj(x)
        return out


class NB101Network(nn.Module):
    """The NB-101 network: stem, 3 stacks x 3 cells, max-pool downsampling, GAP, Linear.

    Args:
        spec: the cell (pruned inside).
        stem_channels: 128 in NAS-Bench-101.
        num_stacks: 3.
        cells_per_stack: 3.
        num_classes: 10.
    """

    def __init__(
        self,
        spec: NB101Spec,
        stem_channels: int = 128,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        pruned = spec.pruned
        if pruned is None:
            raise ValueError(f"NB-101 cell has no input->output path: {spec.to_json()}")
        layers: list[nn.Module] = [ConvBnRelu(3, stem_channels, 3)]
        c_in = c_out = stem_channels
        for stack in range(num_stacks):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
                c_out *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(pruned, c_in, c_out))
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(self.features(x)).flatten(1))


def _load_json(value: object, what: str) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"NB-101 {what} is not valid JSON ({err}): {value[:80]!r}") from None
    return value


@register_space("nb101")
class NB101Space(SearchSpace):
    """NAS-Bench-101: cells of up to 7 vertices and 9 edges over 3 ops."""

    def parse(self, value: object) -> NB101Spec:
        """Accept an :class:`NB101Spec`, a pair ``(adjacency, ops)`` (JSON strings or lists), a dict
        with keys ``adjacency``/``ops``, or its JSON string (the :meth:`spec_to_str` id)."""
        if isinstance(value, NB101Spec):
            return value
        value = _load_json(value, "spec")
        if isinstance(value, dict):
            if not {"adjacency", "ops"} <= value.keys():
                raise ValueError(f"NB-101 spec dict needs 'adjacency' and 'ops', got {sorted(value)}")
            value = (value["adjacency"], value["ops"])
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise ValueError(f"cannot read an NB-101 spec from {value!r}")
        adj = _load_json(value[0], "adjacency")
        ops = _load_json(value[1], "ops")
        try:
            matrix = tuple(tuple(int(x) for x in row) for row in adj)  # type: ignore[union-attr]
            return NB101Spec(matrix, tuple(str(o) for o in ops))  # type: ignore[union-attr]
        except (TypeError, ValueError) as err:
            raise ValueError(f"bad NB-101 spec (adjacency={adj!r}, ops={ops!r}): {err}") from None

    def spec_to_str(self, spec: NB101Spec) -> str:
        return self.parse(spec).to_json()

    def build(
        self,
        spec: NB101Spec | object,
        stem_channels: int = 128,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
        num_classes: int = 10,
    ) -> nn.Module:
        """Build the NB-101 network (defaults: the published CIFAR-10 setting).

        Args:
            spec: spec or anything :meth:`parse` accepts.
            stem_channels: stem width (128).
            num_stacks: stacks (3).
            cells_per_stack: cells per stack (3).
            num_classes: 10.
        """
        return NB101Network(self.parse(spec), stem_channels, num_stacks, cells_per_stack, num_classes)

    def sample(self, n: int, seed: int = 0) -> list[NB101Spec]:
        """Uniform over valid 7-vertex cells, by rejection like nasbench's random search."""
        rng = random.Random(seed)
        out: list[NB101Spec] = []
        while len(out) < n:
            bits = [
                [int(j > i and rng.random() < 0.5) for j in range(MAX_VERTICES)]
                for i in range(MAX_VERTICES)
            ]
            ops = (INPUT, *(rng.choice(NB101_OPS) for _ in range(MAX_VERTICES - 2)), OUTPUT)
            spec = NB101Spec(tuple(map(tuple, bits)), ops)
            if spec.is_valid:
                out.append(spec)
        return out
