"""Registries mapping torch.nn modules and torch functions / tensor methods to ComputeGraph ops."""

from __future__ import annotations

import operator
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from gennape.graph import modules as GM
from gennape.graph.errors import GraphError
from gennape.graph.ir import Shape
from gennape.graph.raw import RawGraph, Ref, pads4, pair


class Ctx:
    """What a handler needs: the graph being built and where we are, for errors."""

    def __init__(self, g: RawGraph, source: str) -> None:
        self.g, self.source, self.where = g, source, ""

    def emit(self, op: str, inputs: list[Ref], shape: Shape, key: str | None = None, **attrs: Any) -> Ref:
        return Ref(self.g.emit(op, [r.id for r in inputs], shape, self.where, key, **attrs), shape)

    def fail(self, problem: str) -> GraphError:
        return GraphError(self.source, f"{problem} at node {self.where!r}")


ModuleHandler = Callable[[Ctx, nn.Module, str, tuple, dict, Shape], Ref]
FunctionHandler = Callable[[Ctx, tuple, dict, Shape], Ref]
MODULE_HANDLERS: dict[type, ModuleHandler] = {}
FUNCTION_HANDLERS: dict[Any, FunctionHandler] = {}


def register_module(*types: type) -> Callable[[ModuleHandler], ModuleHandler]:
    def deco(fn: ModuleHandler) -> ModuleHandler:
        for t in types:
            MODULE_HANDLERS[t] = fn
        return fn
    return deco


def method_key(name: str) -> str:
    return f"Tensor.{name}"


def register_function(*targets: Any) -> Callable[[FunctionHandler], FunctionHandler]:
    """Register for functions (objects) and tensor methods (given as ``"Tensor.name"``)."""
    def deco(fn: FunctionHandler) -> FunctionHandler:
        for t in targets:
            FUNCTION_HANDLERS[t] = fn
        return fn
    return deco


def _axis(dim: int, rank_with_batch: int) -> int:
    """A torch dim (with batch) as a non-negative no-batch axis."""
    d = dim % rank_with_batch
    if d == 0:
        raise GraphError("", "ops over the batch axis are not supported")
    return d - 1


# --- modules -----------------------------------------------------------------------------------

