"""The canonical operation vocabulary: one registry entry per atomic op of a ComputeGraph.

Each entry knows how many parameters and FLOPs a node of its kind has. FLOPs are
multiply-accumulates x 2 of Conv / Linear / MatMul at batch 1, the convention of fvcore and the
NAS benchmarks; elementwise ops, pooling and normalisation count zero.

This module is torch-free (reading an ONNX file must not import torch). How to build a fresh
``torch.nn.Module`` for a node (``to_torch``) lives in ``gennape.graph.torch_backend``; adding an
op takes both::

    register_op(OpSpec("MyOp", params=..., flops=..., kind="activation"))   # here: metadata

    @register_builder("MyOp")                                               # torch_backend
    def _my_op(node: Node) -> nn.Module: ...

New ops go after the existing ones: the registration order defines the op indices that
checkpoints' embedding tables are laid out by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from gennape.core.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from gennape.graph.ir import Node


def _zero(node: "Node") -> int:
    return 0


@dataclass(frozen=True)
class OpSpec:
    """What the system knows about one canonical op.

    Args:
        name: canonical op name (``"Conv"``, ``"ReLU"``, ...).
        params: node -> trainable parameter count.
        flops: node -> FLOPs (2 x MACs) at batch 1.
        ordered: whether input order matters (Concat, MatMul); Add/Mul are symmetric.
        kind: the op's role (``conv``, ``activation``, ``merge``, ``pool``, ...). A predictor gives
            an op it never saw in training what it learnt for the seen ops of the same kind
            (``gennape.model.encoder.GraphEncoder.fill_unseen_ops``).
    """

    name: str
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


def _numel(n: "Node") -> int:
    return math.prod(n.out_shape)


for _spec in [
    OpSpec("Input", kind="input"),
    OpSpec("Output", kind="output"),
    OpSpec("Conv", _conv_params, _conv_flops, kind="conv"),
    OpSpec("DepthwiseConv", _conv_params, _conv_flops, kind="conv"),
    OpSpec("Linear", _linear_params, _linear_flops, kind="linear"),
    OpSpec("ReLU", kind="activation"),
    OpSpec("ReLU6", kind="activation"),
    OpSpec("HardSwish", kind="activation"),
    OpSpec("HardSigmoid", kind="activation"),
    OpSpec("Sigmoid", kind="activation"),
    OpSpec("SiLU", kind="activation"),
    OpSpec("GELU", kind="activation"),
    OpSpec("Tanh", kind="activation"),
    OpSpec("Add", kind="merge"),
    OpSpec("Mul", kind="merge"),
    OpSpec("Concat", ordered=True, kind="merge"),
    OpSpec("MaxPool", kind="pool"),
    OpSpec("AvgPool", kind="pool"),
    OpSpec("GlobalAvgPool", kind="global_pool"),
    OpSpec("Pad", kind="shape"),
    OpSpec("Softmax", kind="activation"),
    OpSpec("LayerNorm", _norm_params, kind="norm"),
    OpSpec("BatchNorm", _norm_params, kind="norm"),
    OpSpec("MatMul", flops=_matmul_flops, ordered=True, kind="linear"),
    OpSpec("Transpose", kind="shape"),
    OpSpec("Reshape", kind="shape"),
    OpSpec("Slice", kind="shape"),
]:
    register_op(_spec)

# Added for the timm zoo (after the original ops, so existing op indices do not change).
for _spec in [
    OpSpec("Sub", ordered=True, kind="merge"),
    OpSpec("Div", ordered=True, kind="merge"),
    OpSpec("Parameter", _numel, kind="input"),
    OpSpec("Resize", kind="shape"),
    OpSpec("Reduce", kind="pool"),
    OpSpec("Elementwise", kind="activation"),
    OpSpec("GroupNorm", kind="norm"),
]:
    register_op(_spec)


__all__ = ["OpSpec", "register_op", "get_op", "list_ops"]
