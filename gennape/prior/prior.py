"""The zero-shot prior a checkpoint may carry: a linear ranker over graph statistics (and the
auxiliary features it reads), blended with the GNN's score at a fixed weight.

``score = (coef · x - center) / scale + gnn_weight · gnn``, with ``x`` the ranker's columns of one
network through ``sign(v) log(1 + |v|)`` (a missing value: the training mean). ``center`` and
``scale`` put it in the units of the GNN's output (normal quantiles of accuracy within a task), so
``--task`` reads it on a task's accuracy scale the same way. A function of each network alone.

Which prior ships, and at what GNN weight, is decided by nested leave-one-family-out selection
(``benchmarks/transfer_models.py``, docs/transfer.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gennape.prior.graph_stats import GRAPH_STATS, graph_stats


def signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass(frozen=True)
class Prior:
    """A fitted linear prior (see the module docstring); ``name`` says which configuration."""

    name: str
    columns: tuple[str, ...]
    coef: tuple[float, ...]
    mean: tuple[float, ...]
    center: float
    scale: float
    gnn_weight: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def to_meta(self) -> dict[str, Any]:
        return asdict(self) | {"columns": list(self.columns), "coef": list(self.coef), "mean": list(self.mean)}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> "Prior":
        return cls(**{**meta, "columns": tuple(meta["columns"]), "coef": tuple(meta["coef"]),
                      "mean": tuple(meta["mean"])})

    def columns_of(self, encoded: Mapping[str, np.ndarray], aux_names: Sequence[str] = ()) -> np.ndarray:
        """One network's raw column values (NaN where missing) from its numpy encoding."""
        stats = dict(zip(GRAPH_STATS, graph_stats(encoded["op"], encoded["feat"], encoded["edge_index"],
                                                  float(np.asarray(encoded["flops"]).reshape(-1)[0]),
                                                  float(np.asarray(encoded["params"]).reshape(-1)[0]))))
        out = []
        for c in self.columns:
            if c in stats:
                out.append(stats[c])
            elif c in aux_names and "aux" in encoded:
                j = list(aux_names).index(c)
                present = bool(np.asarray(encoded["aux_mask"]).reshape(-1)[j])
                out.append(float(np.asarray(encoded["aux"]).reshape(-1)[j]) if present else np.nan)
            else:
                out.append(np.nan)
        return np.asarray(out, dtype=np.float64)

    def prior_scores(self, X: np.ndarray) -> np.ndarray:
        """The prior alone, ``[N]``, of raw column values ``X`` ``[N, C]``."""
        Z = signed_log(np.asarray(X, dtype=np.float64).reshape(len(X), len(self.columns)))
        Z = np.where(np.isfinite(Z), Z, np.asarray(self.mean))
        return (Z @ np.asarray(self.coef) - self.center) / self.scale

    def blend(self, prior: np.ndarray, gnn: np.ndarray) -> np.ndarray:
        return prior + self.gnn_weight * np.asarray(gnn, dtype=np.float64)


def fit_prior(name: str, frame: Any, columns: Sequence[str], kind: str = "linear", params: Mapping[str, Any] | None = None,
              gnn_weight: float = 0.0, info: Mapping[str, Any] | None = None) -> Prior:
    """Fit a linear :class:`Prior` on a corpus table (``gennape.prior.table``): the ranker
    ``kind`` on every task of ``frame``, centred and scaled on them."""
    from gennape.prior.nested import within_task_std
    from gennape.prior.rankers import fit

    cols = list(columns)
    r = fit(kind, frame[cols].to_numpy(float), frame["y"].to_numpy(float), frame["task"].to_numpy(),
            frame["family"].to_numpy(), cols, dict(params or {}))
    if r.coef is None:
        raise ValueError(f"{name}: a shipped prior is linear; {kind} has no coefficients")
    raw = r.score(frame[cols].to_numpy(float))
    return Prior(name, tuple(cols), tuple(float(c) for c in r.coef), tuple(float(m) for m in r.mean),
                 float(np.mean(raw)), within_task_std(frame, raw), float(gnn_weight), dict(info or {}))
