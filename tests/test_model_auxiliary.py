"""Auxiliary features in the predictor: from the feature store in training, computed for ONNX."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import predict as predict_cli  # noqa: E402
from gennape.evaluation import experiment as train_mod  # noqa: E402
from gennape.features import store as store_mod  # noqa: E402
from gennape.features.proxies import ProxyResult  # noqa: E402
from gennape.features.store import FeatureStore  # noqa: E402
from gennape.graph import from_module  # noqa: E402
from gennape.inference.predict import predict_files  # noqa: E402
from gennape.runtime.auxiliary import attach_features, compute_for_graphs, scale  # noqa: E402
from gennape.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from gennape.model.dataset import Family, graph_to_record, record_to_data  # noqa: E402
from gennape.model.pipeline import fit_clusters, fit_normalisers  # noqa: E402
from gennape.model.predictor import build_net  # noqa: E402
from gennape.model.synthetic import synthetic_graphs  # noqa: E402
from test_model_train import _cfg  # noqa: E402

SIZES = {"nb201": 90, "nb101": 40, "nb301": 40}


def _family(family, *_, **__):
    graphs = synthetic_graphs(SIZES[family], seed={"nb201": 0, "nb101": 1, "nb301": 2}[family])
    for i, g in enumerate(graphs):
        g.hash = f"{family}-{i}"
    table = pd.DataFrame({"spec": [g.hash for g in graphs], "acc": [g.y.item() for g in graphs]})
    return Family(family, "acc", table, graphs)


def _fill_stores(folder: Path) -> None:
    """'good' follows the accuracy, 'noise' does not; every 7th 'good' is missing (overflow)."""
    rng = np.random.default_rng(0)
    for fam in SIZES:
        with FeatureStore(folder / f"{fam}.sqlite") as fs:
            for i, g in enumerate(_family(fam).graphs):
                good = ProxyResult(None, "+inf (overflow)") if i % 7 == 0 else ProxyResult(g.y.item() + rng.normal())
                fs.put(g.hash, {"good": good, "noise": ProxyResult(float(rng.normal()))})


def test_attach_features_by_hash_with_a_missing_mask(tmp_path):
    _fill_stores(tmp_path)
    fam = _family("nb101")
    values = attach_features(fam.graphs, "nb101", ["good", "noise"], store=tmp_path / "nb101.sqlite")
    assert values.shape == (40, 2) and np.isnan(values[0, 0]) and not np.isnan(values[1]).any()
    g0, g1 = fam.graphs[0], fam.graphs[1]
    assert g0.aux.shape == (1, 2) and g0.aux_mask.tolist() == [[0.0, 1.0]] and g1.aux_mask.tolist() == [[1.0, 1.0]]
    assert g1.aux[0, 0].item() == pytest.approx(values[1, 0])
    with pytest.raises(FileNotFoundError, match="python -m gennape.features family=nb301"):
        attach_features(fam.graphs, "nb301", ["good"], store=tmp_path / "missing.sqlite")


def test_train_with_features_writes_a_checkpoint_that_takes_them(tmp_path, monkeypatch):
    _fill_stores(tmp_path / "features")
    monkeypatch.setattr(store_mod, "DEFAULT_DIR", tmp_path / "features")
    monkeypatch.setattr(train_mod, "load_task", _family)
    res = train_mod.train(_cfg(tmp_path / "run", "model.aux_features=[good,noise]", "model.aux_scaling=train",
                               "eval.fine_tune.seeds=0", "eval.plots=false"))
    ckpt = load_checkpoint(tmp_path / "run" / "model.ckpt")
    assert ckpt.aux_features == ["good", "noise"] and ckpt.net.heads.aux_dim == 2 and ckpt.aux_scaling == "train"
    assert float(ckpt.net.heads.aux_std[1]) == pytest.approx(1.0, abs=0.3)  # fitted on the stored values
    assert {r["method"] for r in res["rows"]} >= {"gennape", "kgnn", "feature:good", "feature:noise"}
    good = next(r for r in res["rows"] if r["method"] == "feature:good" and r["family"] == "nb101")
    assert good["srcc"] > 0.5 and good["mae"] is None  # the informative feature ranks well
    assert res["info"]["train_size"] + res["info"]["val_size"] + res["info"]["test_size"] == 90
    only = train_mod.train(_cfg(tmp_path / "run2", "model.aux_features=[good,noise]", "eval.fine_tune.seeds=0",
                                "eval.plots=false", "data.featured_only=true", "eval.kgnn_baseline=false"))
    n = only["info"]["train_size"] + only["info"]["val_size"] + only["info"]["test_size"]
    assert n == 90 - len(range(0, 90, 7))  # every 7th has no 'good' value
    ckpt = load_checkpoint(tmp_path / "run2" / "model.ckpt")  # the default scaling: signed log, per network
    assert ckpt.aux_scaling == "log" and float(ckpt.net.heads.aux_std[1]) > 0
    assert train_mod.aux_features({"a": {"aux_features": ["x"], "aux_scaling": "train"},
                                   "b": {"aux_features": ["y", "x"], "aux_scaling": "train"},
                                   "c": {"aux_features": [], "aux_scaling": "set"}}) == (["x", "y"], "train")
    with pytest.raises(ValueError, match="one auxiliary-feature scaling"):
        train_mod.aux_features({"a": {"aux_features": ["x"], "aux_scaling": "train"},
                                "b": {"aux_features": ["x"], "aux_scaling": "set"}})


def test_feature_baselines_are_reported_where_stored(tmp_path, monkeypatch, capsys):
    """eval.feature_baselines: features no model reads, each alone, beside the models on families
    that hold them for every architecture, and on the part that holds them where a family holds
    them in part; the models and featured_only see their own features only."""
    _fill_stores(tmp_path / "features")
    with FeatureStore(tmp_path / "features" / "nb301.sqlite") as fs:  # 'partial': half of NB-301
        for g in _family("nb301").graphs[::2]:
            fs.put(g.hash, {"partial": ProxyResult(g.y.item())})
    with FeatureStore(tmp_path / "features" / "nb101.sqlite") as fs:  # and all of NB-101
        for g in _family("nb101").graphs:
            fs.put(g.hash, {"partial": ProxyResult(g.y.item())})
    monkeypatch.setattr(store_mod, "DEFAULT_DIR", tmp_path / "features")
    monkeypatch.setattr(train_mod, "load_task", _family)
    res = train_mod.train(_cfg(tmp_path / "run", "model.aux_features=[noise]", "eval.fine_tune.seeds=1",
                               "eval.plots=false", "eval.kgnn_baseline=false", "data.featured_only=true",
                               "eval.feature_baselines=[good,partial,absent]"))
    methods = {(r["family"], r["setting"], r["method"]) for r in res["rows"]}
    assert ("nb101", "zero-shot", "feature:partial") in methods
    assert ("nb101", "fine-tuned (10)", "feature:partial") in methods  # on the rest, beside the tuned models
    assert not any(s == "zero-shot" and f == "nb301" and m == "feature:partial" for f, s, m in methods)
    assert {m for f, s, m in methods if f == "nb301" and s == "zero-shot"} >= {"gennape", "feature:noise", "feature:good"}
    # NB-301's half with 'partial': every method again, on those 20 architectures only
    half = [r for r in res["rows"] if r["family"] == "nb301" and r["setting"] == "zero-shot, 20 with features"]
    assert {r["method"] for r in half} == {"gennape", "flops", "params", "feature:noise", "feature:good", "feature:partial"}
    partial = next(r for r in half if r["method"] == "feature:partial")
    assert partial["srcc"] == pytest.approx(1.0)  # the accuracy itself, on exactly the architectures that have it
    assert not any(f == "nb101" and s.startswith("zero-shot,") for f, s, _ in methods)
    assert not any(m == "feature:absent" for _, _, m in methods)
    out = capsys.readouterr().out
    assert "nb301: single-feature baselines partial stored for part of the family only: scored on the 20 of 40" in out
    assert "single-feature baselines skipped, not stored: absent" in out
    assert res["info"]["train_size"] + res["info"]["val_size"] + res["info"]["test_size"] == 90  # 'good' gaps ignored
    ckpt = load_checkpoint(tmp_path / "run" / "model.ckpt")
    assert ckpt.aux_features == ["noise"] and ckpt.net.heads.aux_dim == 1


def test_models_of_one_run_take_their_own_feature_subsets(tmp_path, monkeypatch):
    """One run, three feature sets: each model's heads read their own columns of the attached features."""
    _fill_stores(tmp_path / "features")
    monkeypatch.setattr(store_mod, "DEFAULT_DIR", tmp_path / "features")
    monkeypatch.setattr(train_mod, "load_task", _family)
    res = train_mod.train(_cfg(tmp_path / "run", "model.aux_features=[noise]", "eval.fine_tune.seeds=1",
                               "eval.plots=false", "eval.kgnn_baseline=false",
                               "+eval.variants.with-good.aux_features=[good,noise]",
                               "+eval.variants.no-features.aux_features=[]"))
    assert {r["method"] for r in res["rows"]} >= {"gennape", "with-good", "no-features", "feature:good",
                                                 "feature:noise"}
    ckpt = load_checkpoint(tmp_path / "run" / "model.ckpt")  # the main model's own features only
    assert ckpt.aux_features == ["noise"] and ckpt.net.heads.aux_dim == 1 and ckpt.net.aux_columns is None
    # attached in first-seen order [noise, good]: the variant reads columns [1, 0]
    net = build_net(aux_dim=2)
    g = _family("nb101").graphs[0]
    g.aux, g.aux_mask = torch.tensor([[3.0, 5.0]]), torch.tensor([[1.0, 0.0]])
    net.aux_columns = [1, 0]
    aux, mask = net.aux_inputs(g)
    assert aux.tolist() == [[5.0, 3.0]] and mask.tolist() == [[0.0, 1.0]]


