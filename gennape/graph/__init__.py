"""Canonical computation graphs: ``from_onnx``, ``from_module``, ``to_torch``, ``ComputeGraph``."""

from gennape.graph.errors import GraphError
from gennape.graph.fx_frontend import from_module
from gennape.graph.ir import ComputeGraph, Node
from gennape.graph.onnx_frontend import from_onnx
from gennape.graph.ops import get_op, list_ops, register_op
from gennape.graph.torch_backend import batchnorm_after, to_torch

__all__ = ["ComputeGraph", "Node", "GraphError", "from_module", "from_onnx", "to_torch", "batchnorm_after",
           "get_op", "list_ops", "register_op"]
