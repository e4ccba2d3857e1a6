"""The numpy runtime computes what the torch network computes, and prediction never imports torch."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gennape.graph.encoding import encode_arrays
from gennape.inference.predict import DEFAULT_CHECKPOINT, encode_graphs, load_predictor
from gennape.model.checkpoint import load_checkpoint, save_checkpoint
from gennape.model.dataset import graph_to_record, record_to_data
from gennape.model.pipeline import fit_clusters, fit_normalisers
from gennape.model.prediction import NetRuntime, predict
from gennape.model.predictor import build_net
from gennape.runtime.net import Runtime, UnsupportedNetwork
from gennape.spaces import get_space

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graphs():
    """ComputeGraphs of 24 NB-201 cells and 8 TransNAS macro networks (two families, other sizes)."""
    out = []
    for family, n in (("nb201", 24), ("transnas_macro", 8)):
        space = get_space(family)
        out += [space.graph(spec) for spec in space.sample(n, seed=1)]
    return out


def _torch_numbers(net, encoded):
    datas = [{k: torch.from_numpy(np.asarray(v, dtype=np.float32 if k == "flops" else None)) for k, v in e.items()}
             for e in encoded]
    res = predict(net, datas, details=True)
    return res["accuracy"], res["uncertainty"]


def _fitted(tmp_path, graphs, **model):
    datas = []
    for i, cg in enumerate(graphs):
        d = record_to_data(graph_to_record(cg))
        d.y = torch.tensor([50.0 + (i * 7) % 40])
        if model.get("aux_dim"):
            d.aux, d.aux_mask = torch.tensor([[float(np.log1p(cg.flops)), float(np.log1p(cg.params))]]), torch.ones(1, 2)
        datas.append(d)
    net = build_net(**model, seed=3)
    fit_normalisers(net, datas)
    fit_clusters(net, datas)
    with torch.no_grad():  # trained-looking, not initial, weights
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    aux = ["flops", "params"] if model.get("aux_dim") else []
    return save_checkpoint(tmp_path / "net.ckpt", net, model, aux, "set")


@pytest.mark.parametrize("model", [
    dict(hidden=16, num_layers=2, heads=3, head_hidden=16),
    dict(hidden=8, num_layers=3, heads=1, residual=False, bidirectional=False, pool="sum", head_layers=3),
    dict(hidden=8, num_layers=2, heads=2, pool="max", relative_shapes=True, aux_dim=2, fit_flops_exponent=True),
    dict(hidden=8, num_layers=1, heads=4, divide_by_flops=False, standardize=False, fuzzifier=1.5, aux_dim=2),
])
def test_runtime_matches_the_torch_network(tmp_path, graphs, model):
    path = _fitted(tmp_path, graphs, **model)
    runtime, ckpt = Runtime.load(path), load_checkpoint(path)
    encoded = encode_graphs(runtime, graphs)
    acc, unc = _torch_numbers(ckpt.net, encoded)
    res = runtime.predict(encoded, batch_size=5)  # batches split differently from torch's
    assert res["score"] == pytest.approx(acc, rel=1e-4, abs=1e-4)
    assert res["uncertainty"] == pytest.approx(unc, rel=1e-3, abs=1e-4)
    if model.get("aux_dim"):  # features missing: the mask says so, as in torch
        bare = [encode_arrays(cg) for cg in graphs]
        assert runtime.predict(bare)["score"] == pytest.approx(_torch_numbers(ckpt.net, bare)[0], rel=1e-4, abs=1e-4)


def test_shipped_checkpoint_runs_in_numpy_as_in_torch(graphs):
    runtime = load_predictor()
    assert isinstance(runtime, Runtime)
    # proxies and NNGP run the networks (seconds each): a few graphs with them, the rest without
    encoded = encode_graphs(runtime, graphs[:4]) + encode_graphs(runtime, graphs[4:], features=False)
    acc, unc = _torch_numbers(load_checkpoint(DEFAULT_CHECKPOINT).net, encoded)
    res = runtime.predict(encoded)
    assert res["score"] == pytest.approx(acc, abs=1e-4) and res["uncertainty"] == pytest.approx(unc, abs=1e-4)


def test_other_gnn_layers_fall_back_to_torch(tmp_path, graphs):
    path = _fitted(tmp_path, graphs[:6], hidden=8, num_layers=2, layer="gcn")
    with pytest.raises(UnsupportedNetwork, match="gcn"):
        Runtime.load(path)
    predictor = load_predictor(path)
    assert isinstance(predictor, NetRuntime)
    assert np.isfinite(predictor.predict(encode_graphs(predictor, graphs[:6]))["score"]).all()


def test_predicting_an_onnx_file_imports_neither_torch_nor_pyg(tmp_path):
    """Without features to compute (``--no-features``, or every feature already in the per-user
    cache) prediction stays in numpy: no torch, PyG, Lightning, networkx or pandas."""
    path = tmp_path / "net.onnx"
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), str(path), dynamo=False, opset_version=17)
    env = {**os.environ, "GENNAPE_CACHE_DIR": str(tmp_path / "cache")}

    def heavy(*flags: str) -> str:
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import predict; "
                f"assert predict.main([{str(path)!r}, '--format', 'json', *{list(flags)!r}]) == 0; "
                "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torch_geometric', 'lightning', "
                "'networkx', 'pandas'}); print('HEAVY', heavy)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "HEAVY []" in heavy("--no-features")
    assert "'torch'" in heavy()  # the proxies run the network once...
    assert "HEAVY []" in heavy()  # ...and are read from the cache after
