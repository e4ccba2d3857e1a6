"""Small modules for the ops torch.nn has no module for; ``to_torch`` builds networks from them.

Axes are given without the batch dimension (0 = channels), as everywhere in a ComputeGraph.
The fx frontend treats these as leaf modules and maps each back to its canonical op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Add(nn.Module):
    """Sum of all inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Mul(nn.Module):
    """Elementwise product of all inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """Concatenation along ``dim`` (with batch)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, self.dim)


class GlobalAvgPool(nn.Module):
    """Mean over the spatial axes of (N, C, H, W) or the tokens of (N, T, C), returning (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) if x.dim() == 4 else x.mean(dim=1)


class Pad(nn.Module):
    """Constant padding; ``pads`` as (top, left, bottom, right)."""

    def __init__(self, pads: tuple[int, int, int, int], value: float = 0.0) -> None:
        super().__init__()
        self.pads, self.value = tuple(pads), value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, l, b, r = self.pads
        return F.pad(x, (l, r, t, b), value=self.value)


class MatMul(nn.Module):
    """Product of two activations."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class Permute(nn.Module):
    """Axis permutation; ``perm`` excludes the batch axis."""

    def __init__(self, perm: tuple[int, ...]) -> None:
        super().__init__()
        self.perm = (0, *(p + 1 for p in perm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.perm)


class Reshape(nn.Module):
    """Reshape to ``shape`` (without batch)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class Slice(nn.Module):
    """``x[..., start:end:step]`` along one non-batch ``axis``."""

    def __init__(self, axis: int, start: int, end: int, step: int) -> None:
        super().__init__()
        self.axis, self.start, self.end, self.step = axis, start, end, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[(slice(None),) * (self.axis + 1) + (slice(self.start, self.end, self.step),)]


class Zeros(nn.Module):
    """A constant zero tensor of ``shape`` (no batch), batched like the input."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros((x.shape[0], *self.shape))


class Sub(nn.Module):
    """``a - b``."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a - b


class Div(nn.Module):
    """``a / b``."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a / b


class Parameter(nn.Module):
    """A learnt tensor with no inputs (a class token), at batch 1."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(1, *shape))

    def forward(self) -> torch.Tensor:
        return self.value


class Reduce(nn.Module):
    """Reduction over no-batch ``axes``, keeping them (ONNX's default keepdims); ``kind`` is one of
    ``mean``, ``sum``, ``l2``, ``sumsquare``, ``max``, ``min``."""

    def __init__(self, kind: str, axes: tuple[int, ...]) -> None:
        super().__init__()
        self.kind, self.dims = kind, tuple(a + 1 for a in axes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "mean":
            return x.mean(self.dims, keepdim=True)
        if self.kind == "sum":
            return x.sum(self.dims, keepdim=True)
        if self.kind == "l2":
            return x.pow(2).sum(self.dims, keepdim=True).sqrt()
        if self.kind == "sumsquare":
            return x.pow(2).sum(self.dims, keepdim=True)
        return (x.amax if self.kind == "max" else x.amin)(self.dims, keepdim=True)


class Elementwise(nn.Module):
    """A unary elementwise op: ``pow`` (with ``exponent``), ``neg``, or the torch function ``kind``
    (``exp``, ``log``, ``sqrt``, ...)."""

    def __init__(self, kind: str, exponent: float | None = None) -> None:
        super().__init__()
        self.kind, self.exponent = kind, exponent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "pow":
            return x.pow(self.exponent)
        if self.kind == "neg":
            return -x
        return getattr(torch, self.kind)(x)
