"""Nested leave-one-family-out model selection, and the margin over every single feature.

For each held-out (outer) family F, every candidate configuration is scored by an inner
leave-one-family-out over the other families only: trained on all of them but one, G, and
measured on G. The candidate whose *worst* inner margin over the best single feature is largest
is F's choice; it is then trained on every family but F and measured on F, which no choice saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

# The single features every model must beat, on the same networks: size, then each proxy and NNGP.
SINGLES = ("log_flops", "log_params", "weight_layers", "synflow", "nwot", "jacov", "snip", "grad_norm",
           "zen", "nngp", "l2_norm", "fisher", "grasp", "epe_nas", "plain")
MIN_COVERAGE = 0.3  # a feature stored for less of a task is not compared there


def srcc(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b)[0])


def family_report(frame: pd.DataFrame, pred: np.ndarray, singles: Sequence[str] = SINGLES) -> dict[str, Any]:
    """One family's networks ``frame`` scored by ``pred``: SRCC (mean over its tasks), each
    single feature's SRCC and the model's margin over it on the networks that have it (mean over
    the tasks where it covers at least :data:`MIN_COVERAGE`), and the smallest such margin."""
    pred = np.asarray(pred, float)
    per_task, feats = [], {}
    for t, idx in frame.groupby("task", sort=False).indices.items():
        y = frame["y"].to_numpy()[idx]
        per_task.append(srcc(y, pred[idx]))
        for f in (f for f in singles if f in frame):
            v = frame[f].to_numpy(float)[idx]
            has = np.isfinite(v)
            if has.mean() < MIN_COVERAGE:
                continue
            feats.setdefault(f, []).append((srcc(y[has], v[has]), srcc(y[has], pred[idx][has])))
    single = {f: float(np.mean([s for s, _ in v])) for f, v in feats.items()}
    margin = {f: float(np.mean([m - s for s, m in v])) for f, v in feats.items()}
    best = max(single, key=single.get)
    worst = min(margin, key=margin.get)
    return {"srcc": float(np.mean(per_task)), "tasks": len(per_task), "best_single": best,
            "best_single_srcc": single[best], "margin": margin[worst], "margin_against": worst,
            "singles": single}


@dataclass(frozen=True)
class Candidate:
    """One configuration: a registered ranker over ``columns`` (empty: none), optionally blended
    with the GNN's zero-shot score at weight ``gnn`` (0: ranker alone; None with no columns: the
    GNN alone)."""

    name: str
    kind: str = "linear"
    columns: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    gnn: float = 0.0


# (train frame, test frame, outer family, inner family or None) -> GNN scores of the test frame,
# and their within-task scale on the training tasks (about 1: the GNN regresses normal quantiles).
GnnScores = Callable[[pd.DataFrame, pd.DataFrame, str, str | None], tuple[np.ndarray, float]]


def predict(c: Candidate, train: pd.DataFrame, test: pd.DataFrame, outer: str, inner: str | None,
            gnn: GnnScores | None) -> np.ndarray:
    from gennape.model.rankers import fit, within_task_std

    out = np.zeros(len(test))
    if c.columns:
        r = fit(c.kind, train[list(c.columns)].to_numpy(float), train["y"].to_numpy(float), train["task"].to_numpy(),
                train["family"].to_numpy(), list(c.columns), dict(c.params))
        s = r.score(test[list(c.columns)].to_numpy(float))
        out += s / within_task_std(train, r.score(train[list(c.columns)].to_numpy(float)))
    if c.gnn or not c.columns:
        if gnn is None:
            raise ValueError(f"{c.name}: needs GNN scores")
        g, scale = gnn(train, test, outer, inner)
        out += (c.gnn if c.columns else 1.0) * g / scale
    return out


def fold_gnn(outer_dir: str, inner_dir: str) -> GnnScores:
    """GNN scores from fold checkpoints: ``<outer_dir>/<F>/model.ckpt`` (trained without F) for the
    outer test, ``<inner_dir>/<F>/<G>/model.ckpt`` (trained without F and G) for the inner one."""
    from pathlib import Path

    from gennape.evaluation.gnn_scores import checkpoint_scores

    def scores(train: pd.DataFrame, test: pd.DataFrame, outer: str, inner: str | None) -> tuple[np.ndarray, float]:
        path = Path(outer_dir) / outer / "model.ckpt" if inner is None else Path(inner_dir) / outer / inner / "model.ckpt"
        if not path.is_file():
            raise FileNotFoundError(f"no fold checkpoint {path}")
        s = checkpoint_scores(path, list(dict.fromkeys(test["task"])))
        merged = test[["task", "hash"]].merge(s.drop_duplicates(["task", "hash"]), on=["task", "hash"], how="left")
        return merged["gnn"].to_numpy(float), 1.0

    return scores




@dataclass
class NestedResult:
    outer: dict[str, dict[str, Any]] = field(default_factory=dict)   # family -> chosen candidate's report
    inner: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # family -> candidate -> inner margins
    every: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # family -> candidate -> report


def nested_lofo(frame: pd.DataFrame, candidates: Sequence[Candidate], families: Sequence[str],
                gnn: GnnScores | None = None, log: Callable[[str], None] = print) -> NestedResult:
    """Nested leave-one-family-out over ``families`` (see the module docstring)."""
    res = NestedResult()
    fam = frame["family"].to_numpy()
    for F in families:
        rest = [G for G in families if G != F]
        res.inner[F] = {}
        for c in candidates:
            margins = []
            for G in rest:
                train = frame[(fam != F) & (fam != G)]
                test = frame[fam == G]
                margins.append(family_report(test, predict(c, train, test, F, G, gnn))["margin"])
            res.inner[F][c.name] = margins
        choice = max(candidates, key=lambda c: (min(res.inner[F][c.name]), np.mean(res.inner[F][c.name])))
        train, test = frame[fam != F], frame[fam == F]
        res.every[F] = {c.name: family_report(test, predict(c, train, test, F, None, gnn)) for c in candidates}
        res.outer[F] = {"choice": choice.name, **res.every[F][choice.name]}
        log(f"{F}: chose {choice.name} (inner worst margin {min(res.inner[F][choice.name]):+.3f}); "
            f"held out: SRCC {res.outer[F]['srcc']:.3f}, margin {res.outer[F]['margin']:+.3f} "
            f"against {res.outer[F]['margin_against']}")
    return res
