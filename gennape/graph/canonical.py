"""Canonicalisation: turn a frontend's RawGraph into a ComputeGraph that no longer shows the route.

The passes run in a fixed order; each is a small function over the RawGraph. Together they
fuse decomposed activations (GELU from Erf, SiLU / HardSwish from x * gate(x), Clip -> ReLU6),
propagate constant zeros (NB-201's ``none`` op), drop shape-only and identity ops, fold BatchNorm
into the Conv / Linear before it, fuse zero padding into Conv, merge repeated computations,
remove dead nodes, and give each Conv / Linear its bias by the structural rule of
:func:`canonical_bias`.
"""

from __future__ import annotations

import math
from typing import Callable

from gennape.graph.errors import GraphError
from gennape.graph.ir import ComputeGraph, Node
from gennape.graph.ops import get_op
from gennape.graph.raw import TRANSIENT_OPS, RawGraph, RawNode

Pass = Callable[[RawGraph], None]


def _only_consumer(g: RawGraph, cons: dict[int, list[int]], nid: int, reader: int) -> bool:
    return cons[nid] == [reader]


def fuse_gelu(g: RawGraph) -> None:
    """x * (erf(x / c) + 1) [* 0.5] -> GELU(x) (the legacy exporter's decomposition)."""
    for mid, m in list(g.nodes.items()):
        if m.op != "Mul" or len(m.inputs) != 2:
            continue
        for x, a in (m.inputs, m.inputs[::-1]):
            add = g.nodes.get(a)
            if add is None or add.op != "Scale" or add.attrs.get("kind") != "add":
                continue
            erf = g.nodes[add.inputs[0]]
            if erf.op != "Erf":
                continue
            pre = g.nodes[erf.inputs[0]]
            src = pre.inputs[0] if pre.op == "Scale" else erf.inputs[0]
            if src == x:
                m.op, m.inputs, m.in_shapes, m.attrs = "GELU", [x], [m.in_shapes[0]], {}
                break


def fuse_gated(g: RawGraph) -> None:
    """x * sigmoid(x) -> SiLU(x); x * hardsigmoid(x) -> HardSwish(x)."""
    fused = {"Sigmoid": "SiLU", "HardSigmoid": "HardSwish"}
    for m in g.nodes.values():
        if m.op != "Mul" or len(m.inputs) != 2:
            continue
        for x, gate in (m.inputs, m.inputs[::-1]):
            gn = g.nodes[gate]
            if gn.op in fused and gn.inputs == [x] and not gn.attrs:
                m.op, m.inputs, m.in_shapes = fused[gn.op], [x], [m.in_shapes[0]]
                break


def clip_to_relu(g: RawGraph) -> None:
    """Clip(0, 6) -> ReLU6, Clip(0, inf) -> ReLU; any other Clip is outside the vocabulary."""
    for n in g.nodes.values():
        if n.op != "Clip":
            continue
        lo, hi = n.attrs.get("min"), n.attrs.get("max")
        if lo == 0 and hi == 6:
            n.op, n.attrs = "ReLU6", {}
        elif lo == 0 and (hi is None or math.isinf(hi)):
            n.op, n.attrs = "ReLU", {}
        else:
            raise GraphError(g.source, f"op Clip({lo}, {hi}) at node {n.where!r} is not in the vocabulary")


def reduce_mean_to_gap(g: RawGraph) -> None:
    """Mean over the spatial axes of a (C, H, W) map, or over the tokens of a (T, C) sequence, is a
    GlobalAvgPool."""
    for n in g.nodes.values():
        if n.op == "ReduceMean":
            s = n.in_shapes[0]
            if (len(s), tuple(sorted(n.attrs["axes"]))) in ((3, (1, 2)), (2, (0,))):
                n.op, n.attrs, n.out_shape = "GlobalAvgPool", {}, (s[0] if len(s) == 3 else s[-1],)
            else:
                raise GraphError(g.source, f"op ReduceMean over axes {n.attrs['axes']} at node "
                                           f"{n.where!r} is not in the vocabulary")


