"""The predictor side of predictor-guided search.

1. :func:`score_records`: a checkpoint's zero-shot score, head spread and pooled GNN embedding of
   every architecture of a table, with the numpy runtime (``gennape.runtime.net.Runtime``), the
   auxiliary features the ``--no-features`` way: FLOPs and params read off the graph, the proxies
   and NNGP missing (the heads were trained to handle that), so every architecture is scored the
   same way whether or not a feature store holds it.
2. :class:`Surrogate`: what the search refits on the labels it has bought. Not a fine-tuning of the
   GNN (the ``--labels`` path takes seconds per refit): Bayesian linear regression on frozen
   features of each architecture, the zero-shot score, the top principal components of the GNN
   embedding, log FLOPs and log params, with its two variances chosen by the marginal likelihood
   on a small grid. Labels enter as the normal quantiles of their ranks among the labels bought
   (the corpus's ``rank_gauss``), so a broken network at 10 % does not dominate the fit. One refit
   and prediction over NB-201's 15,625 cells takes a few milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri

EMBED_COMPONENTS = 16  # principal components of the GNN embedding kept as surrogate features


def score_records(checkpoint: str | os.PathLike, records: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-shot ``score``, ``uncertainty`` ``[N]`` and pooled embedding ``[N, D]`` of graph
    records (``gennape.model.dataset.encode_specs``) under ``checkpoint``.

    The embedding is the encoder's pooled output (what the heads read), computed with the
    runtime's own stages (``Runtime._node_states`` and ``_pool``)."""
    from gennape.inference.predict import load_predictor
    from gennape.runtime.auxiliary import GRAPH_FEATURES, aux_row, scale
    from gennape.runtime.net import Runtime, _Workspace

    predictor = load_predictor(checkpoint)
    if not isinstance(predictor, Runtime):
        raise ValueError(f"{checkpoint}: predictor-guided search needs a checkpoint the numpy runtime runs")
    encoded = []
    names = list(predictor.aux_features)
    values = np.full((len(records), len(names)), np.nan)
    for j, n in enumerate(names):
        if n in GRAPH_FEATURES:
            values[:, j] = [float(r[n]) for r in records]
    values = scale(values, predictor.aux_scaling) if names else values
    for r, row in zip(records, values):
        enc = {k: np.asarray(r[k].numpy() if hasattr(r[k], "numpy") else r[k]) for k in ("op", "feat", "edge_index")}
        enc["flops"] = np.array([float(r["flops"])])
        if names:
            enc["aux"], enc["aux_mask"] = aux_row(row)
        encoded.append(enc)
    res = predictor.predict(encoded)
    ws, parts = _Workspace(), []
    for i in range(0, len(encoded), 64):
        batch = encoded[i:i + 64]
        counts = np.array([g["op"].shape[0] for g in batch])
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        offsets = np.repeat(starts, [g["edge_index"].shape[1] for g in batch])
        op = np.concatenate([g["op"] for g in batch])
        feat = np.concatenate([g["feat"] for g in batch]).astype(np.float32)
        edges = np.concatenate([g["edge_index"] for g in batch], axis=1) + offsets
        parts.append(np.array(predictor._pool(predictor._node_states(op, feat, edges, starts, counts, ws),
                                              starts, counts)))
    return res["score"].astype(float), res["uncertainty"].astype(float), np.concatenate(parts).astype(np.float32)


def rank_gauss(y: np.ndarray) -> np.ndarray:
    """Normal quantiles of the ranks of ``y`` (ties share their mean rank)."""
    from gennape.runtime.auxiliary import quantiles

    return ndtri(quantiles(np.asarray(y, float)))


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def surrogate_features(score: np.ndarray | None, embedding: np.ndarray | None, flops: np.ndarray,
                       params: np.ndarray, components: int = EMBED_COMPONENTS) -> np.ndarray:
    """Standardised features ``[N, D]``: zero-shot score, the embedding's top principal components
    (whitened), log FLOPs, log params (whichever exist)."""
    cols = []
    if score is not None:
        cols.append(np.asarray(score, float)[:, None])
    if embedding is not None and components > 0:
        e = np.asarray(embedding, float)
        e = e - e.mean(0)
        k = min(components, e.shape[1], max(1, len(e) - 1))
        # principal directions from a subsample (fast and deterministic)
        sub = e[:: max(1, len(e) // 4000)]
        _, s, vt = np.linalg.svd(sub, full_matrices=False)
        keep = s[:k] > s[0] * 1e-6
        cols.append(e @ vt[:k][keep].T)
    cols += [np.log(np.maximum(flops, 1.0))[:, None], np.log(np.maximum(params, 1.0))[:, None]]
    return _standardise(np.concatenate(cols, axis=1))


class Surrogate:
    """Bayesian linear regression on fixed features ``phi`` ``[N, D]`` of every candidate.

    ``fit(rows, y)`` on the labels bought so far; ``predict()`` gives the posterior mean and
    standard deviation (noise excluded) of every candidate, in rank-gauss units of the bought
    labels. The prior variance of the first ``free`` weights (intercept, zero-shot score) is
    large, the rest share a variance chosen with the noise by the marginal likelihood."""

    PRIOR_GRID = (0.01, 0.03, 0.1, 0.3)
    NOISE_GRID = (0.05, 0.15, 0.4)

    def __init__(self, phi: np.ndarray, free: int = 1) -> None:
        self.phi = np.concatenate([np.ones((len(phi), 1)), phi], axis=1)
        self.free = 1 + free
        self.mean = np.zeros(len(phi))
        self.std = np.ones(len(phi))

    def fit(self, rows: np.ndarray, y: np.ndarray) -> None:
        from scipy.linalg import cho_factor, cho_solve, solve_triangular

        x, t = self.phi[rows], rank_gauss(y)
        n, d = x.shape
        xtx, xtt, tt = x.T @ x, x.T @ t, float(t @ t)
        best = None
        for tau in self.PRIOR_GRID:
            prior = np.full(d, tau)
            prior[: self.free] = 10.0
            for noise in self.NOISE_GRID:
                # log evidence of t ~ N(0, X diag(prior) X^T + noise I), through the D x D
                # posterior precision A (Woodbury): cheap whatever the number of labels
                a_mat = xtx / noise + np.diag(1.0 / prior)
                try:
                    c = cho_factor(a_mat, lower=True)
                except np.linalg.LinAlgError:
                    continue
                b = xtt / noise
                fit = tt / noise - b @ cho_solve(c, b)
                logdet = 2 * np.log(np.diag(c[0])).sum() + np.log(prior).sum() + n * np.log(noise)
                ll = -0.5 * (fit + logdet)
                if best is None or ll > best[0]:
                    best = (ll, c, b, noise)
        _, c, b, noise = best
        w = cho_solve(c, b)
        self.mean = self.phi @ w
        v = solve_triangular(c[0], self.phi.T, lower=True, check_finite=False)  # [D, N]
        self.std = np.sqrt(np.maximum(np.einsum("ij,ij->j", v, v), 0.0))
        self.noise = noise
