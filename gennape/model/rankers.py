"""Rankers over per-network features, fitted across tasks so that each learns what orders networks
*within* a task: a network's score is a function of its own features alone.

- ``linear``: ridge regression of the within-task normal quantiles of accuracy on within-task
  centred features. Centring removes each task's offsets (its resolution, its width band), so the
  weights say how much more a network of a task gains per unit of each feature; a new family's
  offsets add one constant to all its scores and leave the ranking alone.
- ``lgbm``: a LightGBM LambdaRank forest, each query a random 64 networks of one task.

Features go through ``sign(v) log(1 + |v|)`` first (counts, proxies spanning decades); a missing
value takes the training mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gennape.core.registry import Registry
from gennape.runtime.auxiliary import quantiles, signed_log
from gennape.runtime.prior import Prior

if TYPE_CHECKING:
    import pandas as pd

QUERY = 64


def rank_gauss(y: np.ndarray) -> np.ndarray:
    """Normal quantiles of the ranks of ``y`` (ties share their mean rank)."""
    from scipy.special import ndtri

    return ndtri(quantiles(np.asarray(y, dtype=np.float64)))


def task_weights(tasks: np.ndarray, families: np.ndarray) -> np.ndarray:
    """Each network's weight: every family weighs the same, split equally among its tasks."""
    w = np.zeros(len(tasks))
    fams = np.unique(families)
    for f in fams:
        ft = np.unique(tasks[families == f])
        for t in ft:
            m = tasks == t
            w[m] = 1.0 / (len(fams) * len(ft) * m.sum())
    return w * len(tasks)


@dataclass
class Ranker:
    """A fitted ranker: ``score(X)`` is higher for networks predicted more accurate."""

    kind: str
    columns: list[str]
    mean: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    coef: np.ndarray | None = None
    booster: Any = None

    def prepared(self, X: np.ndarray) -> np.ndarray:
        Z = signed_log(np.asarray(X, dtype=np.float64))
        return np.where(np.isfinite(Z), Z, self.mean)

    def score(self, X: np.ndarray) -> np.ndarray:
        if self.coef is not None:
            return self.prepared(X) @ self.coef
        return self.booster.predict(signed_log(np.asarray(X, dtype=np.float64)))  # LightGBM reads NaN as missing


Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], dict[str, Any]], Ranker]
_RANKERS: Registry[Fit] = Registry("ranker")


def _centred(Z: np.ndarray, tasks: np.ndarray) -> np.ndarray:
    out = Z.copy()
    for t in np.unique(tasks):
        m = tasks == t
        out[m] -= Z[m].mean(0)
    return out


