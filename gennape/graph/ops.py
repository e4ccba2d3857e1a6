"""The canonical operation vocabulary: one registry entry per atomic op of a ComputeGraph.

Each entry knows how many parameters and FLOPs a node of its kind has, and how to build a fresh
``torch.nn.Module`` for it (used by ``to_torch``). FLOPs are multiply-accumulates x 2 of
Conv / Linear / MatMul at batch 1, the convention of fvcore and the NAS benchmarks; elementwise
ops, pooling and normalisation count zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from gennape.graph import modules as M
from gennape.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from gennape.graph.ir import Node


def _zero(node: "Node") -> int:
    return 0


@dataclass(frozen=True)
class OpSpec:
    """What the system knows about one canonical op.

    Args:
        name: canonical op name (``"Conv"``, ``"ReLU"``, ...).
        build: node -> fresh module computing it (inputs passed positionally).
        params: node -> trainable parameter count.
        flops: node -> FLOPs (2 x MACs) at batch 1.
        ordered: whether input order matters (Concat, MatMul); Add/Mul are symmetric.
        kind: the op's role (``conv``, ``activation``, ``merge``, ``pool``, ...). A predictor gives
            an op it never saw in training what it learnt for the seen ops of the same kind
            (``gennape.model.encoder.GraphEncoder.fill_unseen_ops``).
    """

    name: str
    build: Callable[["Node"], nn.Module]
    params: Callable[["Node"], int] = _zero
    flops: Callable[["Node"], int] = _zero
    ordered: bool = False
    kind: str = "other"


_OPS: Registry[OpSpec] = Registry("op")


def register_op(spec: OpSpec) -> OpSpec:
    """Add an op to the vocabulary (its name must be new)."""
    return _OPS.add(spec.name, spec)


get_op = _OPS.get  # the registered op ``name``; KeyError lists the vocabulary
list_ops = _OPS.names  # all op names in registration order (the order defines the op indices)


# --- parameter and FLOP formulas -------------------------------------------------------------

def _conv_params(n: "Node") -> int:
    c_in, c_out = n.in_shapes[0][0], n.out_shape[0]
    return c_out * (c_in // n.groups) * math.prod(n.kernel) + (c_out if n.bias else 0)


def _conv_flops(n: "Node") -> int:
    c_in = n.in_shapes[0][0]
    return 2 * math.prod(n.out_shape) * (c_in // n.groups) * math.prod(n.kernel)


def _linear_params(n: "Node") -> int:
    f_in, f_out = n.in_shapes[0][-1], n.out_shape[-1]
    return f_in * f_out + (f_out if n.bias else 0)


def _linear_flops(n: "Node") -> int:
    return 2 * math.prod(n.out_shape) * n.in_shapes[0][-1]


def _matmul_flops(n: "Node") -> int:
    return 2 * math.prod(n.out_shape) * n.in_shapes[0][-1]


def _norm_params(n: "Node") -> int:
    return 2 * math.prod(n.attr("normalized_shape", (n.out_shape[0],)))


# --- builders --------------------------------------------------------------------------------

def _conv(n: "Node") -> nn.Module:
    if len(n.kernel) == 1:
        l, r = n.padding
        conv1 = nn.Conv1d(n.in_shapes[0][0], n.out_shape[0], n.kernel, n.stride, l if l == r else 0,
                          n.dilation, n.groups, n.bias)
        return conv1 if l == r else nn.Sequential(nn.ConstantPad1d((l, r), 0.0), conv1)
    t, l, b, r = n.padding
    sym = t == b and l == r
    conv = nn.Conv2d(n.in_shapes[0][0], n.out_shape[0], n.kernel, n.stride,
                     (t, l) if sym else 0, n.dilation, n.groups, n.bias)
    return conv if sym else nn.Sequential(nn.ZeroPad2d((l, r, t, b)), conv)


def _linear(n: "Node") -> nn.Module:
    return nn.Linear(n.in_shapes[0][-1], n.out_shape[-1], n.bias)


def _maxpool(n: "Node") -> nn.Module:
    t, l, b, r = n.padding
    if t == b and l == r:
        return nn.MaxPool2d(n.kernel, n.stride, (t, l), n.dilation, ceil_mode=n.attr("ceil_mode", False))
    return nn.Sequential(nn.ConstantPad2d((l, r, t, b), -math.inf),
                         nn.MaxPool2d(n.kernel, n.stride, 0, n.dilation, ceil_mode=n.attr("ceil_mode", False)))


def _avgpool(n: "Node") -> nn.Module:
    t, l, b, r = n.padding
    if not (t == b and l == r):
        raise ValueError("AvgPool with asymmetric padding is not executable")
    return nn.AvgPool2d(n.kernel, n.stride, (t, l), ceil_mode=n.attr("ceil_mode", False),
                        count_include_pad=n.attr("count_include_pad", True))


def _same(module: type[nn.Module]) -> Callable[["Node"], nn.Module]:
    return lambda n: module()


class _Sub(nn.Module):
    def forward(self, a, b):
        return a - b


class _Div(nn.Module):
    def forward(self, a, b):
        return a / b


class _Parameter(nn.Module):
    """A learnt tensor with no inputs (a class token), at batch 1."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(1, *shape))

    def forward(self):
        return self.value


