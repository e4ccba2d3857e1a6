"""Encoding of a ComputeGraph as a torch-geometric ``Data`` object (GENNAPE-style node features).

Per node: ``op`` (index into ``list_ops()``, for an embedding table) and ``feat``, a float vector
of ``NUM_FEATURES`` numbers: log2-scaled input/output channels and spatial size, kernel, stride,
dilation, padding, a depthwise/grouped flag, bias, and the node's share of the graph's FLOPs and
params. Graph-level ``flops`` and ``params`` are kept as attributes for target transforms and
baselines.

``encode_arrays`` gives the same numbers as numpy arrays without importing torch (the module
imports neither torch nor torch_geometric); ``encode`` wraps them in a ``Data``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gennape.graph.ops import list_ops

if TYPE_CHECKING:  # pragma: no cover - types only: ComputeGraph.to_pyg imports this module
    from torch_geometric.data import Data

    from gennape.graph.ir import ComputeGraph, Node, Shape

FEATURE_NAMES = (
    "log_c_in", "log_c_out", "log_hw_in", "log_hw_out", "log_tokens_out", "n_inputs",
    "kernel_h", "kernel_w", "stride", "dilation", "padding", "grouped", "depthwise", "bias",
    "flops_share", "params_share",
)
NUM_FEATURES = len(FEATURE_NAMES)


def op_index(op: str) -> int:
    """Position of ``op`` in the vocabulary (the embedding row)."""
    return _OP_INDEX[op]


def _channels(s: Shape) -> int:
    return s[0] if len(s) == 3 else (s[-1] if s else 1)


def _spatial(s: Shape) -> int:
    return s[1] * s[2] if len(s) == 3 else 1


def _tokens(s: Shape) -> int:
    return math.prod(s[:-1]) if len(s) >= 2 and len(s) != 3 else 1


def node_features(n: Node, total_flops: int, total_params: int) -> list[float]:
    """The ``NUM_FEATURES`` numbers of one node."""
    s_in = n.in_shapes[0] if n.in_shapes else n.out_shape
    k = (*n.kernel, *(1,) * (2 - len(n.kernel))) if n.kernel else (0, 0)  # a 1-D conv's kernel is (k, 1)
    c_in = _channels(s_in)
    return [
        math.log2(1 + c_in), math.log2(1 + _channels(n.out_shape)),
        math.log2(1 + _spatial(s_in)) / 2, math.log2(1 + _spatial(n.out_shape)) / 2,
        math.log2(1 + _tokens(n.out_shape)), float(len(n.in_shapes)),
        float(k[0]), float(k[1]), float(n.stride[0]) if n.stride else 0.0,
        float(n.dilation[0]) if n.dilation else 0.0, float(max(n.padding)) if n.padding else 0.0,
        float(n.groups > 1), float(n.groups > 1 and n.groups == c_in), float(n.bias),
        n.flops / total_flops if total_flops else 0.0, n.params / total_params if total_params else 0.0,
    ]


def encode_arrays(cg: ComputeGraph) -> dict[str, np.ndarray]:
    """The numbers of :func:`encode` as numpy arrays: ``op`` (int64 [N]), ``feat`` (float32
    [N, NUM_FEATURES]), ``edge_index`` (int64 [2, E]), ``flops`` and ``params`` (float64 [1])."""
    flops, params = cg.flops, cg.params
    edges = cg.edges
    return {
        "op": np.array([op_index(n.op) for n in cg.nodes], dtype=np.int64),
        "feat": np.array([node_features(n, flops, params) for n in cg.nodes],
                         dtype=np.float32).reshape(len(cg.nodes), NUM_FEATURES),
        "edge_index": (np.ascontiguousarray(np.array(edges, dtype=np.int64).T) if edges
                       else np.zeros((2, 0), dtype=np.int64)),
        "flops": np.array([float(flops)], dtype=np.float64),
        "params": np.array([float(params)], dtype=np.float64),
    }


def encode(cg: ComputeGraph) -> "Data":
    """``Data(op, feat, edge_index, flops, params, num_nodes)`` for one graph: :func:`encode_arrays`
    as tensors (``op`` and ``edge_index`` long, ``feat``, ``flops`` and ``params`` float32)."""
    import torch
    from torch_geometric.data import Data

    a = encode_arrays(cg)
    return Data(op=torch.from_numpy(a["op"]), feat=torch.from_numpy(a["feat"]),
                edge_index=torch.from_numpy(a["edge_index"]), num_nodes=len(cg.nodes),
                flops=torch.tensor(a["flops"].tolist()), params=torch.tensor(a["params"].tolist()))


_OP_INDEX = {name: i for i, name in enumerate(list_ops())}