def global_pools(g: RawGraph) -> None:
    """An unpadded AvgPool whose window covers the whole map is a GlobalAvgPool; GlobalAvgPool
    always yields (C,), whatever the route kept of the singleton axes."""
    for n in g.nodes.values():
        if (n.op == "AvgPool" and len(n.in_shapes[0]) == 3 and n.out_shape[1:] == (1, 1)
                and tuple(n.attrs["kernel"]) == n.in_shapes[0][1:] and not any(n.attrs["padding"])):
            n.op, n.attrs = "GlobalAvgPool", {}
        if n.op == "GlobalAvgPool":
            s = n.in_shapes[0]
            n.out_shape = (s[0] if len(s) == 3 else s[-1],)


def propagate_zeros(g: RawGraph) -> None:
    """Constant zeros (x * 0) flow forward: Add drops them, anything else fed only zeros is zero."""
    for n in g.nodes.values():
        if n.op == "Scale" and n.attrs.get("kind") == "mul" and n.attrs.get("value") == 0:
            n.op, n.inputs, n.in_shapes, n.attrs = "Zero", [], [], {}
            continue
        if not n.inputs or n.op == "Zero":
            continue
        zero = [g.nodes[s].op == "Zero" for s in n.inputs]
        if not any(zero):
            continue
        if n.op == "Add" and not all(zero):
            keep = [i for i, z in enumerate(zero) if not z]
            n.inputs = [n.inputs[i] for i in keep]
            n.in_shapes = [n.in_shapes[i] for i in keep]
            if len(n.inputs) == 1:
                n.op, n.attrs = "Identity", {}
        elif n.op == "Concat" and not all(zero):
            raise GraphError(g.source, f"Concat of a constant-zero tensor at node {n.where!r}")
        elif n.op == "Output":
            n.inputs, n.in_shapes = [], []
        else:
            n.op, n.inputs, n.in_shapes, n.attrs = "Zero", [], [], {}


def _shape_only(g: RawGraph, cons: dict[int, list[int]], nid: int, n: RawNode) -> bool:
    if n.op != "Reshape":
        return False
    squeeze = lambda s: tuple(d for d in s if d != 1)  # noqa: E731
    readers = [g.nodes[c].op for c in cons[nid] if c >= 0]
    return (len(n.out_shape) <= 1 or squeeze(n.out_shape) == squeeze(n.in_shapes[0])
            or (readers and all(r == "Linear" for r in readers)))


def drop_identities(g: RawGraph) -> None:
    """Remove Identity, non-zero Scale, and Reshapes that only flatten or add singleton axes."""
    cons = g.consumers()
    for nid, n in list(g.nodes.items()):
        single = n.op in ("Add", "Mul", "Concat") and len(n.inputs) == 1
        if n.op in ("Identity", "Scale") or single or _shape_only(g, cons, nid, n):
            g.bypass(nid, cons)


def fold_batchnorm(g: RawGraph) -> None:
    """BatchNorm right after a Conv / Linear (its only reader) becomes that layer's bias."""
    cons = g.consumers()
    for nid, n in list(g.nodes.items()):
        if n.op != "BatchNorm":
            continue
        prod = g.nodes[n.inputs[0]]
        if prod.op in ("Conv", "DepthwiseConv", "Linear") and _only_consumer(g, cons, n.inputs[0], nid):
            prod.attrs["bias"] = True
            prod.key = f"{prod.key}+{n.key}"
            g.bypass(nid, cons)


def fuse_pad_into_conv(g: RawGraph) -> None:
    """A zero Pad whose only reader is a Conv becomes that Conv's padding."""
    cons = g.consumers()
    for nid, n in list(g.nodes.items()):
        if n.op != "Pad" or n.attrs.get("value", 0.0) != 0.0:
            continue
        readers = cons[nid]
        if len(readers) == 1 and readers[0] >= 0 and g.nodes[readers[0]].op in ("Conv", "DepthwiseConv"):
            conv = g.nodes[readers[0]]
            conv.attrs["padding"] = tuple(a + b for a, b in zip(conv.attrs["padding"], n.attrs["pads"]))
            conv.in_shapes = [n.in_shapes[0]]
            g.bypass(nid, cons)


