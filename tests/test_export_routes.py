"""Same network, same answer: real torch exports (dynamo and legacy, eval and train mode) of one
network get one graph, one params / FLOPs count and one prediction; dynamic input sizes; external
data; quiet output."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import onnx
import pytest
import torch
from onnx import external_data_helper
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import predict as predict_cli  # noqa: E402
from gennape.graph import GraphError, canonical, from_module, from_onnx, to_torch  # noqa: E402
from gennape.graph.torch_backend import count_params  # noqa: E402
from gennape.inference.predict import predict_files, quiet_libraries  # noqa: E402
from gennape.data.families import graph_of  # noqa: E402
from gennape.spaces import get_space  # noqa: E402
from test_graph import MODELS, ROUTES, X  # noqa: E402  (the graph tests' networks and routes)


# --- small classifiers as a new user writes them: Conv(bias=False) + BatchNorm at fresh init ----

class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                               nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.short = (nn.Identity() if c_in == c_out and stride == 1 else
                      nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x):
        return torch.relu(self.f(x) + self.short(x))


def resnet_like() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         _Block(16, 16, 1), _Block(16, 32, 2), _Block(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class _InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int = 4) -> None:
        super().__init__()
        h = c_in * expand
        self.residual = stride == 1 and c_in == c_out
        self.f = nn.Sequential(nn.Conv2d(c_in, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
                               nn.Conv2d(h, h, 3, stride, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
                               nn.Conv2d(h, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return x + self.f(x) if self.residual else self.f(x)


def mobilenet_like() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
                         _InvertedResidual(16, 24, 2), _InvertedResidual(24, 24, 1), _InvertedResidual(24, 40, 2),
                         _InvertedResidual(40, 40, 1), nn.Conv2d(40, 128, 1, bias=False), nn.BatchNorm2d(128),
                         nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 10))


def vgg_like() -> nn.Module:
    layers, c = [], 3
    for v in (16, "M", 32, "M", 64, 64, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(), nn.Dropout(), nn.Linear(64, 64),
                         nn.ReLU(), nn.Linear(64, 10))


ISSUE_NETS = {"resnet_like": resnet_like, "mobilenet_like": mobilenet_like, "vgg_like": vgg_like}
NETWORKS = {**MODELS, **ISSUE_NETS}


def _export(model: nn.Module, path: Path, route: str, x: torch.Tensor = X, **extra) -> Path:
    kwargs, train = ROUTES[route]
    model.train(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), **kwargs, **extra)
    model.eval()
    return path


def _layer_params(model: nn.Module) -> int:
    """Conv / Linear weights plus one bias per output channel (every layer of these networks has a
    bias or a BatchNorm after it), plus nothing else: the canonical count of ``ISSUE_NETS``."""
    return sum(m.weight.numel() + m.weight.shape[0] for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """network -> (model, fx graph, route -> file), every network of the graph tests and the
    issue's three, at fresh initialisation (BatchNorm folds to a zero bias, which dynamo drops)."""
    folder = tmp_path_factory.mktemp("routes")
    out = {}
    for name, make in NETWORKS.items():
        torch.manual_seed(0)
        model = make().eval()
        out[name] = (model, from_module(model, X),
                     {r: _export(model, folder / f"{name}__{r}.onnx", r) for r in ROUTES})
    return out


def test_dynamo_really_drops_the_zero_biases(exported):
    """The premise: the two exports of one fresh network store different biases."""
    def biases(path: Path) -> int:
        g = onnx.load(str(path), load_external_data=False).graph
        return sum(n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and bool(n.input[2]) for n in g.node)

    _, _, files = exported["resnet_like"]
    assert biases(files["dynamo_eval"]) == 1 < biases(files["legacy17_eval"])  # the Gemm only, vs every layer


def test_every_route_gives_one_graph_params_flops_and_encoding(exported):
    for name, (model, cg, files) in exported.items():
        enc = cg.to_pyg()
        for route, path in files.items():
            other = from_onnx(path)
            assert other.hash == cg.hash, f"{name} via {route}"
            assert (other.params, other.flops) == (cg.params, cg.flops), f"{name} via {route}"
            assert [n.bias for n in other.nodes] == [n.bias for n in cg.nodes], f"{name} via {route}"
            e = other.to_pyg()
            assert torch.equal(e.feat, enc.feat) and torch.equal(e.edge_index, enc.edge_index), f"{name} via {route}"


def test_params_of_the_issue_networks(exported):
    for name in ISSUE_NETS:
        model, cg, files = exported[name]
        assert cg.params == _layer_params(model), name
        assert {from_onnx(p).params for p in files.values()} == {cg.params}, name
    assert exported["resnet_like"][1].params == 77_706 and exported["mobilenet_like"][1].params == 37_802


