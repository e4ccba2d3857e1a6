"""ComputeGraph canonicalisation: one hash per network, whichever route it arrives by."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from gennape.graph import ComputeGraph, GraphError, batchnorm_after, from_module, from_onnx, list_ops, to_torch
from gennape.graph.__main__ import main as cli
from gennape.graph.encoding import NUM_FEATURES
from gennape.graph.torch_backend import count_params
from gennape.spaces import get_space
from zoo import ZOO, randomize_batchnorm

X = torch.randn(1, 3, 32, 32)


def _space(name: str, **kw) -> nn.Module:
    space = get_space(name)
    return space.build(space.sample(1, seed=3)[0], **kw)


MODELS = {
    **ZOO,
    "nb201": lambda: _space("nb201"),
    "nb101": lambda: _space("nb101"),
    "darts": lambda: _space("darts", C=8, layers=3),
}
ROUTES = {
    "dynamo_eval": (dict(), False),
    "legacy17_eval": (dict(dynamo=False, opset_version=17), False),
    "dynamo_train": (dict(), True),
    "legacy17_train": (dict(dynamo=False, opset_version=17, training=torch.onnx.TrainingMode.TRAINING), True),
}


def export(model: nn.Module, path: Path, route: str) -> Path:
    kwargs, train = ROUTES[route]
    model.train(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (X,), str(path), **kwargs)
    model.eval()
    return path


@pytest.fixture(scope="module", params=list(MODELS))
def case(request, tmp_path_factory):
    torch.manual_seed(0)
    model = randomize_batchnorm(MODELS[request.param]()).eval()
    folder = tmp_path_factory.mktemp(request.param)
    files = {r: export(model, folder / f"{r}.onnx", r) for r in ROUTES}
    return request.param, model, from_module(model, X), files


def test_every_route_gives_the_same_graph(case):
    name, model, cg, files = case
    for route, path in files.items():
        other = from_onnx(path)
        assert other.hash == cg.hash, f"{name} via {route}"
        assert (other.flops, other.params, len(other), len(other.edges)) == (cg.flops, cg.params, len(cg), len(cg.edges))


def test_to_torch_round_trips(case):
    name, model, cg, _ = case
    net = to_torch(cg).eval()
    again = from_module(net, X)
    assert again.hash == cg.hash
    assert again.params == cg.params == count_params(net)
    with torch.no_grad():
        assert net(X).shape == model(X).shape


def test_to_torch_with_batchnorm_folds_back_to_the_same_graph(case):
    """The BatchNorms that features' networks get are exactly what canonicalisation folds away."""
    name, model, cg, _ = case
    torch.manual_seed(0)
    plain = to_torch(cg)
    torch.manual_seed(0)
    net = to_torch(cg, batchnorm=True)
    def bns(m):
        return sum(isinstance(b, nn.BatchNorm2d) for b in m.modules())

    assert bns(net) == bns(plain) + len(batchnorm_after(cg)) and len(batchnorm_after(cg)) > 0  # plain: kept BNs
    assert from_module(net.eval(), X).hash == cg.hash, name
    convs = lambda m: [c.weight for c in m.modules() if isinstance(c, nn.Conv2d)]  # noqa: E731
    assert all(torch.equal(a, b) for a, b in zip(convs(plain), convs(net)))  # same draw of the weights
    with torch.no_grad():
        assert net.train()(torch.randn(4, 3, 32, 32)).shape[0] == 4


