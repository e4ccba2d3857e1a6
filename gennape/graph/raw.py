"""The frontends' common intermediate form, before canonicalisation.

A frontend (ONNX, torch.fx) emits ``RawNode``s in topological order. Besides the canonical ops it
may emit a few *transient* ops that the canonical passes fold, fuse or drop (``canonical.py``):

- ``Identity``: Dropout, Identity, contiguous, ... (dropped)
- ``Reshape``: view / flatten / reshape (dropped when it only moves shape, see the passes)
- ``BatchNorm``: folded into a preceding Conv / Linear, otherwise kept
- ``Scale``: elementwise op with a constant operand; attrs ``value`` (float or None) and ``kind``
  (``mul``, ``div``, ``add``, ``sub``); multiplication by 0 makes the result a constant zero
- ``Zero``: a constant zero tensor
- ``Erf``: only inside the decomposed GELU pattern
- ``Clip``: attrs ``min``, ``max``; becomes ReLU6 / ReLU
- ``ReduceMean``: attr ``axes`` (no-batch axes); over the spatial axes it is a GlobalAvgPool
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gennape.graph.ir import Shape

TRANSIENT_OPS = frozenset({"Identity", "Scale", "Zero", "Erf", "Clip", "ReduceMean"})


@dataclass
class RawNode:
    """One operation as a frontend saw it.

    Args:
        op: canonical or transient op name.
        inputs: producer node ids, in argument order (activations only).
        in_shapes: input shapes (no batch), parallel to ``inputs``.
        out_shape: output shape (no batch).
        attrs: kernel / stride / padding / dilation / groups / bias and op-specific attributes.
        key: identity of the node's weights (module path, initializer name) so that calling the
            same layer twice on the same input is recognised as one computation; None otherwise.
        where: the frontend's name of the node, for error messages.
    """

    op: str
    inputs: list[int]
    in_shapes: list[Shape]
    out_shape: Shape
    attrs: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    where: str = ""


@dataclass(frozen=True)
class Ref:
    """A tensor produced by raw node ``id`` with shape ``shape`` (no batch)."""

    id: int
    shape: Shape


class RawGraph:
    """An ordered, mutable DAG of RawNodes with named outputs."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes: dict[int, RawNode] = {}
        self.outputs: list[int] = []
        self._next = 0

    def add(self, node: RawNode) -> int:
        """Append a node (its inputs must already exist); returns its id."""
        nid = self._next
        self.nodes[nid] = node
        self._next += 1
        return nid

    def consumers(self) -> dict[int, list[int]]:
        """node id -> ids of nodes (and -1 for a graph output) that read it."""
        out: dict[int, list[int]] = {i: [] for i in self.nodes}
        for i, n in self.nodes.items():
            for s in n.inputs:
                out[s].append(i)
        for o in self.outputs:
            out[o].append(-1)
        return out

    def replace_uses(self, old: int, new: int, readers: list[int] | None = None) -> None:
        """Make every reader of ``old`` (all nodes, or just ``readers``) read ``new`` instead."""
        for i in self.nodes if readers is None else readers:
            if i >= 0 and i in self.nodes:
                n = self.nodes[i]
                n.inputs = [new if s == old else s for s in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def bypass(self, nid: int, cons: dict[int, list[int]] | None = None) -> None:
        """Remove a single-input node, wiring its readers to its input; keeps ``cons`` (the
        consumers map) up to date when given."""
        node = self.nodes.pop(nid)
        src = node.inputs[0]
        readers = cons.pop(nid) if cons is not None else None
        self.replace_uses(nid, src, readers)
        if cons is not None:
            cons[src] = [r for r in cons[src] if r != nid] + readers

    def emit(self, op: str, inputs: list[int], out_shape: Shape, where: str = "",
             key: str | None = None, **attrs: Any) -> int:
        """Append a node reading ``inputs``; its input shapes are their producers' output shapes."""
        in_shapes = [self.nodes[i].out_shape for i in inputs]
        return self.add(RawNode(op, list(inputs), in_shapes, tuple(out_shape), attrs, key, where))


def pads4(padding: Any) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from torch's int / (h, w) padding."""
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    return (int(ph), int(pw), int(ph), int(pw))


def pair(v: Any) -> tuple[int, int]:
    """(h, w) from an int or a pair."""
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))
