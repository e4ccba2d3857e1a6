"""The multi-task corpus: task keys, label normalisation, task weights, size features, within-task
losses and metrics, and the leave-one-family-out summary."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from gennape.evaluation import lofo
from gennape.evaluation.evaluate import within_flops_srcc
from gennape.model.corpus import (expand_keys, normalise_labels, parse_key, sample_weights, task_key,
                                  task_weights)
from gennape.model.predictor import pairwise_rank_loss
from gennape.model.size import depth, size_features, size_fit, weight_layers
from gennape.model.synthetic import synthetic_graphs


def test_task_keys_name_the_default_task_by_its_family():
    assert parse_key("nb201") == ("nb201", None) and parse_key("nb201/cifar10") == ("nb201", None)
    assert parse_key("nb201/cifar100") == ("nb201", "cifar100")
    assert task_key("nb201", "cifar10") == "nb201" and task_key("nb201", "imagenet16") == "nb201/imagenet16"
    assert expand_keys(["nb201/*", "nb101", "nb201"]) == ["nb201", "nb201/cifar100", "nb201/imagenet16", "nb101"]
    with pytest.raises(KeyError, match="cifar100"):
        parse_key("nb201/cifar1000")


def test_rank_gauss_keeps_order_and_gives_every_task_one_distribution():
    a = normalise_labels(np.array([10.0, 90.0, 91.0, 91.5, 92.0]), "rank_gauss")
    b = normalise_labels(np.array([40.1, 40.2, 40.3, 40.4, 47.0]), "rank_gauss")
    assert np.all(np.diff(a) > 0) and np.allclose(a, b)  # only the ranks count
    assert abs(a.mean()) < 1e-12 and np.allclose(a, -a[::-1])
    q = normalise_labels(np.array([3.0, 1.0, 2.0, 2.0]), "quantile")
    assert np.allclose(q, [0.875, 0.125, 0.5, 0.5])  # ties share their rank
    assert np.array_equal(normalise_labels(np.array([1.0, 5.0]), "raw"), [1.0, 5.0])
    with pytest.raises(KeyError):
        normalise_labels(np.ones(3), "zscore-across-tasks")


def test_task_weights_split_a_family_share_among_its_tasks():
    w = task_weights({"nb201": 2400, "nb201/cifar100": 2400, "nb101": 400}, alpha=0.5)
    assert w["nb201"] == pytest.approx(w["nb201/cifar100"]) and sum(w.values()) == pytest.approx(1.0)
    assert (w["nb201"] * 2) / w["nb101"] == pytest.approx((2400 / 400) ** 0.5)
    equal = task_weights({"a": 10, "b": 1000}, alpha=0.0)
    assert equal["a"] == pytest.approx(0.5)
    p = sample_weights([0, 0, 0, 1], [0.5, 0.5])
    assert np.allclose(p, [1 / 6, 1 / 6, 1 / 6, 0.5])


def test_ranking_loss_never_compares_two_tasks():
    pred = torch.tensor([0.0, 1.0, 5.0, 4.0])
    true = torch.tensor([0.0, 1.0, 90.0, 80.0])
    task = torch.tensor([0, 0, 1, 1])
    shift = torch.tensor([0.0, 0.0, -100.0, -100.0])  # task 1 moved below task 0, labels and scores
    within = pairwise_rank_loss(pred, true, task)
    assert torch.isclose(within, pairwise_rank_loss(pred + shift, true + shift, task))
    assert not torch.isclose(pairwise_rank_loss(pred, true), pairwise_rank_loss(pred + shift, true + shift))
    assert pairwise_rank_loss(torch.tensor([0.0, 1.0, 4.0, 5.0]), true, task) > within  # task 1 put wrong


def test_size_features_count_weight_layers_along_the_longest_path():
    graphs = synthetic_graphs(6, seed=3)
    feats = size_features(graphs)
    assert feats.shape == (6, 4)
    for g, f in zip(graphs, feats):
        assert f[2] == weight_layers(g) and f[3] == depth(g) and 1 <= f[3] <= f[2]
        assert f[0] == pytest.approx(np.log10(float(g.flops) + 1))
    batch = Batch.from_data_list(graphs)  # the cached column batches like any other
    assert batch.size_feat.shape == (6, 4)


def test_size_fit_recovers_a_linear_size_law():
    graphs = synthetic_graphs(30, seed=4)
    f = size_features(graphs)
    y = 50 + 3 * f[:, 0] + 0.5 * f[:, 2]
    pred = size_fit(graphs[:20], y[:20], graphs[20:])
    assert np.allclose(pred, y[20:], atol=1e-6)


def test_within_flops_srcc_sees_past_compute():
    rng = np.random.default_rng(0)
    flops = rng.uniform(1, 100, 500)
    skill = rng.normal(size=500)
    y = np.log(flops) + skill
    assert within_flops_srcc(y, flops, flops) < 0.35  # FLOPs alone knows little within a bin
    assert within_flops_srcc(y, skill, flops) > 0.8


def test_lofo_summary_averages_tasks_and_checks_the_targets():
    def row(fam, setting, method, srcc, mae=None):
        return {"family": fam, "setting": setting, "method": method, "srcc": srcc, "mae": mae}

    rows = [row("nb201", "zero-shot", "gennape", 0.9), row("nb201/cifar100", "zero-shot", "gennape", 0.7),
            row("nb201", "zero-shot", "flops", 0.75), row("nb201/cifar100", "zero-shot", "flops", 0.79),
            row("nb201", "zero-shot", "params", 0.7), row("nb201", "zero-shot", "weight_layers", 0.6),
            row("nb101", "zero-shot", "gennape", 0.6), row("nb101", "zero-shot", "params", 0.72),
            row("nb101", "fine-tuned (8)", "gennape", 0.5, 2.0), row("nb101", "fine-tuned (8)", "size_fit", 0.4, 3.0),
            row("nb101", "fine-tuned (50)", "gennape", 0.8, 1.0), row("nb101", "fine-tuned (50)", "size_fit", 0.7, 1.5)]
    s = lofo.summarise(rows, ["nb201", "nb101"])
    assert s["nb201"]["zero_shot"]["gennape"] == pytest.approx(0.8) and s["nb201"]["tasks"] == ["nb201", "nb201/cifar100"]
    assert s["nb201"]["margin"] == pytest.approx(0.8 - 0.77)
    assert s["nb101"]["margin"] == pytest.approx(-0.12)
    assert list(s["nb101"]["fine_tuned"]) == ["fine-tuned (8)", "fine-tuned (50)"]
    checks = dict(lofo.targets(s))
    assert any("1 of 2" in t for t in checks)
    assert checks["nb101 zero-shot SRCC 0.600 (target 0.75)"] is False
    assert checks["nb101 fine-tuned (50) SRCC 0.800 against the size fit 0.700"] is True
    md = lofo.markdown(s)
    assert "| nb201 | 2 | 0.800 |" in md and "missed: nb101 zero-shot" in md