def test_predict_gives_one_answer_per_network(exported):
    """predict.py on every export of every network in one call: one score, params, FLOPs each."""
    paths = [p for _, _, files in exported.values() for p in files.values()]
    preds = predict_files(paths)
    assert all(p.error is None for p in preds), [p.error for p in preds if p.error]
    by_net = defaultdict(set)
    for p in preds:
        by_net[Path(p.file).name.split("__")[0]].add((p.score, p.uncertainty, p.params, p.flops))
    assert set(by_net) == set(exported)
    for name, answers in by_net.items():
        assert len(answers) == 1, f"{name}: {answers}"
        assert next(iter(answers))[2] == exported[name][1].params
    # tied networks take consecutive ranks
    for name in exported:
        ranks = sorted(p.rank for p in preds if Path(p.file).name.startswith(name + "__"))
        assert ranks == list(range(ranks[0], ranks[0] + len(ROUTES))), name


# --- the rule ---------------------------------------------------------------------------------

def _params_without_rule(make_graph) -> int:
    canonical.PASSES.remove(canonical.canonical_bias)
    try:
        return make_graph().params
    finally:
        canonical.PASSES.append(canonical.canonical_bias)


def test_canonical_bias_rule():
    x = torch.randn(1, 3, 16, 16)

    class Reduce(nn.Module):  # DARTS' factorised reduction: two convs, concatenated, one BatchNorm
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 1, 2, bias=False), nn.Conv2d(3, 4, 1, 2, bias=False)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.bn(torch.cat([self.a(x), self.b(x[:, :, 1:, 1:])], 1))

    sep = nn.Sequential(nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False), nn.Conv2d(3, 8, 1, bias=False),
                        nn.BatchNorm2d(8))
    cg = from_module(sep, x)
    assert [(n.op, n.bias) for n in cg.nodes if n.op in canonical.AFFINE] == [("DepthwiseConv", False), ("Conv", True)]
    cg = from_module(Reduce(), x)
    assert [n.bias for n in cg.nodes if n.op == "Conv"] == [False, False] and cg.params == 2 * 12 + 16
    # no bias stored, no BatchNorm, read by an Add (NB-201's shortcut conv): counted all the same
    short = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(3, 8, 1, bias=False), nn.ReLU())
    cg = from_module(short, x)
    assert cg.params == 3 * 8 + 8 == _params_without_rule(lambda: from_module(short, x)) + 8
    for net in (sep, Reduce(), short):  # to_torch builds what the graph counts
        cg = from_module(net.eval(), x)
        assert count_params(to_torch(cg)) == cg.params == from_module(to_torch(cg).eval(), x).params


@pytest.mark.parametrize("family,delta", [("nb201", 96), ("nb101", 0), ("nb301", 0), ("transnas_micro", 0)])
def test_space_graphs_keep_their_params(family, delta):
    """The rule leaves the benchmark families' counts as they were, except NB-201's two 1x1 shortcut
    convs (no bias, no BatchNorm: 32 + 64 biases)."""
    space = get_space({"nb301": "darts"}.get(family, family))
    for spec in space.sample(2, seed=5):
        spec = space.format(spec) if hasattr(space, "format") else spec
        cg = graph_of(family, spec)
        assert cg.params - _params_without_rule(lambda: graph_of(family, spec)) == delta, spec


# --- dynamic input sizes ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dynamic(tmp_path_factory):
    """Exports with a dynamic batch, height and width (both routes), a dynamic batch only."""
    from torch.export import Dim

    folder = tmp_path_factory.mktemp("dynamic")
    out = {}
    for name in ("resnet_like", "vgg_like", "transformer"):
        torch.manual_seed(0)
        model = NETWORKS[name]().eval()
        out[name, "legacy_hw"] = _export(model, folder / f"{name}_legacy_hw.onnx", "legacy17_eval",
                                         input_names=["input"], dynamic_axes={"input": {0: "batch", 2: "h", 3: "w"}})
        out[name, "legacy_batch"] = _export(model, folder / f"{name}_legacy_batch.onnx", "legacy17_eval",
                                            input_names=["input"], dynamic_axes={"input": {0: "batch"}})
        out[name, "dynamo_hw"] = _export(model, folder / f"{name}_dynamo_hw.onnx", "dynamo_eval",
                                         dynamic_shapes=({0: Dim("batch"), 2: Dim.AUTO, 3: Dim.AUTO},))
        out[name, "model"] = model
    return out


def test_dynamic_height_and_width_need_input_size(dynamic):
    for name in ("resnet_like", "vgg_like", "transformer"):
        ref = from_module(dynamic[name, "model"], X)
        for kind in ("legacy_hw", "dynamo_hw"):
            path = dynamic[name, kind]
            with pytest.raises(GraphError) as err:
                from_onnx(path)
            msg = str(err.value)
            assert "--input-size H W" in msg and "graph input" in msg and "node ''" not in msg, msg
            assert msg.startswith(str(path))
            cg = from_onnx(path, input_size=(32, 32))
            assert (cg.hash, cg.params, cg.flops) == (ref.hash, ref.params, ref.flops), f"{name} {kind}"
        assert from_onnx(dynamic[name, "legacy_batch"]).hash == ref.hash  # a dynamic batch alone needs nothing
    big = from_onnx(dynamic["resnet_like", "legacy_hw"], input_size=(64, 48))
    assert big.input_shape == (3, 64, 48) and big.flops == pytest.approx(3 * from_module(resnet_like(), X).flops, rel=0.01)
    # a model with its own resolution keeps it
    assert from_onnx(dynamic["resnet_like", "legacy_batch"], input_size=(64, 64)).input_shape == (3, 32, 32)
    with pytest.raises(ValueError):
        from_onnx(dynamic["resnet_like", "legacy_hw"], input_size=(0, 32))


