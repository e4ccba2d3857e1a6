"""Reading ONNX graphs and encoding them needs no torch; the torch side (to_torch, encode) is unchanged."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

import gennape.graph as graph
from gennape.graph import ComputeGraph, Node, from_module, list_ops
from gennape.graph.encoding import NUM_FEATURES, encode, encode_arrays
from gennape.graph.torch_backend import _BUILDERS, get_builder
from zoo import ZOO

TORCH_SIDE = ("torch", "torch_geometric", "networkx")


def test_reading_and_encoding_graphs_imports_no_torch():
    code = ("import sys\n"
            "import gennape.graph\n"
            "from gennape.graph.onnx_frontend import from_onnx\n"
            "from gennape.graph.encoding import encode_arrays, FEATURE_NAMES, NUM_FEATURES, op_index\n"
            "from gennape.graph import ComputeGraph, Node, GraphError, get_op, list_ops, register_op\n"
            f"print(sorted({{m for m in sys.modules if m.split('.')[0] in {TORCH_SIDE!r}}}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_lazy_names_of_the_package():
    from gennape.graph import batchnorm_after, to_torch
    from gennape.graph.fx_frontend import from_module as fm
    from gennape.graph.torch_backend import batchnorm_after as ba, to_torch as tt

    assert (graph.from_module, to_torch, batchnorm_after) == (fm, tt, ba)
    assert set(graph.__all__) <= set(dir(graph))
    try:
        graph.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_op_order_is_fixed():
    """The registration order defines the op indices that checkpoints' embedding tables use."""
    assert list_ops() == [
        "Input", "Output", "Conv", "DepthwiseConv", "Linear", "ReLU", "ReLU6", "HardSwish", "HardSigmoid",
        "Sigmoid", "SiLU", "GELU", "Tanh", "Add", "Mul", "Concat", "MaxPool", "AvgPool", "GlobalAvgPool",
        "Pad", "Softmax", "LayerNorm", "BatchNorm", "MatMul", "Transpose", "Reshape", "Slice",
        "Sub", "Div", "Parameter", "Resize", "Reduce", "Elementwise", "GroupNorm",
    ]


def test_every_op_has_a_builder():
    for op in list_ops():
        assert callable(get_builder(op)), op
    assert set(_BUILDERS.names()) == set(list_ops())


def _same_encoding(cg: ComputeGraph) -> None:
    arrays, data = encode_arrays(cg), encode(cg)
    n, e = len(cg), len(cg.edges)
    assert arrays["op"].dtype == np.int64 and arrays["op"].shape == (n,)
    assert arrays["feat"].dtype == np.float32 and arrays["feat"].shape == (n, NUM_FEATURES)
    assert arrays["edge_index"].dtype == np.int64 and arrays["edge_index"].shape == (2, e)
    assert data.num_nodes == n
    for key, dtype in [("op", torch.long), ("feat", torch.float32), ("edge_index", torch.long),
                       ("flops", torch.float32), ("params", torch.float32)]:
        t = data[key]
        assert t.dtype == dtype and t.is_contiguous(), key
        assert np.array_equal(t.numpy(), arrays[key].astype(t.numpy().dtype)), key
    # the numbers encode always gave: python floats straight into tensors
    assert torch.equal(data.edge_index, torch.tensor(cg.edges, dtype=torch.long).t().contiguous())
    assert torch.equal(data.flops, torch.tensor([float(cg.flops)]))
    assert torch.equal(data.params, torch.tensor([float(cg.params)]))
    assert torch.equal(cg.to_pyg().feat, data.feat)


def test_encode_is_encode_arrays_as_tensors():
    _same_encoding(from_module(ZOO["inception"](), torch.randn(1, 3, 32, 32)))
    _same_encoding(from_module(ZOO["transformer"](), torch.randn(1, 3, 32, 32)))


def test_a_graph_with_no_edges_encodes():
    cg = ComputeGraph((Node("Input", (), (3, 4, 4)), Node("Output", (), (10,))), ((), ()))  # a constant output
    assert encode_arrays(cg)["edge_index"].shape == (2, 0)
    data = encode(cg)
    assert data.edge_index.shape == (2, 0) and data.edge_index.dtype == torch.long
    assert data.feat.shape == (2, NUM_FEATURES)