def test_batchnorm_after_skips_a_conv_that_feeds_a_conv():
    """A separable conv (depthwise straight into pointwise, as in DARTS) gets one BatchNorm, after both."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    cg = from_module(net.eval(), X)
    ops = [cg.nodes[i].op for i in sorted(batchnorm_after(cg))]
    assert ops == ["Conv", "Conv"]  # the stem and the pointwise conv, not the depthwise one
    assert "DepthwiseConv" in [n.op for n in cg.nodes]


def test_graphs_of_different_networks_differ():
    hashes = {n: from_module(randomize_batchnorm(f()).eval(), X).hash for n, f in ZOO.items()}
    assert len(set(hashes.values())) == len(hashes)


def test_params_and_flops_of_a_known_network():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    cg = from_module(net, X)
    assert [n.op for n in cg.nodes] == ["Input", "Conv", "ReLU", "DepthwiseConv", "GlobalAvgPool", "Linear", "Output"]
    assert cg.params == count_params(net) == (3 * 8 * 9 + 8) + (8 * 9 + 8) + (8 * 10 + 10)
    assert cg.flops == 2 * (8 * 32 * 32 * 3 * 9 + 8 * 16 * 16 * 9 + 8 * 10)


def test_batchnorm_after_conv_is_folded_into_a_bias():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4))
    cg = from_module(net, X)
    assert [n.op for n in cg.nodes] == ["Input", "Conv", "ReLU", "BatchNorm", "Output"]
    assert cg.nodes[1].bias and cg.params == 3 * 4 * 9 + 4 + 2 * 4


def test_shape_only_ops_and_zero_branches_vanish():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.skip, self.fc = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 3, padding=1), nn.Linear(3 * 32 * 32, 5)

        def forward(self, x):
            y = self.conv(x) + self.skip(x).mul(0.0)  # NB-201's `none` op
            return self.fc(nn.functional.dropout(y.reshape(y.size(0), -1), 0.1, self.training))

    cg = from_module(Net(), X)
    assert [n.op for n in cg.nodes] == ["Input", "Conv", "Linear", "Output"]


def test_encodings():
    cg = from_module(ZOO["inception"](), X)
    g = cg.to_networkx()
    assert g.number_of_nodes() == len(cg) and g.number_of_edges() == len(cg.edges)
    data = cg.to_pyg()
    assert data.op.shape == (len(cg),) and int(data.op.max()) < len(list_ops())
    assert data.feat.shape == (len(cg), NUM_FEATURES) and torch.isfinite(data.feat).all()
    assert data.edge_index.shape == (2, len(cg.edges))


def test_weights_are_not_needed(tmp_path):
    """Weights stored as external data that is missing: the graph is read all the same."""
    model = ZOO["resnet_small"]().eval()
    path = export(model, tmp_path / "m.onnx", "legacy17_eval")
    proto = onnx.load(str(path))
    onnx.save(proto, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=0)
    (tmp_path / "ext.data").unlink()
    assert from_onnx(tmp_path / "ext.onnx").hash == from_module(model, X).hash


# --- bad input --------------------------------------------------------------------------------

def _save(tmp_path: Path, nodes, name: str, in_shape=(1, 3, 8, 8), inits=()) -> Path:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.fixture
def bad_files(tmp_path) -> dict[str, tuple[Path, str]]:
    good = export(ZOO["inception"]().eval(), tmp_path / "good.onnx", "legacy17_eval")
    (tmp_path / "text.onnx").write_text("this is not a model")
    (tmp_path / "trunc.onnx").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    cond = helper.make_tensor("c", TensorProto.BOOL, [], [True])
    branch = helper.make_graph([helper.make_node("Relu", ["x"], ["z"])], "b", [],
                               [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    return {
        "text": (tmp_path / "text.onnx", "not a readable ONNX model"),
        "truncated": (tmp_path / "trunc.onnx", "not a readable ONNX model"),
        "operator": (_save(tmp_path, [helper.make_node("Abs", ["x"], ["y"], name="abs_1")], "abs.onnx"),
                     "op Abs at node 'abs_1' is not in the vocabulary"),
        "control flow": (_save(tmp_path, [helper.make_node("If", ["c"], ["y"], name="if_1", then_branch=branch,
                                                           else_branch=branch)], "if.onnx", inits=[cond]),
                         "control flow (If) at node 'if_1'"),
        "shape": (_save(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="relu_1")], "dyn.onnx",
                        in_shape=(1, "C", 8, 8)), "cannot infer the shape"),
        "good": (good, ""),
    }


def test_bad_input_gets_one_clear_error(bad_files):
    for what, (path, expected) in bad_files.items():
        if what == "good":
            continue
        with pytest.raises(GraphError) as err:
            from_onnx(path)
        assert str(path) in str(err.value) and expected in str(err.value), what


def test_cli_reports_every_file_and_fails_with_1(bad_files, capsys, tmp_path):
    paths = [str(p) for p, _ in bad_files.values()]
    assert cli(paths + ["--draw", str(tmp_path / "g.png")]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["file"] for o in out] == paths
    good = out[-1]
    assert set(good) == {"file", "hash", "nodes", "edges", "flops", "params"} and good["params"] > 0
    assert all("error" in o for o in out[:-1])
    assert (tmp_path / "g-good.png").stat().st_size > 10_000


def test_cli_single_file_ok(bad_files, capsys):
    assert cli([str(bad_files["good"][0])]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"] > 10


def test_compute_graph_rejects_unordered_nodes():
    cg = from_module(ZOO["inception"](), X)
    with pytest.raises(ValueError, match="topological"):
        ComputeGraph(cg.nodes, tuple(reversed(cg.inputs)))
    assert math.isfinite(cg.flops)
