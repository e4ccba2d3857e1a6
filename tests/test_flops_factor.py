"""benchmarks/flops_factor.py: GENNAPE's prediction taken apart into residual and FLOPs factor."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from flops_factor import flops_groups, parts, within_groups  # noqa: E402

from gennape.model import pipeline as P  # noqa: E402
from gennape.model.metrics import srcc  # noqa: E402
from gennape.model.predictor import build_net  # noqa: E402
from gennape.model.synthetic import synthetic_graphs  # noqa: E402


def _fitted(divide_by_flops: bool):
    graphs = synthetic_graphs(40, seed=0)
    net = build_net(hidden=8, num_layers=1, heads=2, head_hidden=8, divide_by_flops=divide_by_flops)
    P.fit_normalisers(net, graphs)
    P.fit_clusters(net, graphs)
    return net, graphs


def test_parts_score_the_prediction_the_residual_and_flops():
    net, graphs = _fitted(True)
    out = parts(net, graphs)
    y = [g.y.item() for g in graphs]
    assert out["architectures"] == 40
    assert out["srcc_prediction"] == round(srcc(y, P.predict(net, graphs)), 3)
    assert out["srcc_flops"] == round(srcc(y, [g.flops.item() for g in graphs]), 3)
    assert 1.0 <= out["factor_min"] <= out["factor_max"]
    assert len(out["srcc_residual_within_flops_quintiles"]) == 5


def test_within_groups_ranks_inside_groups_of_the_key():
    import numpy as np

    by = np.arange(20.0)  # groups of 4 consecutive values; the score agrees with y in the first, not the last
    y = np.r_[np.arange(4.0), np.zeros(12), np.arange(4.0)]
    score = np.r_[np.arange(4.0), np.arange(12.0), -np.arange(4.0)]
    out = within_groups(score, y + np.r_[np.zeros(4), np.arange(12.0) % 3, np.zeros(4)], flops_groups(by))
    assert out[0] == 1.0 and out[-1] == -1.0 and len(out) == 5


def test_parts_refuse_a_model_without_the_flops_factor():
    net, graphs = _fitted(False)
    with pytest.raises(SystemExit, match="does not divide by FLOPs"):
        parts(net, graphs)