def depthwise(g: RawGraph) -> None:
    """A Conv with one group per input channel is a DepthwiseConv."""
    for n in g.nodes.values():
        if n.op == "Conv" and n.attrs["groups"] > 1 and n.attrs["groups"] == n.in_shapes[0][0]:
            n.op = "DepthwiseConv"


def merge_duplicates(g: RawGraph) -> None:
    """The same op with the same weights on the same inputs is one computation (CSE)."""
    seen: dict[tuple, int] = {}
    cons = g.consumers()
    for nid, n in list(g.nodes.items()):
        if n.op in ("Input", "Output"):
            continue
        ins = tuple(n.inputs) if get_op(n.op).ordered else tuple(sorted(n.inputs))
        sig = (n.op, ins, n.key, tuple(sorted((k, repr(v)) for k, v in n.attrs.items())), n.out_shape)
        if sig in seen and n.inputs:
            g.nodes.pop(nid)
            readers = cons.pop(nid)
            g.replace_uses(nid, seen[sig], readers)
            cons[seen[sig]] += readers
        else:
            seen[sig] = nid


def remove_dead(g: RawGraph) -> None:
    """Drop nodes that no output depends on (the Input always stays)."""
    live = set(g.outputs) | {i for i, n in g.nodes.items() if n.op in ("Input", "Output")}
    stack = list(live)
    while stack:
        for s in g.nodes[stack.pop()].inputs:
            if s not in live:
                live.add(s)
                stack.append(s)
    for nid in [i for i in g.nodes if i not in live]:
        del g.nodes[nid]


AFFINE = ("Conv", "DepthwiseConv", "Linear")


def canonical_bias(g: RawGraph) -> None:
    """Every Conv / DepthwiseConv / Linear has a bias (one per output channel), except one whose
    every reader is an affine layer (Conv, DepthwiseConv, Linear, or a BatchNorm left unfolded),
    directly or through Concats: that layer's shift subsumes it (DARTS' separable convs, a
    factorised reduction's convs before their BatchNorm).

    Whether the file stores a bias is not a fact about the network: exporters drop a bias that is
    zero (torch's dynamo exporter drops every zero bias, so a BatchNorm folded at fresh
    initialisation leaves none), while the legacy exporter and tracing keep it. So the bias, and
    with it ``params``, is decided by the graph's structure alone, as the hash is. For networks
    built with a bias or a BatchNorm after each such layer this is what they have.
    """
    cons = g.consumers()

    def absorbed(nid: int) -> bool:
        readers = cons[nid]
        return bool(readers) and all(
            r >= 0 and (g.nodes[r].op in (*AFFINE, "BatchNorm") or (g.nodes[r].op == "Concat" and absorbed(r)))
            for r in readers)

    for nid, n in g.nodes.items():
        if n.op in AFFINE:
            n.attrs["bias"] = not absorbed(nid)


PASSES: list[Pass] = [
    fuse_gelu, fuse_gated, clip_to_relu, reduce_mean_to_gap, global_pools, propagate_zeros,
    drop_identities, fold_batchnorm, fuse_pad_into_conv, depthwise, remove_dead, merge_duplicates,
    remove_dead, canonical_bias,
]

_NODE_FIELDS = ("kernel", "stride", "padding", "dilation")


def to_compute_graph(g: RawGraph) -> ComputeGraph:
    """Run the canonical passes and freeze the result."""
    for p in PASSES:
        p(g)
    index: dict[int, int] = {}
    nodes, inputs = [], []
    for nid, n in g.nodes.items():
        if n.op in TRANSIENT_OPS:
            raise GraphError(g.source, f"op {n.op} at node {n.where!r} could not be canonicalised")
        attrs = dict(n.attrs)
        fields = {f: tuple(attrs.pop(f, ())) for f in _NODE_FIELDS}
        node = Node(op=n.op, in_shapes=tuple(tuple(s) for s in n.in_shapes), out_shape=tuple(n.out_shape),
                    groups=attrs.pop("groups", 1), bias=bool(attrs.pop("bias", False)),
                    extra=tuple(sorted(attrs.items())), **fields)
        index[nid] = len(nodes)
        nodes.append(node)
        inputs.append(tuple(index[s] for s in n.inputs))
    return ComputeGraph(tuple(nodes), tuple(inputs), name=g.source)
