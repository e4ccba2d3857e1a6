"""The search loop and what is measured of a search.

:func:`run_search` asks a strategy for one architecture at a time, pays for it (a look-up of the
table's label, counted against the budget) and tells the strategy; an architecture already
queried is refused (``RepeatedQuery``), so a search never pays twice. Everything random comes from
one ``numpy`` generator seeded by ``seed``: the same seed gives the same sequence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gennape.search.pareto import hypervolume, non_dominated
from gennape.search.space import SearchTable
from gennape.search.strategies import get_strategy


class RepeatedQuery(RuntimeError):
    """A strategy proposed an architecture it had already paid for."""


@dataclass
class SearchResult:
    """One search: the rows queried in order, their labels, and the settings.

    ``rows[i]`` is the (i+1)-th training paid for; ``best_so_far[i]`` the best label after it."""

    table: SearchTable
    rows: np.ndarray
    labels: np.ndarray
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def best_so_far(self) -> np.ndarray:
        return np.maximum.accumulate(self.labels) if len(self.labels) else self.labels

    @property
    def best_row(self) -> int:
        return int(self.rows[int(np.argmax(self.labels))])

    def regret(self, queries: Sequence[int]) -> list[float]:
        """Gap from the table's best label to the best found within each number of queries (in
        the task's metric; NaN beyond the queries made)."""
        best = self.best_so_far
        top = float(self.table.acc.max())
        return [top - float(best[q - 1]) if q <= len(best) else float("nan") for q in queries]

    def queries_to(self, threshold: float) -> float:
        """Queries until a label >= ``threshold`` was bought (inf if never)."""
        hit = np.flatnonzero(self.labels >= threshold)
        return float(hit[0] + 1) if len(hit) else float("inf")

    def front(self, queries: int | None = None) -> np.ndarray:
        """Rows of the accuracy-FLOPs front of the first ``queries`` labels bought."""
        rows = self.rows[:queries]
        return rows[non_dominated(self.table.acc[rows], self.table.cost[rows])]

    def hv_ratio(self, queries: Sequence[int], reference: str = "worst") -> list[float]:
        """Hypervolume of the front found within each number of queries over the true front's
        (``reference``: see :func:`hv_reference`)."""
        return [hv_ratio(self.table, self.rows[:q], reference) if q <= len(self.rows) else float("nan")
                for q in queries]

    def records(self) -> list[dict[str, Any]]:
        """The queried sequence, one dict per query."""
        t, best = self.table, self.best_so_far
        return [{"query": i + 1, "row": int(r), "spec": str(t.specs[r]), "accuracy": float(t.acc[r]),
                 "flops": float(t.flops[r]), "params": float(t.params[r]), "best_so_far": float(best[i])}
                for i, r in enumerate(self.rows)]


HV_REFERENCES = ("worst", "median")


def hv_reference(table: SearchTable, reference: str = "worst") -> tuple[tuple[float, float], tuple[float, float]]:
    """The reference point and the axis ranges of the hypervolume.

    ``worst``: the table's worst accuracy and largest log10 FLOPs (the usual nadir box; on NB-201
    the broken cells at 10 % make it lenient: most of the area lies below any decent network).
    ``median``: the table's median accuracy instead, so only the better half of the accuracy axis
    counts (stricter)."""
    if reference not in HV_REFERENCES:
        raise ValueError(f"unknown hypervolume reference {reference!r}; known: {', '.join(HV_REFERENCES)}")
    acc, cost = table.acc, table.cost
    low = float(acc.min()) if reference == "worst" else float(np.median(acc))
    return (low, float(cost.max())), ((float(acc.max()) - low) or 1.0, float(np.ptp(cost)) or 1.0)


def hv_ratio(table: SearchTable, rows: np.ndarray, reference: str = "worst") -> float:
    """Hypervolume of ``rows`` (their true labels) over that of the whole table."""
    ref, scale = hv_reference(table, reference)
    cache = table.__dict__.setdefault("_hv_true", {})
    if reference not in cache:
        cache[reference] = hypervolume(table.acc, table.cost, ref, scale)
    rows = np.asarray(rows, int)
    return hypervolume(table.acc[rows], table.cost[rows], ref, scale) / cache[reference]


def run_search(table: SearchTable, strategy: str, budget: int, seed: int = 0, objective: str = "accuracy",
               progress: Callable[[int, int, float], None] | None = None, **params: Any) -> SearchResult:
    """Search ``table`` with the registered ``strategy`` for ``budget`` queries (at most the table's
    size).

    Args:
        table: the candidates and their labels (the labels only reach the strategy by queries).
        strategy: a registered strategy name.
        budget: trainings to pay for.
        seed: seeds the one random generator of the search.
        objective: ``accuracy`` or ``pareto``.
        progress: called as ``progress(done, budget, best)`` after each query.
        params: the strategy's settings.
    """
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    s = get_strategy(strategy)(table, rng, objective=objective, **params)
    budget = min(int(budget), len(table))
    rows, labels = [], []
    for i in range(budget):
        row = int(s.propose())
        if not 0 <= row < len(table):
            raise IndexError(f"{strategy} proposed row {row} of a table of {len(table)}")
        if s.queried[row]:
            raise RepeatedQuery(f"{strategy} proposed {table.specs[row]!r} again (query {i + 1})")
        acc = float(table.acc[row])  # the training the search pays for
        s.observe(row, acc)
        rows.append(row)
        labels.append(acc)
        if progress:
            progress(i + 1, budget, max(labels))
    settings = {**s.describe(), "budget": budget, "seed": seed, "task": table.key, "table_size": len(table),
                "exhaustive": table.exhaustive}
    return SearchResult(table, np.array(rows, int), np.array(labels, float), time.perf_counter() - start, settings)
