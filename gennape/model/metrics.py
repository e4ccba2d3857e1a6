"""Ranking and regression metrics of the evaluation protocol: SRCC, Kendall tau, NDCG@k, MAE.

All take true and predicted values as 1-D array-likes of equal length. NDCG uses the relevance
of GENNAPE's protocol: the true accuracy min-max scaled to [0, 20] over the scored set, with
linear gain and tie-averaged ranks (the convention of scikit-learn's ``ndcg_score``), so a
predictor that outputs many equal scores (FLOPs in NB-201) is not rewarded for an arbitrary
tie order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

from gennape.core.registry import Registry

ArrayLike = np.ndarray | list[float]
Metric = Callable[[np.ndarray, np.ndarray], float]

_METRICS: Registry[Metric] = Registry("metric")
register_metric = _METRICS.register  # decorator adding ``fn(y_true, y_pred) -> float``
get_metric = _METRICS.get
list_metrics = _METRICS.names


def _check(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    if t.size < 2:
        raise ValueError(f"need at least 2 values to score, got {t.size}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError("y_true and y_pred must be finite (found NaN or inf)")
    return t, p


@register_metric("srcc")
def srcc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Spearman rank correlation (0 when either side is constant)."""
    t, p = _check(y_true, y_pred)
    if np.ptp(t) == 0 or np.ptp(p) == 0:
        return 0.0
    return float(stats.spearmanr(t, p).statistic)


@register_metric("kendall")
def kendall(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Kendall tau-b (0 when either side is constant)."""
    t, p = _check(y_true, y_pred)
    if np.ptp(t) == 0 or np.ptp(p) == 0:
        return 0.0
    return float(stats.kendalltau(t, p).statistic)


def relevance(y_true: ArrayLike, top: float = 20.0) -> np.ndarray:
    """Accuracy min-max scaled to ``[0, top]`` (all zeros for a constant vector)."""
    t = np.asarray(y_true, dtype=np.float64).ravel()
    span = np.ptp(t)
    return np.zeros_like(t) if span == 0 else (t - t.min()) / span * top


def _tie_averaged_dcg(rel: np.ndarray, score: np.ndarray, discount: np.ndarray) -> float:
    """DCG where items with equal scores share the mean gain of their block of positions."""
    order = np.argsort(-score, kind="stable")
    s, r = score[order], rel[order]
    dcg, start = 0.0, 0
    boundaries = np.flatnonzero(np.diff(s)) + 1
    for end in [*boundaries.tolist(), len(s)]:
        dcg += r[start:end].mean() * discount[start:end].sum()
        start = end
    return float(dcg)


def ndcg_at_k(y_true: ArrayLike, y_pred: ArrayLike, k: int = 10) -> float:
    """NDCG@k with relevance = accuracy min-max scaled to [0, 20].

    Args:
        y_true: true accuracies.
        y_pred: predicted scores (higher = better).
        k: cut-off.
    """
    t, p = _check(y_true, y_pred)
    rel = relevance(t)
    discount = 1.0 / np.log2(np.arange(len(t)) + 2.0)
    discount[k:] = 0.0
    ideal = float(np.sort(rel)[::-1] @ discount)
    if ideal == 0:
        return 0.0
    return _tie_averaged_dcg(rel, p, discount) / ideal


@register_metric("ndcg10")
def ndcg10(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """NDCG@10 (see :func:`ndcg_at_k`)."""
    return ndcg_at_k(y_true, y_pred, 10)


@register_metric("mae")
def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, in the unit of the inputs (accuracy points)."""
    t, p = _check(y_true, y_pred)
    return float(np.abs(t - p).mean())


RANKING_METRICS = ("srcc", "kendall", "ndcg10")


def score(y_true: ArrayLike, y_pred: ArrayLike, metrics: tuple[str, ...] | None = None) -> dict[str, float]:
    """All (or the named) registered metrics as a dict.

    Args:
        y_true: true accuracies.
        y_pred: predictions; for score-only baselines (FLOPs) pass ``metrics=RANKING_METRICS``.
        metrics: names to compute; default all registered.
    """
    return {name: get_metric(name)(y_true, y_pred) for name in (metrics or list_metrics())}