def test_log_scaling_is_a_function_of_each_network_alone():
    values = np.array([[1e9, -5.0], [1e6, np.nan], [0.0, 5.0]])
    out = scale(values, "log")
    assert out[0].tolist() == pytest.approx([np.log1p(1e9), -np.log1p(5.0)]) and np.isnan(out[1, 1])
    assert np.allclose(scale(values[:1], "log"), out[:1])  # alone or in a set: the same row
    assert out[2, 0] == 0.0


def test_set_scaling_is_each_features_quantile_within_the_scored_set():
    values = np.array([[1e9, 5.0], [1e6, np.nan], [1e7, 5.0], [1e8, 1.0]])
    q = scale(values, "set")
    assert q[:, 0].tolist() == pytest.approx([0.875, 0.125, 0.375, 0.625])  # (rank - 0.5) / n
    assert np.isnan(q[1, 1]) and q[[0, 2, 3], 1].tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 6])  # ties share
    # Scale-free: a family 1000x larger gets the same inputs, so heads never extrapolate in size.
    assert np.allclose(scale(values * 1e3, "set"), q, equal_nan=True)
    assert np.allclose(scale(values, "train"), values, equal_nan=True)
    assert scale(values[:1], "set")[0].tolist() == [0.5, 0.5]  # a set of one sits in the middle
    with pytest.raises(KeyError, match="registered: train, log, set"):
        scale(values, "zscore")


