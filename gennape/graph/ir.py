"""ComputeGraph: the single, canonical, source-independent form of a network.

Nodes are atomic operations (see ``gennape.graph.ops``) with tensor shapes *without* the batch
axis ((C, H, W) for images, (tokens, features) or (features,) otherwise). ``inputs[i]`` lists the
producers of node ``i`` in argument order; nodes are stored in topological order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gennape.graph.ops import get_op

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Node:
    """One atomic operation.

    Args:
        op: canonical op name (a key of the op registry).
        in_shapes: shapes of the inputs, in argument order, without batch.
        out_shape: output shape without batch.
        kernel, stride, dilation: spatial (h, w) tuples for Conv / pooling, else ().
        padding: (top, left, bottom, right) for Conv / pooling, else ().
        groups: convolution groups.
        bias: whether the (BatchNorm-folded) Conv / Linear counts a bias; canonical graphs decide
            it by structure (``gennape.graph.canonical.canonical_bias``), not by what the file stores.
        extra: sorted (key, value) pairs of op-specific attributes (perm, axis, pads, ...).
    """

    op: str
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    kernel: Shape = ()
    stride: Shape = ()
    padding: Shape = ()
    dilation: Shape = ()
    groups: int = 1
    bias: bool = False
    extra: tuple[tuple[str, Any], ...] = ()

    def attr(self, key: str, default: Any = None) -> Any:
        """An op-specific attribute from ``extra``."""
        return dict(self.extra).get(key, default)

    @property
    def label(self) -> str:
        """Identity of the node for hashing. Bias is left out on purpose: exporters drop a zero
        bias (e.g. a BatchNorm folded at fresh init), so its presence is not a structural fact."""
        parts = [self.op, str(self.in_shapes), str(self.out_shape)]
        if self.kernel:
            parts += [str(self.kernel), str(self.stride), str(self.padding), str(self.dilation), str(self.groups)]
        parts += [f"{k}={v}" for k, v in self.extra]
        return "|".join(parts)

    @property
    def params(self) -> int:
        return get_op(self.op).params(self)

    @property
    def flops(self) -> int:
        return get_op(self.op).flops(self)


@dataclass(frozen=True)
class ComputeGraph:
    """A canonical computation graph.

    Args:
        nodes: the operations, topologically ordered; node 0 is an Input.
        inputs: per node, the indices of its producers in argument order.
        name: where the graph came from (file, arch string); not part of its identity.
    """

    nodes: tuple[Node, ...]
    inputs: tuple[tuple[int, ...], ...]
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.nodes) != len(self.inputs):
            raise ValueError("nodes and inputs differ in length")
        for i, srcs in enumerate(self.inputs):
            if any(s >= i for s in srcs):
                raise ValueError(f"node {i} ({self.nodes[i].op}) is not in topological order")

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """Directed data-flow edges (src, dst), in argument order per dst."""
        return [(s, d) for d, srcs in enumerate(self.inputs) for s in srcs]

    @cached_property
    def hash(self) -> str:
        """Hex digest identifying the network up to node order and naming.

        Each node gets a bottom-up Merkle digest (its label and, in argument order for ordered ops,
        sorted otherwise, the digests of its inputs); the graph digest covers the sorted multiset
        of node digests and of edge digest pairs, so sharing of sub-expressions counts too.
        """
        digests: list[str] = []
        for node, srcs in zip(self.nodes, self.inputs):
            ins = [digests[s] for s in srcs]
            if not get_op(node.op).ordered:
                ins.sort()
            digests.append(_sha(node.label + "(" + ",".join(ins) + ")"))
        edges = sorted(f"{digests[s]}>{digests[d]}" for s, d in self.edges)
        return _sha("\n".join(sorted(digests)) + "\n#\n" + "\n".join(edges))[:32]

    @cached_property
    def flops(self) -> int:
        """FLOPs (2 x multiply-accumulates) of one forward pass at batch 1."""
        return sum(n.flops for n in self.nodes)

    @cached_property
    def params(self) -> int:
        """Parameters of the canonical network: weights of Conv / Linear, one bias per output
        channel where ``Node.bias`` (the structural rule of ``canonical.canonical_bias``: every such
        layer but one feeding straight into another affine layer), 2 per channel of an unfolded
        BatchNorm / LayerNorm, learnt constants. A BatchNorm after a Conv / Linear is folded into its
        bias, so this does not depend on whether or how an exporter stored biases."""
        return sum(n.params for n in self.nodes)

    @property
    def input_shape(self) -> Shape:
        return self.nodes[0].out_shape

    @property
    def output_shapes(self) -> list[Shape]:
        return [n.out_shape for n in self.nodes if n.op == "Output"]

    def to_networkx(self) -> "nx.DiGraph":
        """A DiGraph with node attributes ``op``, ``label``, shapes and ``node`` (the Node);
        edge attribute ``slot`` is the argument position."""
        import networkx as nx  # not at module level: reading a graph must not pay for networkx

        g = nx.DiGraph(name=self.name)
        for i, n in enumerate(self.nodes):
            g.add_node(i, op=n.op, label=n.label, in_shapes=n.in_shapes, out_shape=n.out_shape, node=n)
        for d, srcs in enumerate(self.inputs):
            for slot, s in enumerate(srcs):
                g.add_edge(s, d, slot=slot)
        return g

    def to_pyg(self):  # -> torch_geometric.data.Data
        """Encode as a torch-geometric ``Data`` (see ``gennape.graph.encoding``)."""
        from gennape.graph.encoding import encode

        return encode(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready, faithful form: ``ComputeGraph.from_dict(cg.to_dict())`` has the same nodes,
        inputs, name and so the same ``hash``. Node fields at their default are left out; tuples
        become lists (and come back as tuples), a list-valued attribute is tagged ``{"list": ...}``."""
        return {"name": self.name, "nodes": [_node_to_dict(n) for n in self.nodes],
                "inputs": [list(s) for s in self.inputs]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ComputeGraph":
        """The graph ``to_dict`` wrote."""
        return cls(tuple(_node_from_dict(n) for n in d["nodes"]), tuple(tuple(s) for s in d["inputs"]),
                   name=d.get("name", ""))

    def summary(self) -> dict[str, Any]:
        return {"hash": self.hash, "nodes": len(self.nodes), "edges": len(self.edges),
                "flops": self.flops, "params": self.params}


_SHAPE_FIELDS = ("kernel", "stride", "padding", "dilation")


def _encode(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, tuple):
        return [_encode(x) for x in v]
    if isinstance(v, list):
        return {"list": [_encode(x) for x in v]}
    raise TypeError(f"attribute value {v!r} of type {type(v).__name__} is not serialisable")


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_decode(x) for x in v)
    if isinstance(v, dict):
        return [_decode(x) for x in v["list"]]
    return v


def _node_to_dict(n: Node) -> dict[str, Any]:
    d: dict[str, Any] = {"op": n.op, "in": [list(s) for s in n.in_shapes], "out": list(n.out_shape)}
    for f in _SHAPE_FIELDS:
        if getattr(n, f):
            d[f] = list(getattr(n, f))
    if n.groups != 1:
        d["groups"] = n.groups
    if n.bias:
        d["bias"] = True
    if n.extra:
        d["extra"] = [[k, _encode(v)] for k, v in n.extra]
    return d


def _node_from_dict(d: dict[str, Any]) -> Node:
    return Node(op=d["op"], in_shapes=tuple(tuple(s) for s in d["in"]), out_shape=tuple(d["out"]),
                **{f: tuple(d.get(f, ())) for f in _SHAPE_FIELDS}, groups=d.get("groups", 1),
                bias=d.get("bias", False), extra=tuple((k, _decode(v)) for k, v in d.get("extra", ())))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