def test_predict_cli_input_size(dynamic, capsys):
    files = [str(dynamic["resnet_like", k]) for k in ("legacy_hw", "dynamo_hw", "legacy_batch")]
    assert predict_cli.main(files + ["--format", "json"]) == 1
    out = capsys.readouterr().out
    assert out.count("--input-size H W") == 2
    assert predict_cli.main(files + ["--input-size", "32", "32", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 3 and len({tuple(r.split(",")[1:5]) for r in rows}) == 1  # one answer
    preds = predict_files(files[:2], input_size=(32, 32))
    assert all(p.error is None for p in preds)


# --- external data ----------------------------------------------------------------------------

def _big() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.Flatten(),
                         nn.Linear(16 * 32 * 32, 100))


def test_external_data_present_missing_and_empty(tmp_path, monkeypatch):
    """The dynamo exporter writes ``m.onnx.data`` beside a larger model: the graph is read without
    loading it, present, missing or empty; only small constants are ever read from such a file."""
    torch.manual_seed(0)
    model = _big().eval()
    path = _export(model, tmp_path / "m.onnx", "dynamo_eval")
    data = tmp_path / "m.onnx.data"
    assert data.is_file() and data.stat().st_size > 4_000_000  # the weights are there, not in m.onnx
    ref = from_module(model, X)

    read = []
    real = external_data_helper.load_external_data_for_tensor

    def spy(tensor, base_dir):
        read.append(int(torch.tensor(list(tensor.dims)).prod()) if tensor.dims else 1)
        return real(tensor, base_dir)

    def refuse(*a, **k):
        raise AssertionError("the weights were loaded")

    monkeypatch.setattr(external_data_helper, "load_external_data_for_tensor", spy)
    monkeypatch.setattr(external_data_helper, "load_external_data_for_model", refuse)
    monkeypatch.setattr(onnx, "load_external_data_for_model", refuse)
    assert from_onnx(path).hash == ref.hash
    assert all(n <= 64 for n in read)
    data.write_bytes(b"")  # present but empty: nothing needed from it
    assert from_onnx(path).params == ref.params
    data.unlink()  # missing: the structure is all in m.onnx
    assert from_onnx(path).hash == ref.hash


def test_missing_external_data_with_needed_constants_names_the_file(exported, tmp_path):
    """Every tensor saved externally, small constants too (``size_threshold=0``): present, the
    constants are read alone; missing, an error that names the data file."""
    _, cg, files = exported["darts"]
    proto = onnx.load(str(files["dynamo_eval"]))
    path = tmp_path / "all_ext.onnx"
    onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="all_ext.onnx.data", size_threshold=0)
    assert from_onnx(path).hash == cg.hash
    (tmp_path / "all_ext.onnx.data").unlink()
    with pytest.raises(GraphError) as err:
        from_onnx(path)
    msg = str(err.value)
    assert str(tmp_path / "all_ext.onnx.data") in msg and "missing" in msg, msg


# --- quiet output -----------------------------------------------------------------------------

def test_quiet_libraries_drops_tips_keeps_warnings(caplog):
    import lightning as L
    from lightning.pytorch.utilities._pytree import _tree_flatten

    name = "lightning.pytorch.utilities.rank_zero"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_libraries()
        quiet_libraries()
        with caplog.at_level(logging.INFO, logger=name):
            L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
                      enable_progress_bar=False)
            from lightning.pytorch.utilities import rank_zero_info

            rank_zero_info("another notice of Lightning's")
        _tree_flatten({"a": [1, 2]})  # Lightning's pytree, which instantiates torch's deprecated LeafSpec
        warnings.warn("a real warning", UserWarning)
    text = caplog.text
    assert "litlogger" not in text and "Tip" not in text and "GPU available" not in text  # tips and banners
    assert "another notice of Lightning's" in text  # its other messages still show
    assert [str(w.message) for w in seen] == ["a real warning"]
    assert len(logging.getLogger(name).filters) == 1
    for lg in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        for f in list(logging.getLogger(lg).filters):
            logging.getLogger(lg).removeFilter(f)


def test_predict_cli_output_is_clean(dynamic):
    """A real ``python predict.py`` run: the table on stdout, one summary line on stderr."""
    path = dynamic["resnet_like", "dynamo_hw"]
    env = {**os.environ, "PYTHONWARNINGS": ""}
    res = subprocess.run([sys.executable, str(ROOT / "predict.py"), str(path), "--input-size", "32", "32"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:4] == ["rank", "score", "pred.", "acc"] and len(lines) == 3
    assert lines[2].startswith("predicted accuracy: blank")  # the shipped model gives scores
    assert res.stderr.strip().splitlines() == [res.stderr.strip()] and "1 ranked, 0 failed" in res.stderr, res.stderr