def test_attach_features_with_set_scaling_keeps_the_feature_baselines_order(tmp_path):
    _fill_stores(tmp_path)
    fam = _family("nb101")
    raw = attach_features(fam.graphs, "nb101", ["good", "noise"], "set", store=tmp_path / "nb101.sqlite")
    scaled = np.array([g.aux[0].tolist() for g in fam.graphs])
    present = ~np.isnan(raw[:, 0])
    assert 0 < scaled[present, 0].min() and scaled[present, 0].max() < 1
    assert (np.argsort(scaled[present, 0]) == np.argsort(raw[present, 0])).all()


def _cnn(width: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def test_predict_computes_the_checkpoints_features_from_the_shipped_images(tmp_path):
    names = ["flops", "params", "synflow"]
    cgs = [from_module(_cnn(w), torch.randn(1, 3, 32, 32)) for w in (4, 8, 16)]
    values = compute_for_graphs(cgs, names)
    assert np.isfinite(values).all() and (np.diff(values[:, 1]) > 0).all()  # params grow with width
    graphs = []
    for cg, row in zip(cgs, values):
        d = record_to_data(graph_to_record(cg))
        d.y = torch.tensor([70.0 + row[1] / 1e3])
        d.aux, d.aux_mask = torch.tensor(row, dtype=torch.float32).view(1, -1), torch.ones(1, 3)
        graphs.append(d)
    model = {"hidden": 8, "num_layers": 1, "heads": 2, "head_hidden": 8, "aux_dim": 3}
    net = build_net(**model)
    fit_normalisers(net, graphs)
    fit_clusters(net, graphs)
    save_checkpoint(tmp_path / "aux.ckpt", net, model, aux_features=names)
    onnx = tmp_path / "m.onnx"
    torch.onnx.export(_cnn(8).eval(), (torch.randn(1, 3, 40, 40),), str(onnx), dynamo=False, opset_version=17)
    with_f = predict_files([onnx], tmp_path / "aux.ckpt")[0]
    without = predict_files([onnx], tmp_path / "aux.ckpt", features=False)[0]
    assert with_f.error is None and without.error is None
    assert with_f.score != pytest.approx(without.score)  # the features were used
    assert predict_cli.main([str(onnx), "--checkpoint", str(tmp_path / "aux.ckpt"), "--no-features"]) == 0
    # Set scaling: the checkpoint says so, and a file's features become quantiles among the files given.
    save_checkpoint(tmp_path / "set.ckpt", net, model, aux_features=names, aux_scaling="set")
    assert load_checkpoint(tmp_path / "set.ckpt").aux_scaling == "set"
    assert load_checkpoint(tmp_path / "aux.ckpt").aux_scaling == "train"
    wide = tmp_path / "wide.onnx"
    torch.onnx.export(_cnn(32).eval(), (torch.randn(1, 3, 40, 40),), str(wide), dynamo=False, opset_version=17)
    alone = predict_files([onnx], tmp_path / "set.ckpt")[0].score
    among = {Path(p.file).name: p.score for p in predict_files([onnx, wide], tmp_path / "set.ckpt")}
    assert among["m.onnx"] != pytest.approx(alone)  # alone it sits at quantile 0.5, with a wider one below it


def test_featured_only_follows_the_main_model_not_the_variants(tmp_path, monkeypatch):
    """A variant with a feature that has gaps trains on the main model's split (its gaps masked), so
    adding a variant to a run never changes the other models' architectures."""
    _fill_stores(tmp_path / "features")
    monkeypatch.setattr(store_mod, "DEFAULT_DIR", tmp_path / "features")
    monkeypatch.setattr(train_mod, "load_task", _family)
    common = ("model.aux_features=[noise]", "eval.fine_tune.seeds=0", "eval.plots=false",
              "eval.kgnn_baseline=false", "data.featured_only=true", "eval.feature_baselines=[]")
    res = train_mod.train(_cfg(tmp_path / "run", *common, "+eval.variants.with-good.aux_features=[noise,good]"))
    assert res["info"]["train_size"] + res["info"]["val_size"] + res["info"]["test_size"] == 90
    assert {"gennape", "with-good", "feature:good"} <= {r["method"] for r in res["rows"]}
    main_first = train_mod.train(_cfg(tmp_path / "run2", *common[1:], "model.aux_features=[good]"))
    assert main_first["info"]["train_size"] + main_first["info"]["val_size"] + main_first["info"]["test_size"] == 90 - 13


def test_features_of_a_file_are_cached_by_hash(tmp_path, monkeypatch) -> None:
    """A network's proxies are computed once: the next call reads them from the user's cache."""
    import gennape.features.catalog as catalog
    from gennape.spaces import get_space

    monkeypatch.setenv("GENNAPE_CACHE_DIR", str(tmp_path))
    cg = get_space("nb201").graph(get_space("nb201").sample(1, seed=3)[0])
    first = compute_for_graphs([cg], ["flops", "synflow"])

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached feature")

    monkeypatch.setattr(catalog, "compute_features", fail)
    again = compute_for_graphs([cg, cg], ["flops", "synflow"])
    assert np.array_equal(again, np.vstack([first, first]))
    assert list(tmp_path.glob("features-*.sqlite"))