@register_module(nn.Conv2d)
def _conv(ctx: Ctx, m: nn.Conv2d, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        ctx.where = path
        raise ctx.fail(f"Conv2d padding {m.padding!r}/{m.padding_mode} is not supported")
    return ctx.emit("Conv", [args[0]], shape, key=path, kernel=pair(m.kernel_size), stride=pair(m.stride),
                    padding=pads4(m.padding), dilation=pair(m.dilation), groups=m.groups, bias=m.bias is not None)


@register_module(nn.Linear)
def _linear(ctx: Ctx, m: nn.Linear, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return ctx.emit("Linear", [args[0]], shape, key=path, bias=m.bias is not None)


@register_module(nn.BatchNorm1d, nn.BatchNorm2d)
def _bn(ctx: Ctx, m: nn.Module, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return ctx.emit("BatchNorm", [args[0]], shape, key=path)


@register_module(nn.LayerNorm)
def _ln(ctx: Ctx, m: nn.LayerNorm, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return ctx.emit("LayerNorm", [args[0]], shape, key=path, normalized_shape=tuple(m.normalized_shape))


_SIMPLE_MODULES = {nn.ReLU: "ReLU", nn.ReLU6: "ReLU6", nn.Hardswish: "HardSwish", nn.Hardsigmoid: "HardSigmoid",
                   nn.Sigmoid: "Sigmoid", nn.SiLU: "SiLU", nn.GELU: "GELU", nn.Tanh: "Tanh",
                   nn.Identity: "Identity", nn.Dropout: "Identity", nn.Dropout2d: "Identity",
                   nn.Flatten: "Reshape", GM.Add: "Add", GM.Mul: "Mul", GM.MatMul: "MatMul",
                   GM.GlobalAvgPool: "GlobalAvgPool", GM.Reshape: "Reshape"}


@register_module(*_SIMPLE_MODULES)
def _simple(ctx: Ctx, m: nn.Module, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return ctx.emit(_SIMPLE_MODULES[type(m)], list(args), shape)


@register_module(nn.Softmax)
def _softmax_mod(ctx: Ctx, m: nn.Softmax, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return ctx.emit("Softmax", [args[0]], shape, axis=_axis(m.dim, len(shape) + 1))


def _pool(ctx: Ctx, op: str, x: Ref, shape: Shape, kernel: Any, stride: Any, padding: Any,
          dilation: Any = 1, ceil_mode: bool = False, count_include_pad: bool = True) -> Ref:
    attrs: dict[str, Any] = dict(kernel=pair(kernel), stride=pair(stride if stride else kernel),
                                 padding=pads4(padding), ceil_mode=bool(ceil_mode))
    if op == "MaxPool":
        attrs["dilation"] = pair(dilation)
    else:
        attrs["count_include_pad"] = bool(count_include_pad)
    return ctx.emit(op, [x], shape, **attrs)


@register_module(nn.MaxPool2d)
def _maxpool_mod(ctx: Ctx, m: nn.MaxPool2d, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return _pool(ctx, "MaxPool", args[0], shape, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)


@register_module(nn.AvgPool2d)
def _avgpool_mod(ctx: Ctx, m: nn.AvgPool2d, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return _pool(ctx, "AvgPool", args[0], shape, m.kernel_size, m.stride, m.padding,
                 ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad)


@register_module(nn.AdaptiveAvgPool2d)
def _adaptive(ctx: Ctx, m: nn.AdaptiveAvgPool2d, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    if shape[1:] != (1, 1):
        ctx.where = path
        raise ctx.fail(f"AdaptiveAvgPool2d({m.output_size}) is only supported with output size 1")
    return ctx.emit("GlobalAvgPool", [args[0]], shape)


@register_module(nn.ZeroPad2d, nn.ConstantPad2d, GM.Pad)
def _pad_mod(ctx: Ctx, m: nn.Module, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    if isinstance(m, GM.Pad):
        return ctx.emit("Pad", [args[0]], shape, pads=m.pads, value=float(m.value))
    l, r, t, b = m.padding
    return ctx.emit("Pad", [args[0]], shape, pads=(t, l, b, r), value=float(m.value))


@register_module(GM.Concat)
def _concat_mod(ctx: Ctx, m: GM.Concat, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return ctx.emit("Concat", list(args), shape, axis=_axis(m.dim, len(shape) + 1))


@register_module(GM.Permute)
def _permute_mod(ctx: Ctx, m: GM.Permute, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return ctx.emit("Transpose", [args[0]], shape, perm=tuple(p - 1 for p in m.perm[1:]))


@register_module(GM.Slice)
def _slice_mod(ctx: Ctx, m: GM.Slice, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return _slice(ctx, args[0], m.axis, slice(m.start, m.end, m.step), shape)


# --- functions and tensor methods --------------------------------------------------------------

def _binary(op: str, kind: str) -> FunctionHandler:
    def handler(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
        a, b = args[0], args[1] if len(args) > 1 else kw.get("other")
        if isinstance(a, Ref) and isinstance(b, Ref):
            if op is None:
                raise ctx.fail(f"{kind} of two tensors is not in the vocabulary")
            return ctx.emit(op, [a, b], shape)
        x, c = (a, b) if isinstance(a, Ref) else (b, a)
        if isinstance(c, torch.Tensor):
            c = float(c) if c.numel() == 1 else None
        return ctx.emit("Scale", [x], shape, kind=kind, value=c)
    return handler


register_function(operator.add, operator.iadd, torch.add, method_key("add"))(_binary("Add", "add"))
register_function(operator.mul, operator.imul, torch.mul, method_key("mul"))(_binary("Mul", "mul"))
register_function(operator.truediv, torch.div, method_key("div"))(_binary(None, "div"))
register_function(operator.sub, torch.sub, method_key("sub"))(_binary(None, "sub"))

_UNARY = {
    "ReLU": [torch.relu, F.relu, method_key("relu")], "ReLU6": [F.relu6],
    "HardSwish": [F.hardswish], "HardSigmoid": [F.hardsigmoid],
    "Sigmoid": [torch.sigmoid, F.sigmoid, method_key("sigmoid")], "SiLU": [F.silu], "GELU": [F.gelu],
    "Tanh": [torch.tanh, F.tanh, method_key("tanh")],
    "Identity": [F.dropout, method_key("contiguous"), method_key("clone")],
    "Reshape": [torch.flatten, torch.reshape, method_key("flatten"), method_key("view"), method_key("reshape")],
}


def _unary(op: str) -> FunctionHandler:
    return lambda ctx, args, kw, shape: ctx.emit(op, [args[0]], shape)


for _op, _targets in _UNARY.items():
    register_function(*_targets)(_unary(_op))


@register_function(torch.cat, torch.concat)
def _cat(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    dim = args[1] if len(args) > 1 else kw.get("dim", 0)
    return ctx.emit("Concat", list(args[0]), shape, axis=_axis(dim, len(shape) + 1))


@register_function(torch.softmax, F.softmax, method_key("softmax"))
def _softmax(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    dim = args[1] if len(args) > 1 else kw["dim"]
    return ctx.emit("Softmax", [args[0]], shape, axis=_axis(dim, len(shape) + 1))


@register_function(torch.matmul, operator.matmul, torch.bmm, method_key("matmul"))
def _matmul(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    if not all(isinstance(a, Ref) for a in args[:2]):
        raise ctx.fail("matmul with a constant is not supported (use nn.Linear)")
    return ctx.emit("MatMul", list(args[:2]), shape)


@register_function(torch.mean, method_key("mean"))
def _mean(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    x = args[0]
    dims = args[1] if len(args) > 1 else kw.get("dim")
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return ctx.emit("ReduceMean", [x], shape, axes=tuple(_axis(d, len(x.shape) + 1) for d in dims))


@register_function(F.adaptive_avg_pool2d)
def _adaptive_fn(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    if shape[1:] != (1, 1):
        raise ctx.fail("adaptive_avg_pool2d is only supported with output size 1")
    return ctx.emit("GlobalAvgPool", [args[0]], shape)


@register_function(F.max_pool2d, torch.max_pool2d)
def _maxpool_fn(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    p = dict(zip(["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"], args)) | kw
    return _pool(ctx, "MaxPool", p["input"], shape, p["kernel_size"], p.get("stride"), p.get("padding", 0),
                 p.get("dilation", 1), p.get("ceil_mode", False))


@register_function(F.avg_pool2d)
def _avgpool_fn(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    p = dict(zip(["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"], args)) | kw
    return _pool(ctx, "AvgPool", p["input"], shape, p["kernel_size"], p.get("stride"), p.get("padding", 0),
                 ceil_mode=p.get("ceil_mode", False), count_include_pad=p.get("count_include_pad", True))


@register_function(F.pad)
def _pad_fn(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    pad = tuple(args[1] if len(args) > 1 else kw["pad"])
    mode = args[2] if len(args) > 2 else kw.get("mode", "constant")
    value = args[3] if len(args) > 3 else kw.get("value", 0.0)
    if mode != "constant" or len(pad) != 4:
        raise ctx.fail(f"pad mode {mode!r} with {len(pad)} values is not supported")
    l, r, t, b = pad
    return ctx.emit("Pad", [args[0]], shape, pads=(t, l, b, r), value=float(value or 0.0))


def _perm(ctx: Ctx, perm: tuple[int, ...], x: Ref, shape: Shape) -> Ref:
    rank = len(perm)
    perm = tuple(p % rank for p in perm)
    if perm[0] != 0:
        raise ctx.fail("a permutation that moves the batch axis is not supported")
    return ctx.emit("Transpose", [x], shape, perm=tuple(p - 1 for p in perm[1:]))


@register_function(torch.transpose, method_key("transpose"))
def _transpose(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    x, d0, d1 = args[0], args[1], args[2]
    perm = list(range(len(shape) + 1))
    r = len(perm)
    perm[d0 % r], perm[d1 % r] = perm[d1 % r], perm[d0 % r]
    return _perm(ctx, tuple(perm), x, shape)


@register_function(torch.permute, method_key("permute"))
def _permute(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    dims = args[1] if len(args) == 2 and isinstance(args[1], (tuple, list)) else args[1:]
    return _perm(ctx, tuple(dims), args[0], shape)


def _slice(ctx: Ctx, x: Ref, axis: int, s: slice, shape: Shape) -> Ref:
    start, end, step = s.indices(x.shape[axis])
    if (start, end, step) == (0, x.shape[axis], 1):
        return x
    out = list(x.shape)
    out[axis] = len(range(start, end, step))
    return ctx.emit("Slice", [x], tuple(out), axis=axis, start=start, end=end, step=step)


@register_function(operator.getitem)
def _getitem(ctx: Ctx, args: tuple, kw: dict, shape: Shape) -> Ref:
    x, idx = args
    if not isinstance(x, Ref):
        raise ctx.fail("indexing a non-tensor value is not supported")
    idx = idx if isinstance(idx, tuple) else (idx,)
    if not idx or idx[0] != slice(None) or not all(isinstance(i, slice) for i in idx):
        raise ctx.fail(f"indexing {idx!r} is not supported (only slices that keep the batch axis)")
    for axis, s in enumerate(idx[1:]):
        x = _slice(ctx, x, axis, s, shape)
    return x


@register_module(GM.Zeros)
def _zeros_mod(ctx: Ctx, m: GM.Zeros, path: str, args: tuple, kw: dict, shape: Shape) -> Ref:
    return ctx.emit("Zero", [], shape)
