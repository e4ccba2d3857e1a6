"""Registry mapping ONNX operators to ComputeGraph ops (transient ops are canonicalised later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import onnx
from onnx import helper

from gennape.graph.errors import GraphError
from gennape.graph.fx_handlers import Ref
from gennape.graph.ir import Shape
from gennape.graph.raw import RawGraph


@dataclass(frozen=True)
class Const:
    """A constant tensor: its value when small and known, else None; its shape (with batch)."""

    value: np.ndarray | None
    shape: tuple


class OnnxCtx:
    """Graph under construction, inferred shapes, and the current node for errors."""

    def __init__(self, g: RawGraph, source: str, shapes: dict[str, tuple]) -> None:
        self.g, self.source, self.shapes, self.where = g, source, shapes, ""

    def shape(self, name: str, what: str = "tensor") -> Shape:
        """Shape of tensor ``name`` without the batch axis; error if not fully known."""
        s = self.shapes.get(name)
        if s is None or not s or any(d is None for d in s[1:]):
            raise GraphError(self.source, f"cannot infer the shape of {what} {name!r} (node {self.where!r})")
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
           "Dropout": "Identity", "Flatten": "Reshape", "Reshape": "Reshape", "Squeeze": "Reshape",
           "Unsqueeze": "Reshape", "GlobalAveragePool": "GlobalAvgPool", "BatchNormalization": "BatchNorm"}


@register(*_SIMPLE)
def _simple(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    key = node.input[1] if node.op_type == "BatchNormalization" else None
    return ctx.emit(_SIMPLE[node.op_type], [args[0]], node, key=key)


@register("Conv")
def _conv(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    a = attrs_of(node)
    w = args[1]
    if not isinstance(w, Const) or len(w.shape) != 4:
        raise ctx.fail("only 2-D Conv with constant weights is supported")
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
register("Div")(_binary(None, "div"))
register("Sub")(_binary(None, "sub"))


@register("Clip")
def _clip(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    a = attrs_of(node)
    lo, hi = a.get("min"), a.get("max")
    if len(args) > 1 and args[1] is not None:
        lo = float(_value(ctx, args[1], "Clip min"))
    if len(args) > 2 and args[2] is not None:
        hi = float(_value(ctx, args[2], "Clip max"))
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
    return ctx.emit("ReduceMean", [args[0]], node, axes=tuple(_axis(ctx, x, rank) for x in axes))


@register("Concat")
def _concat(ctx: OnnxCtx, node: onnx.NodeProto, args: list) -> Ref:
    if not all(isinstance(x, Ref) for x in args):
        raise ctx.fail("Concat with a constant tensor is not supported")
    return ctx.emit("Concat", args, node, axis=_axis(ctx, attrs_of(node)["axis"], len(args[0].shape) + 1))


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
    perm = tuple(attrs_of(node).get("perm", ()))
    if not perm or perm[0] != 0:
        raise ctx.fail("a Transpose that moves the batch axis is not supported")
    return ctx.emit("Transpose", [args[0]], node, perm=tuple(p - 1 for p in perm[1:]))


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
