import dataclasses

import pytest
import torch

from gennape.evaluation.finetune_cache import FILE_NAME, FinetuneCache, entry_key, inputs_fingerprint
from gennape.model.pipeline import FinetuneConfig
from gennape.model.predictor import build_net
from gennape.model.synthetic import synthetic_graphs


def _with_aux(graphs, columns):
    for i, g in enumerate(graphs):
        g.aux = torch.arange(columns, dtype=torch.float32).reshape(1, -1) + i
        g.aux_mask = torch.ones(1, columns, dtype=torch.bool)
    return graphs


def test_keys_change_with_everything_the_scores_depend_on():
    graphs = synthetic_graphs(6, seed=0)
    net = build_net(hidden=8, num_layers=1, heads=2)
    cfg, trainer = FinetuneConfig(samples=3, epochs=2), {"max_epochs": 2}
    fp = inputs_fingerprint(net, graphs)
    key = entry_key(fp, cfg, trainer, 0)
    assert key == entry_key(inputs_fingerprint(net, synthetic_graphs(6, seed=0)), cfg, trainer, 0)
    assert key == entry_key(fp, dataclasses.replace(cfg, seeds=9), trainer, 0)  # the seed count is not part
    others = [entry_key(inputs_fingerprint(build_net(hidden=8, num_layers=1, heads=2, seed=1), graphs), cfg, trainer, 0),
              entry_key(inputs_fingerprint(net, graphs[:5]), cfg, trainer, 0),
              entry_key(fp, dataclasses.replace(cfg, lr=3e-3), trainer, 0),
              entry_key(fp, cfg, {"max_epochs": 3}, 0),
              entry_key(fp, cfg, trainer, 1)]
    assert key not in others and len(set(others)) == len(others)
    graphs[2].y = graphs[2].y + 1.0  # another label
    assert inputs_fingerprint(net, graphs) != fp
    with torch.no_grad():  # other target statistics
        net.transform.mean += 1.0
    assert inputs_fingerprint(net, synthetic_graphs(6, seed=0)) != fp


def test_features_count_only_where_the_model_reads_them():
    net = build_net(hidden=8, num_layers=1, heads=2, aux_dim=2)
    net.aux_columns = [0, 1]
    graphs = _with_aux(synthetic_graphs(4, seed=0), 3)
    fp = inputs_fingerprint(net, graphs)
    for g in graphs:
        g.aux[0, 2] = 99.0  # a column attached for another model
    assert inputs_fingerprint(net, graphs) == fp
    graphs[1].aux[0, 0] = -1.0
    assert inputs_fingerprint(net, graphs) != fp


def test_cache_survives_reopening_and_refuses_a_broken_file(tmp_path):
    cache = FinetuneCache(tmp_path / "model")
    assert cache.get("k") is None and len(cache) == 0
    cache.put("k", {"srcc": 0.5, "mae": None}, "nb101, seed 0")
    assert not list((tmp_path / "model").glob("*.tmp"))
    again = FinetuneCache(tmp_path / "model")
    assert again.get("k") == {"srcc": 0.5, "mae": None} and len(again) == 1
    (tmp_path / "model" / FILE_NAME).write_text("{torn")
    with pytest.raises(SystemExit, match="delete it to recompute"):
        FinetuneCache(tmp_path / "model")