class _Reduce(nn.Module):
    """Reduction over no-batch ``axes``, keeping them (ONNX's default keepdims)."""

    def __init__(self, kind: str, axes: tuple[int, ...]) -> None:
        super().__init__()
        self.kind, self.dims = kind, tuple(a + 1 for a in axes)

    def forward(self, x):
        if self.kind == "mean":
            return x.mean(self.dims, keepdim=True)
        if self.kind == "sum":
            return x.sum(self.dims, keepdim=True)
        if self.kind == "l2":
            return x.pow(2).sum(self.dims, keepdim=True).sqrt()
        if self.kind == "sumsquare":
            return x.pow(2).sum(self.dims, keepdim=True)
        return (x.amax if self.kind == "max" else x.amin)(self.dims, keepdim=True)


class _Elementwise(nn.Module):
    def __init__(self, kind: str, exponent: float | None = None) -> None:
        super().__init__()
        self.kind, self.exponent = kind, exponent

    def forward(self, x):
        if self.kind == "pow":
            return x.pow(self.exponent)
        if self.kind == "neg":
            return -x
        return getattr(torch, self.kind)(x)


def _numel(n: "Node") -> int:
    return math.prod(n.out_shape)


for _spec in [
    OpSpec("Input", lambda n: nn.Identity(), kind="input"),
    OpSpec("Output", lambda n: nn.Identity(), kind="output"),
    OpSpec("Conv", _conv, _conv_params, _conv_flops, kind="conv"),
    OpSpec("DepthwiseConv", _conv, _conv_params, _conv_flops, kind="conv"),
    OpSpec("Linear", _linear, _linear_params, _linear_flops, kind="linear"),
    OpSpec("ReLU", _same(nn.ReLU), kind="activation"),
    OpSpec("ReLU6", _same(nn.ReLU6), kind="activation"),
    OpSpec("HardSwish", _same(nn.Hardswish), kind="activation"),
    OpSpec("HardSigmoid", _same(nn.Hardsigmoid), kind="activation"),
    OpSpec("Sigmoid", _same(nn.Sigmoid), kind="activation"),
    OpSpec("SiLU", _same(nn.SiLU), kind="activation"),
    OpSpec("GELU", _same(nn.GELU), kind="activation"),
    OpSpec("Tanh", _same(nn.Tanh), kind="activation"),
    OpSpec("Add", _same(M.Add), kind="merge"),
    OpSpec("Mul", _same(M.Mul), kind="merge"),
    OpSpec("Concat", lambda n: M.Concat(n.attr("axis", 0) + 1), ordered=True, kind="merge"),
    OpSpec("MaxPool", _maxpool, kind="pool"),
    OpSpec("AvgPool", _avgpool, kind="pool"),
    OpSpec("GlobalAvgPool", _same(M.GlobalAvgPool), kind="global_pool"),
    OpSpec("Pad", lambda n: M.Pad(n.attr("pads"), n.attr("value", 0.0)), kind="shape"),
    OpSpec("Softmax", lambda n: nn.Softmax(n.attr("axis") + 1), kind="activation"),
    OpSpec("LayerNorm", lambda n: nn.LayerNorm(n.attr("normalized_shape")), _norm_params, kind="norm"),
    OpSpec("BatchNorm", lambda n: nn.BatchNorm2d(n.out_shape[0]) if len(n.out_shape) == 3
           else nn.BatchNorm1d(n.out_shape[0]), _norm_params, kind="norm"),
    OpSpec("MatMul", _same(M.MatMul), flops=_matmul_flops, ordered=True, kind="linear"),
    OpSpec("Transpose", lambda n: M.Permute(n.attr("perm")), kind="shape"),
    OpSpec("Reshape", lambda n: M.Reshape(n.out_shape), kind="shape"),
    OpSpec("Slice", lambda n: M.Slice(n.attr("axis"), n.attr("start"), n.attr("end"), n.attr("step")),
           kind="shape"),
]:
    register_op(_spec)

# Added for the timm zoo (after the original ops, so existing op indices do not change).
for _spec in [
    OpSpec("Sub", _same(_Sub), ordered=True, kind="merge"),
    OpSpec("Div", _same(_Div), ordered=True, kind="merge"),
    OpSpec("Parameter", lambda n: _Parameter(n.out_shape), _numel, kind="input"),
    OpSpec("Resize", lambda n: nn.Upsample(size=tuple(n.out_shape[1:]), mode=n.attr("mode", "nearest")),
           kind="shape"),
    OpSpec("Reduce", lambda n: _Reduce(n.attr("kind"), n.attr("axes")), kind="pool"),
    OpSpec("Elementwise", lambda n: _Elementwise(n.attr("kind"), n.attr("exponent")), kind="activation"),
    OpSpec("GroupNorm", lambda n: nn.GroupNorm(n.attr("num_groups"), n.in_shapes[0][0], affine=False), kind="norm"),
]:
    register_op(_spec)


def count_params(module: nn.Module) -> int:
    """Trainable parameters of a module (the benchmarks' convention)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["OpSpec", "register_op", "get_op", "list_ops", "count_params"]
