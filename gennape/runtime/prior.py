"""The zero-shot prior a checkpoint may carry: a linear ranker over graph statistics
(:data:`gennape.graph.stats.GRAPH_STATS`: size, operation shares, depth, width), blended with the
GNN's score at a fixed weight.

``score = (coef · x - center) / scale + gnn_weight · gnn``, with ``x`` the ranker's columns of one
network through ``sign(v) log(1 + |v|)`` (a missing value: the training mean). ``center`` and
``scale`` put it in the units of the GNN's output (normal quantiles of accuracy within a task), so
``--task`` reads it on a task's accuracy scale the same way. A function of each network alone.

Which prior ships, and at what GNN weight, is decided by nested leave-one-family-out selection
(``benchmarks/transfer_models.py``, docs/transfer.md); :func:`gennape.model.rankers.fit_prior`
fits one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gennape.graph.stats import GRAPH_STATS, graph_stats
from gennape.runtime.auxiliary import signed_log


_TRANSFORMS = {"signed_log": signed_log, "identity": lambda x: x}


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
    transform: str = "signed_log"  # of the columns first: "signed_log" or "identity"

    def to_meta(self) -> dict[str, Any]:
        return asdict(self) | {"columns": list(self.columns), "coef": list(self.coef), "mean": list(self.mean)}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> "Prior":
        return cls(**{**meta, "columns": tuple(meta["columns"]), "coef": tuple(meta["coef"]),
                      "mean": tuple(meta["mean"])})

    def __post_init__(self) -> None:
        if self.transform not in _TRANSFORMS:
            raise ValueError(f"prior {self.name}: transform {self.transform!r} is not one of {', '.join(_TRANSFORMS)}")
        unknown = [c for c in self.columns if c not in GRAPH_STATS]
        if unknown:
            raise ValueError(f"prior {self.name}: {', '.join(unknown)} not graph statistics ({', '.join(GRAPH_STATS)})")

    def columns_of(self, encoded: Mapping[str, np.ndarray]) -> np.ndarray:
        """One network's column values from its numpy encoding (``op``, ``feat``, ``edge_index``,
        ``flops``, ``params``)."""
        stats = graph_stats(np.asarray(encoded["op"]), np.asarray(encoded["feat"]), np.asarray(encoded["edge_index"]),
                            float(np.asarray(encoded["flops"]).reshape(-1)[0]),
                            float(np.asarray(encoded["params"]).reshape(-1)[0]))
        return stats[[GRAPH_STATS.index(c) for c in self.columns]]

    def scores(self, encoded: Sequence[Mapping[str, np.ndarray]], gnn: np.ndarray) -> np.ndarray:
        """The blended score ``[N]`` of encoded networks whose GNN scores are ``gnn``."""
        X = np.stack([self.columns_of(e) for e in encoded]) if len(encoded) else np.zeros((0, len(self.columns)))
        return self.blend(self.prior_scores(X), gnn)

    def prior_scores(self, X: np.ndarray) -> np.ndarray:
        """The prior alone, ``[N]``, of raw column values ``X`` ``[N, C]``."""
        Z = _TRANSFORMS[self.transform](np.asarray(X, dtype=np.float64).reshape(len(X), len(self.columns)))
        Z = np.where(np.isfinite(Z), Z, np.asarray(self.mean))
        return (Z @ np.asarray(self.coef) - self.center) / self.scale

    def blend(self, prior: np.ndarray, gnn: np.ndarray) -> np.ndarray:
        return prior + self.gnn_weight * np.asarray(gnn, dtype=np.float64)
