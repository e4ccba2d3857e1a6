"""Canonical computation graphs: ``from_onnx``, ``from_module``, ``to_torch``, ``ComputeGraph``.

Importing this package does not import torch: ``from_module`` (torch.fx) and ``to_torch`` /
``batchnorm_after`` (``torch_backend``) are loaded on first use (PEP 562), so reading ONNX files
stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gennape.graph.errors import GraphError
from gennape.graph.ir import ComputeGraph, Node
from gennape.graph.onnx_frontend import from_onnx
from gennape.graph.ops import get_op, list_ops, register_op
from gennape.core.lazy import lazy_getattr

if TYPE_CHECKING:  # pragma: no cover
    from gennape.graph.fx_frontend import from_module
    from gennape.graph.torch_backend import batchnorm_after, to_torch

_LAZY = {"from_module": "gennape.graph.fx_frontend", "to_torch": "gennape.graph.torch_backend",
         "batchnorm_after": "gennape.graph.torch_backend"}


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["ComputeGraph", "Node", "GraphError", "from_module", "from_onnx", "to_torch", "batchnorm_after",
           "get_op", "list_ops", "register_op"]
