import numpy as np
import pytest

from gennape.model.metrics import kendall, list_metrics, mae, ndcg_at_k, relevance, score, srcc


def test_rank_correlations_perfect_and_reversed():
    y = np.arange(20.0)
    assert srcc(y, y * 3 + 1) == pytest.approx(1.0)
    assert srcc(y, -y) == pytest.approx(-1.0)
    assert kendall(y, np.exp(y / 5)) == pytest.approx(1.0)
    assert srcc(y, np.ones(20)) == 0.0


def test_ndcg_hand_computed():
    y = np.array([90.0, 80.0, 70.0, 60.0])  # relevance 20, 13.33, 6.67, 0
    rel = relevance(y)
    np.testing.assert_allclose(rel, [20, 40 / 3, 20 / 3, 0])
    disc = 1 / np.log2(np.arange(4) + 2)
    # Predicting the order 2nd, 1st, 4th, 3rd best, top-2 cut-off.
    pred = np.array([3.0, 4.0, 1.0, 2.0])
    expected = (rel[1] * disc[0] + rel[0] * disc[1]) / (rel[0] * disc[0] + rel[1] * disc[1])
    assert ndcg_at_k(y, pred, k=2) == pytest.approx(expected)
    assert ndcg_at_k(y, y, k=2) == pytest.approx(1.0)


def test_ndcg_ties_are_averaged_not_ordered():
    y = np.array([90.0, 80.0, 70.0, 60.0])
    const = np.zeros(4)
    # All tied: every position gets the mean relevance, whatever the input order.
    disc = 1 / np.log2(np.arange(4) + 2)
    rel = relevance(y)
    expected = rel.mean() * disc.sum() / (np.sort(rel)[::-1] @ disc)
    assert ndcg_at_k(y, const, k=10) == pytest.approx(expected)
    assert ndcg_at_k(y[::-1], const, k=10) == pytest.approx(expected)


def test_score_all_and_errors():
    y, p = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0])
    s = score(y, p)
    assert set(s) == set(list_metrics())
    assert s["mae"] == pytest.approx(mae(y, p)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="y_pred has 2"):
        srcc(y, [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        mae([1.0, np.nan], [1.0, 2.0])
