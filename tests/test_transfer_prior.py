"""The transfer study's parts: graph statistics, rankers fitted across tasks, nested
leave-one-family-out selection, and the zero-shot prior a checkpoint ships."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gennape.evaluation.nested import Candidate, family_report, nested_lofo
from gennape.graph.encoding import encode_arrays
from gennape.graph.fx_frontend import from_module
from gennape.graph.stats import GRAPH_STATS, graph_stats, longest_path
from gennape.model.rankers import consistent_signs, fit, fit_prior, signed_log
from gennape.runtime.prior import Prior
from tests.nets import cnn


def _stats(module: torch.nn.Module) -> dict[str, float]:
    a = encode_arrays(from_module(module.eval(), torch.randn(1, 3, 32, 32)))
    return dict(zip(GRAPH_STATS, graph_stats(a["op"], a["feat"], a["edge_index"], a["flops"][0], a["params"][0])))


def test_graph_stats_read_depth_width_and_operation_shares() -> None:
    shallow, deep, wide = _stats(cnn(16, 3)), _stats(cnn(16, 6)), _stats(cnn(64, 3))
    assert (shallow["weight_layers"], deep["weight_layers"]) == (4, 7)  # convs + the classifier
    assert (shallow["depth"], deep["depth"]) == (4, 7)
    assert shallow["conv3_share"] == pytest.approx(3 / 4) and shallow["linear_share"] == pytest.approx(1 / 4)
    assert wide["log_max_channels"] > shallow["log_max_channels"]
    assert wide["log_flops"] > shallow["log_flops"]
    assert shallow["flops_conv3"] + shallow["flops_linear"] == pytest.approx(1.0, abs=0.02)


def test_longest_path_counts_weights_on_the_heaviest_branch() -> None:
    # 0 -> 1 -> 3, 0 -> 2 -> 3: a diamond whose left branch holds two weights
    edges = np.array([[0, 0, 1, 2], [1, 2, 3, 3]])
    assert longest_path(np.array([0, 2, 1, 0]), edges) == 2
    assert longest_path(np.zeros(0, dtype=int), np.zeros((2, 0), dtype=int)) == 0


def _families(rng: np.random.Generator, n: int = 120) -> pd.DataFrame:
    """Three families: accuracy rises with ``good`` everywhere; ``flip`` helps in two of them and
    hurts in the third; each family sits at its own offset of every feature."""
    parts = []
    for k, (fam, sign) in enumerate([("a", 1.0), ("b", 1.0), ("c", -1.0)]):
        good, flip = rng.normal(size=n) + 3 * k, rng.normal(size=n) - 2 * k
        y = 60 + 5 * (good - 3 * k) + 4 * sign * (flip + 2 * k) + rng.normal(scale=0.5, size=n)
        parts.append(pd.DataFrame({"task": fam, "family": fam, "y": y, "good": good, "flip": flip,
                                   "log_flops": good}))
    return pd.concat(parts, ignore_index=True)


def test_linear_ranker_learns_within_task_order_whatever_each_task_offset() -> None:
    frame = _families(np.random.default_rng(0))
    train = frame[frame.family != "c"]
    r = fit("linear", train[["good"]].to_numpy(), train.y.to_numpy(), train.task.to_numpy(), train.family.to_numpy(),
            ["good"])
    test = frame[frame.family == "c"]
    assert family_report(test, r.score(test[["good"]].to_numpy()), ("good",))["srcc"] > 0.5


def test_sign_consistent_ranker_drops_a_feature_that_flips() -> None:
    frame = _families(np.random.default_rng(1))
    Z = signed_log(frame[["good", "flip"]].to_numpy())
    assert list(consistent_signs(Z, frame.y.to_numpy(), frame.task.to_numpy())) == [1.0, 0.0]
    r = fit("nnls", frame[["good", "flip"]].to_numpy(), frame.y.to_numpy(), frame.task.to_numpy(),
            frame.family.to_numpy(), ["good", "flip"])
    assert r.coef[0] > 0 and r.coef[1] == 0


def test_nested_selection_chooses_on_training_families_alone() -> None:
    """``flip`` helps the two families a fold trains on when c is held out, so only an inner
    fold holding out c (the folds for a and b) can see that it does not transfer."""
    frame = _families(np.random.default_rng(2))
    cands = [Candidate("good", "linear", ("good",)), Candidate("good + flip", "linear", ("good", "flip"))]
    res = nested_lofo(frame, cands, ["a", "b", "c"], log=lambda _: None)
    assert res.outer["a"]["choice"] == res.outer["b"]["choice"] == "good"  # their inner folds hold out c
    assert res.outer["c"]["choice"] == "good + flip"  # trained on a and b alone: nothing tells it
    assert res.every["c"]["good"]["srcc"] > res.every["c"]["good + flip"]["srcc"]
    assert set(res.inner["a"]) == {"good", "good + flip"} and len(res.inner["a"]["good"]) == 2


def test_a_shipped_prior_round_trips_and_scores_each_network_alone() -> None:
    frame = _families(np.random.default_rng(3))
    prior = fit_prior("flops", frame, ["log_flops"], gnn_weight=0.5)
    again = Prior.from_meta(json.loads(json.dumps(prior.to_meta())))
    X = frame[["log_flops"]].to_numpy()
    gnn = np.linspace(-1, 1, len(X))
    assert np.allclose(again.blend(again.prior_scores(X), gnn), prior.blend(prior.prior_scores(X), gnn))
    alone = prior.prior_scores(X[:1])
    assert alone[0] == pytest.approx(prior.prior_scores(X)[0])
    within = [np.std(prior.prior_scores(X[frame.task.to_numpy() == t])) for t in "abc"]
    assert np.mean(within) == pytest.approx(1.0, rel=1e-6)  # in the GNN's units: one within-task std
    with pytest.raises(ValueError, match="not graph statistics"):
        Prior("bad", ("synflow",), (1.0,), (0.0,), 0.0, 1.0)