def _imputed(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed-log features with a missing value set to the feature's mean, and those means."""
    Z = signed_log(X)
    mean = np.nanmean(Z, 0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    return np.where(np.isfinite(Z), Z, mean), mean


def _standardised(Z: np.ndarray, tasks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Within-task centred features in units of their standard deviation, and that deviation."""
    Zc = _centred(Z, tasks)
    scale = Zc.std(0) + 1e-9
    return Zc / scale, scale


def _task_targets(y: np.ndarray, tasks: np.ndarray) -> np.ndarray:
    """Each network's normal quantile of accuracy within its task."""
    out = np.empty(len(y))
    for t in np.unique(tasks):
        out[tasks == t] = rank_gauss(y[tasks == t])
    return out


@_RANKERS.register("linear")
def fit_linear(X: np.ndarray, y: np.ndarray, tasks: np.ndarray, families: np.ndarray, columns: list[str],
               params: dict[str, Any]) -> Ranker:
    Z, mean = _imputed(X)
    Zc, scale = _standardised(Z, tasks)
    w = task_weights(tasks, families)
    alpha = float(params.get("alpha", 10.0))
    A = Zc.T @ (Zc * w[:, None]) + alpha * np.eye(Z.shape[1])
    coef = np.linalg.solve(A, Zc.T @ (w * _task_targets(y, tasks))) / scale
    return Ranker("linear", list(columns), mean, dict(params), coef=coef)


def consistent_signs(Z: np.ndarray, y: np.ndarray, tasks: np.ndarray, min_rho: float = 0.0) -> np.ndarray:
    """Each feature's sign if its Spearman with ``y`` has that sign (beyond ``min_rho``) on every
    task where it varies, else 0."""
    from scipy.stats import spearmanr

    signs = np.zeros(Z.shape[1])
    for j in range(Z.shape[1]):
        rhos = []
        for t in np.unique(tasks):
            m = (tasks == t) & np.isfinite(Z[:, j])
            if m.sum() >= 10 and np.ptp(Z[m, j]) > 0:
                rhos.append(spearmanr(Z[m, j], y[m])[0])
        rhos = np.asarray(rhos)
        if len(rhos) and (rhos > min_rho).all():
            signs[j] = 1.0
        elif len(rhos) and (rhos < -min_rho).all():
            signs[j] = -1.0
    return signs


@_RANKERS.register("nnls")
def fit_nnls(X: np.ndarray, y: np.ndarray, tasks: np.ndarray, families: np.ndarray, columns: list[str],
             params: dict[str, Any]) -> Ranker:
    """The features whose sign holds on every training task, oriented by it, with non-negative
    weights (least squares on within-task centred values; ``equal``: the same weight each)."""
    from scipy.optimize import nnls

    signs = consistent_signs(signed_log(X), y, tasks, float(params.get("min_rho", 0.0)))
    Z, mean = _imputed(X)
    Zc, scale = _standardised(Z, tasks)
    if params.get("equal"):
        coef = signs / scale
    else:
        sw = np.sqrt(task_weights(tasks, families))
        alpha = float(params.get("alpha", 1.0))
        A = np.vstack([Zc * signs * sw[:, None], np.sqrt(alpha) * np.eye(Z.shape[1])])
        b = np.concatenate([_task_targets(y, tasks) * sw, np.zeros(Z.shape[1])])
        w, _ = nnls(A, b)
        coef = w * signs / scale
    return Ranker("nnls", list(columns), mean, dict(params), coef=coef)


@_RANKERS.register("lgbm")
def fit_lgbm(X: np.ndarray, y: np.ndarray, tasks: np.ndarray, families: np.ndarray, columns: list[str],
             params: dict[str, Any]) -> Ranker:
    import lightgbm as lgb

    Z = signed_log(X)  # LightGBM reads NaN as missing
    _, mean = _imputed(X)
    rng = np.random.default_rng(int(params.get("seed", 0)))
    w_all = task_weights(tasks, families)
    rows, groups, labels, gw = [], [], [], []
    for t in np.unique(tasks):
        idx = rng.permutation(np.flatnonzero(tasks == t))
        q = rank_gauss(y[idx])
        grade = np.clip(((q + 2.5) / 5.0 * 10).astype(int), 0, 9)  # 10 relevance grades
        for s in range(0, len(idx) - 1, QUERY):
            part = idx[s:s + QUERY]
            rows.append(part)
            labels.append(grade[s:s + QUERY])
            groups.append(len(part))
            gw.append(w_all[part[0]])
    order = np.concatenate(rows)
    data = lgb.Dataset(Z[order], np.concatenate(labels), group=groups, weight=np.repeat(gw, groups))
    booster = lgb.train({"objective": "lambdarank", "learning_rate": float(params.get("lr", 0.05)),
                         "num_leaves": int(params.get("leaves", 15)), "min_data_in_leaf": int(params.get("min_leaf", 50)),
                         "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8,
                         "lambdarank_truncation_level": QUERY, "seed": int(params.get("seed", 0)), "num_threads": 2,
                         "verbose": -1}, data, num_boost_round=int(params.get("trees", 200)))
    return Ranker("lgbm", list(columns), mean, dict(params), booster=booster)


def fit(kind: str, X: np.ndarray, y: np.ndarray, tasks: Sequence[str], families: Sequence[str],
        columns: list[str], params: dict[str, Any] | None = None) -> Ranker:
    """Fit the registered ranker ``kind`` on networks ``X`` of several tasks."""
    return _RANKERS.get(kind)(np.asarray(X, float), np.asarray(y, float), np.asarray(tasks),
                              np.asarray(families), columns, dict(params or {}))


def within_task_std(frame: "pd.DataFrame", scores: np.ndarray) -> float:
    """The mean over ``frame``'s tasks of the standard deviation of ``scores`` within each."""
    return float(np.mean([np.std(scores[idx]) for idx in frame.groupby("task", sort=False).indices.values()]) + 1e-9)


def fit_prior(name: str, frame: "pd.DataFrame", columns: Sequence[str], kind: str = "linear", params: Mapping[str, Any] | None = None,
              gnn_weight: float = 0.0, info: Mapping[str, Any] | None = None) -> Prior:
    """Fit a linear :class:`Prior` on a corpus table (``gennape.evaluation.transfer_table``): the ranker
    ``kind`` on every task of ``frame``, centred and scaled on them."""
    cols = list(columns)
    r = fit(kind, frame[cols].to_numpy(float), frame["y"].to_numpy(float), frame["task"].to_numpy(),
            frame["family"].to_numpy(), cols, dict(params or {}))
    if r.coef is None:
        raise ValueError(f"{name}: a shipped prior is linear; {kind} has no coefficients")
    raw = r.score(frame[cols].to_numpy(float))
    return Prior(name, tuple(cols), tuple(float(c) for c in r.coef), tuple(float(m) for m in r.mean),
                 float(np.mean(raw)), within_task_std(frame, raw), float(gnn_weight), dict(info or {}))


def training_prior(spec: Mapping[str, Any], tasks: Sequence[tuple[str, Sequence[Any], np.ndarray]]) -> Prior:
    """The zero-shot prior a training run ships (``model.prior`` of its config: ``name``, ``kind``,
    ``columns``, ``gnn_weight``, optional ``params``), fitted on its training networks: one
    ``(task key, encoded graphs, published accuracies)`` per training task."""
    import pandas as pd

    from gennape.graph.stats import GRAPH_STATS, graph_stats

    frames = []
    for key, graphs, y in tasks:
        stats = np.stack([graph_stats(d.op.numpy(), d.feat.numpy(), d.edge_index.numpy(), float(d.flops), float(d.params))
                          for d in graphs])
        frame = pd.DataFrame(stats, columns=list(GRAPH_STATS))
        frame["task"], frame["family"], frame["y"] = key, key.partition("/")[0], np.asarray(y, dtype=np.float64)
        frames.append(frame)
    return fit_prior(str(spec["name"]), pd.concat(frames, ignore_index=True), list(spec["columns"]),
                     str(spec.get("kind", "linear")), dict(spec.get("params") or {}), float(spec.get("gnn_weight", 0.0)),
                     {"tasks": [k for k, _, _ in tasks]})
