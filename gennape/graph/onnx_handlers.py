"""Registry mapping ONNX operators to ComputeGraph ops (transient ops are canonicalised later)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import onnx
from onnx import helper

from gennape.graph.errors import GraphError
from gennape.graph.ir import Shape
from gennape.graph.raw import RawGraph, Ref


@dataclass(frozen=True)
class Const:
    """A constant tensor: its value when small and known, else None; its shape (with batch)."""

    value: np.ndarray | None
    shape: tuple


@dataclass(frozen=True)
class Moved(Ref):
    """A tensor whose (size-1) batch axis a Transpose moved to position ``batch`` of its full
    shape (attention's ``reshape(B, N, 3, h, d).permute(2, 0, 3, 1, 4)``); ``shape`` is the full
    shape less that axis. Only the ops in ``MOVED_AWARE`` read it; a Gather / Squeeze that brings
    the batch axis back to the front gives a plain Ref again."""

    batch: int = 0

    def full(self) -> tuple:
        s = list(self.shape)
        s.insert(self.batch, 1)
        return tuple(s)


MOVED_AWARE = frozenset({"Transpose", "Gather", "Split", "Squeeze"})


def _batch_of(x: Ref) -> int:
    return x.batch if isinstance(x, Moved) else 0


def _ref(shape: tuple, rid: int, batch: int) -> Ref:
    """A plain Ref when the batch axis is at the front, else a Moved."""
    shape = tuple(int(d) for d in shape)
    if batch == 0:
        return Ref(rid, shape[1:])
    return Moved(rid, shape[:batch] + shape[batch + 1:], batch)


class OnnxCtx:
    """Graph under construction, inferred shapes, and the current node for errors."""

    def __init__(self, g: RawGraph, source: str, shapes: dict[str, tuple]) -> None:
        self.g, self.source, self.shapes, self.where = g, source, shapes, ""

    def shape(self, name: str, what: str = "tensor") -> Shape:
        """Shape of tensor ``name`` without the batch axis; error if not fully known."""
        s = self.shapes.get(name)
        if s is None or not s or any(d is None for d in s[1:]):
            at = f" (node {self.where!r})" if self.where else ""
            raise GraphError(self.source, f"cannot infer the shape of {what} {name!r}{at}")
        return tuple(int(d) for d in s[1:])

    def emit(self, op: str, inputs: list[Ref], node: onnx.NodeProto, key: str | None = None, **attrs: Any) -> Ref:
        shape = self.shape(node.output[0])
        return Ref(self.g.emit(op, [r.id for r in inputs], shape, self.where, key, **attrs), shape)

    def fail(self, problem: str) -> GraphError:
        return GraphError(self.source, f"{problem} at node {self.where!r}")


Handler = Callable[[OnnxCtx, onnx.NodeProto, list], Ref]
HANDLERS: dict[str, Handler] = {}


def register(*op_types: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for t in op_types:
            HANDLERS[t] = fn
        return fn
    return deco


def attrs_of(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _value(ctx: OnnxCtx, c: Any, what: str) -> np.ndarray:
    if not isinstance(c, Const) or c.value is None:
        raise ctx.fail(f"{what} must be a known constant")
    return c.value


def _axis(ctx: OnnxCtx, axis: int, rank: int) -> int:
    a = axis % rank
    if a == 0:
        raise ctx.fail("ops over the batch axis are not supported")
    return a - 1


_SIMPLE = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "HardSwish": "HardSwish",
           "HardSigmoid": "HardSigmoid", "Gelu": "GELU", "Erf": "Erf", "Identity": "Identity",
           "Dropout": "Identity", "Cast": "Identity", "Flatten": "Reshape", "Reshape": "Reshape",
           "Unsqueeze": "Reshape", "GlobalAveragePool": "GlobalAvgPool", "BatchNormalization": "BatchNorm"}


@register(*_SIMPLE)
def _simple(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    key = node.input[1] if node.op_type == "BatchNormalization" else None
    return ctx.emit(_SIMPLE[node.op_type], [args[0]], node, key=key)


@register("Conv")
def _conv(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    a = attrs_of(node)
    w = args[1]
    if not isinstance(w, Const) or len(w.shape) not in (3, 4):
        raise ctx.fail("only 1-D / 2-D Conv with constant weights is supported")
    if len(w.shape) == 3:  # Conv1d (ECA's channel attention): kernel (k,), padding (left, right)
        return ctx.emit("Conv", [args[0]], node, key=node.input[1], kernel=tuple(w.shape[2:]),
                        stride=tuple(a.get("strides", (1,))), padding=tuple(a.get("pads", (0, 0))),
                        dilation=tuple(a.get("dilations", (1,))), groups=int(a.get("group", 1)),
                        bias=len(args) > 2 and args[2] is not None)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ctx.fail(f"Conv auto_pad={a['auto_pad']!r} is not supported; export with explicit pads")
    return ctx.emit("Conv", [args[0]], node, key=node.input[1], kernel=tuple(w.shape[2:]),
                    stride=tuple(a.get("strides", (1, 1))), padding=tuple(a.get("pads", (0, 0, 0, 0))),
                    dilation=tuple(a.get("dilations", (1, 1))), groups=int(a.get("group", 1)),
                    bias=len(args) > 2 and args[2] is not None)


@register("Gemm")
def _gemm(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    a = attrs_of(node)
    if a.get("transA", 0) or not isinstance(args[1], Const):
        raise ctx.fail("Gemm is supported as a Linear layer (constant B, no transA)")
    return ctx.emit("Linear", [args[0]], node, key=node.input[1], bias=len(args) > 2 and args[2] is not None)


@register("MatMul")
def _matmul(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    x, w = args
    if isinstance(x, Ref) and isinstance(w, Ref):
        return ctx.emit("MatMul", [x, w], node)
    if isinstance(x, Ref) and len(w.shape) == 2:
        return ctx.emit("Linear", [x], node, key=node.input[1], bias=False)
    raise ctx.fail("MatMul with a constant left operand is not supported")


def _binary(op: str | None, kind: str) -> Handler:
    def handler(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
        a, b = args
        if isinstance(a, Ref) and isinstance(b, Ref):
            if op is None:
                raise ctx.fail(f"op {node.op_type} of two tensors is not in the vocabulary")
            return ctx.emit(op, [a, b], node)
        x, c = (a, b) if isinstance(a, Ref) else (b, a)
        prod = ctx.g.nodes[x.id]
        if kind == "add" and prod.op == "Linear" and not prod.attrs["bias"] and c.shape[-1:] == x.shape[-1:] \
                and len(c.shape) == 1:
            prod.attrs["bias"] = True  # MatMul + Add(bias) is a Linear with bias
            return x
        value = float(c.value.reshape(-1)[0]) if c.value is not None and c.value.size == 1 else None
        return ctx.emit("Scale", [x], node, kind=kind, value=value)
    return handler


register("Add")(_binary("Add", "add"))
register("Mul")(_binary("Mul", "mul"))
register("Div")(_binary("Div", "div"))
register("Sub")(_binary("Sub", "sub"))


@register("Clip")
def _clip(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    a = attrs_of(node)
    lo, hi = a.get("min"), a.get("max")
    if len(args) > 1 and args[1] is not None:
        lo = float(_value(ctx, args[1], "Clip min"))
    if len(args) > 2 and args[2] is not None:
        hi = float(_value(ctx, args[2], "Clip max"))
    if lo is not None and 0 < lo < 1e-3 and (hi is None or math.isinf(hi)):
        return ctx.emit("Identity", [args[0]], node)  # clamp_min(eps) before a division
    return ctx.emit("Clip", [args[0]], node, min=lo, max=hi)


def _pool_attrs(a: dict, with_dilation: bool) -> dict[str, Any]:
    k = tuple(a["kernel_shape"])
    out: dict[str, Any] = dict(kernel=k, stride=tuple(a.get("strides", (1,) * len(k))),
                               padding=tuple(a.get("pads", (0, 0, 0, 0))), ceil_mode=bool(a.get("ceil_mode", 0)))
    if with_dilation:
        out["dilation"] = tuple(a.get("dilations", (1, 1)))
    else:
        out["count_include_pad"] = bool(a.get("count_include_pad", 0))
    return out


@register("MaxPool")
def _maxpool(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    return ctx.emit("MaxPool", [args[0]], node, **_pool_attrs(attrs_of(node), True))


@register("AveragePool")
def _avgpool(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    return ctx.emit("AvgPool", [args[0]], node, **_pool_attrs(attrs_of(node), False))


@register("ReduceMean")
def _mean(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    a = attrs_of(node)
    axes = a.get("axes")
    if len(args) > 1 and args[1] is not None:
        axes = _value(ctx, args[1], "ReduceMean axes").tolist()
    rank = len(args[0].shape) + 1
    ax = tuple(_axis(ctx, x, rank) for x in axes)
    s = args[0].shape
    if (len(s), tuple(sorted(ax))) in ((3, (1, 2)), (2, (0,))):  # a global average pool
        return ctx.emit("ReduceMean", [args[0]], node, axes=ax)
    return ctx.emit("Reduce", [args[0]], node, kind="mean", axes=tuple(sorted(ax)))


@register("ReduceSum", "ReduceL2", "ReduceMax", "ReduceMin", "ReduceSumSquare")
def _reduce(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    """A reduction over non-batch axes (norms' statistics, linear attention's sums)."""
    a = attrs_of(node)
    axes = a.get("axes")
    if len(args) > 1 and args[1] is not None:
        axes = _value(ctx, args[1], f"{node.op_type} axes").tolist()
    rank = len(args[0].shape) + 1
    axes = range(1, rank) if axes is None or len(axes) == 0 else axes
    kind = node.op_type[len("Reduce"):].lower()
    return ctx.emit("Reduce", [args[0]], node, kind=kind, axes=tuple(sorted(_axis(ctx, x, rank) for x in axes)))


@register("Sqrt", "Exp", "Log", "Reciprocal", "Neg")
def _elementwise(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    return ctx.emit("Elementwise", [args[0]], node, kind=node.op_type.lower())


@register("Pow")
def _pow(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    e = float(_value(ctx, args[1], "Pow exponent").reshape(-1)[0])
    return ctx.emit("Elementwise", [args[0]], node, kind="pow", exponent=e)


@register("Expand")
def _expand(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    """Broadcasting is implicit in the ops that read it."""
    return ctx.emit("Identity", [args[0]], node)


@register("Concat")
def _concat(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    rank = len(ctx.shape(node.output[0])) + 1
    ins = []
    for name, x in zip(node.input, args):
        if not isinstance(x, Ref):  # a learnt tensor (a class token): a Parameter node
            if len(x.shape) != rank or (x.shape and x.shape[0] != 1):
                raise ctx.fail("Concat with a constant tensor is supported for batch-1 constants")
            x = Ref(ctx.g.emit("Parameter", [], tuple(int(d) for d in x.shape[1:]), ctx.where, name), tuple(x.shape[1:]))
        ins.append(x)
    return ctx.emit("Concat", ins, node, axis=_axis(ctx, attrs_of(node)["axis"], rank))


@register("Softmax")
def _softmax(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    return ctx.emit("Softmax", [args[0]], node, axis=_axis(ctx, attrs_of(node).get("axis", -1), len(args[0].shape) + 1))


@register("LayerNormalization")
def _layernorm(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    x = args[0]
    axis = _axis(ctx, attrs_of(node).get("axis", -1), len(x.shape) + 1)
    return ctx.emit("LayerNorm", [x], node, key=node.input[1], normalized_shape=tuple(x.shape[axis:]))


@register("Transpose")
def _transpose(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    x = args[0]
    perm = tuple(attrs_of(node).get("perm", ()))
    bi = _batch_of(x)
    full = (1, *x.shape) if bi == 0 else x.full()
    if not perm:
        perm = tuple(reversed(range(len(full))))
    if perm[0] == 0 and bi == 0:
        return ctx.emit("Transpose", [x], node, perm=tuple(p - 1 for p in perm[1:]))
    # the batch axis (size 1) moves, or was moved: permute the other axes, remember where it is
    b = perm.index(bi)
    rep = tuple(p - (p > bi) for j, p in enumerate(perm) if j != b)
    out_full = tuple(full[p] for p in perm)
    out = _ref(out_full, 0, b)
    out_shape = out.shape
    if rep == tuple(range(len(rep))):
        rid = ctx.g.emit("Reshape", [x.id], out_shape, ctx.where, None)
    else:
        rid = ctx.g.emit("Transpose", [x.id], out_shape, ctx.where, None, perm=rep)
    return _ref(out_full, rid, b)


def _take(ctx: OnnxCtx, x: Ref, axis_full: int, start: int, end: int, drop: bool) -> Ref:
    """Slice [start, end) of full axis ``axis_full`` of x (not its batch axis), dropping the axis
    when ``drop``; the result keeps track of the batch axis."""
    bi = _batch_of(x)
    full = list((1, *x.shape) if bi == 0 else x.full())
    if axis_full == bi:
        raise ctx.fail("indexing the batch axis is not supported")
    ax = axis_full - (axis_full > bi)  # axis in x.shape
    rid, shape = x.id, list(x.shape)
    if (start, end) != (0, shape[ax]):
        shape[ax] = end - start
        rid = ctx.g.emit("Slice", [rid], tuple(shape), ctx.where, None, axis=ax, start=start, end=end, step=1)
    full[axis_full] = end - start
    if drop:
        del shape[ax]
        del full[axis_full]
        rid = ctx.g.emit("Reshape", [rid], tuple(shape), ctx.where, None)
    return _ref(tuple(full), rid, bi - (drop and axis_full < bi))


@register("Gather")
def _gather(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    x, idx = args[0], args[1]
    if not isinstance(x, Ref) or isinstance(idx, Ref):
        raise ctx.fail("Gather is supported with constant indices into a tensor")
    i = _value(ctx, idx, "Gather indices")
    full = (1, *x.shape) if _batch_of(x) == 0 else x.full()
    axis = attrs_of(node).get("axis", 0) % len(full)
    if i.ndim > 1 or (i.ndim == 1 and (i.size != 1)):
        flat = (i % full[axis]).reshape(-1)
        if i.ndim == 1 and len(flat) and (np.diff(flat) == 1).all():
            return _take(ctx, x, axis, int(flat[0]), int(flat[-1]) + 1, False)
        raise ctx.fail("Gather of several non-consecutive indices is not supported")
    k = int(i.reshape(-1)[0]) % full[axis]
    return _take(ctx, x, axis, k, k + 1, i.ndim == 0)


@register("Split")
def _split(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> list[Ref]:
    x = args[0]
    a = attrs_of(node)
    full = (1, *x.shape) if _batch_of(x) == 0 else x.full()
    axis = a.get("axis", 0) % len(full)
    sizes = a.get("split")
    if len(args) > 1 and args[1] is not None:
        sizes = _value(ctx, args[1], "Split sizes").tolist()
    if sizes is None:
        n = a.get("num_outputs", len(node.output))
        step = -(-full[axis] // n)
        sizes = [min(step, full[axis] - k * step) for k in range(n)]
    outs, start = [], 0
    for sz in sizes:
        outs.append(_take(ctx, x, axis, start, start + int(sz), False))
        start += int(sz)
    return outs


@register("Squeeze")
def _squeeze(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    x = args[0]
    bi = _batch_of(x)
    if bi == 0:
        return ctx.emit("Reshape", [x], node)
    full = x.full()
    axes = attrs_of(node).get("axes")
    if len(args) > 1 and args[1] is not None:
        axes = _value(ctx, args[1], "Squeeze axes").tolist()
    axes = sorted(a % len(full) for a in axes) if axes is not None else [j for j, d in enumerate(full) if d == 1 and j != bi]
    if bi in axes:
        raise ctx.fail("squeezing the batch axis is not supported")
    out_full = tuple(d for j, d in enumerate(full) if j not in axes)
    b = bi - sum(a < bi for a in axes)
    out = _ref(out_full, 0, b)
    return _ref(out_full, ctx.g.emit("Reshape", [x.id], out.shape, ctx.where, None), b)


@register("Pad")
def _pad(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    a = attrs_of(node)
    pads = a.get("pads")
    if len(args) > 1 and args[1] is not None:
        pads = _value(ctx, args[1], "Pad pads").tolist()
    value = 0.0
    if len(args) > 2 and args[2] is not None:
        value = float(_value(ctx, args[2], "Pad value"))
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant" or len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)):
        raise ctx.fail(f"Pad mode {mode!r} with pads {pads} is not supported")
    return ctx.emit("Pad", [args[0]], node, pads=(int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7])),
                    value=value)


@register("Slice")
def _slice(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    x = args[0]
    starts, ends = _value(ctx, args[1], "Slice starts"), _value(ctx, args[2], "Slice ends")
    rank = len(x.shape) + 1
    axes = _value(ctx, args[3], "Slice axes") if len(args) > 3 and args[3] is not None else np.arange(len(starts))
    steps = _value(ctx, args[4], "Slice steps") if len(args) > 4 and args[4] is not None else np.ones(len(starts), int)
    for s, e, ax, st in sorted(zip(starts.tolist(), ends.tolist(), axes.tolist(), steps.tolist()), key=lambda t: t[2] % rank):
        axis = _axis(ctx, int(ax), rank)
        dim = x.shape[axis]
        start, end, step = slice(int(s), int(min(max(e, -2**62), 2**62)), int(st)).indices(dim)
        if (start, end, step) == (0, dim, 1):
            continue
        shape = list(x.shape)
        shape[axis] = len(range(start, end, step))
        x = Ref(ctx.g.emit("Slice", [x.id], tuple(shape), ctx.where, None, axis=axis, start=start, end=end, step=step),
                tuple(shape))
    return x


@register("Shape")
def _shape_of(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Const:
    """The shape of an activation is a constant (batch 1)."""
    value = np.array((1, *args[0].shape), dtype=np.int64)
    a = attrs_of(node)
    return Const(value[a.get("start", 0):a.get("end", None)], (len(value),))


@register("Resize", "Upsample")
def _resize(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    mode = attrs_of(node).get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    return ctx.emit("Resize", [args[0]], node, mode=str(mode))


@register("InstanceNormalization")
def _instnorm(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    """GroupNorm's export: Reshape(groups, -1) -> InstanceNormalization (unit scale) -> Reshape;
    its affine Mul / Add follow as constants."""
    return ctx.emit("GroupNorm", [args[0]], node, num_groups=int(args[0].shape[0]))
