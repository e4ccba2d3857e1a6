"""Search strategies: one interface, a registry (``register_strategy`` / ``get_strategy``).

A strategy proposes one architecture (a row of the :class:`~gennape.search.space.SearchTable`) at
a time and is told its label; the loop (``gennape.search.loop``) charges each proposal to the
budget and refuses a row already queried. A strategy sees the table's free columns (encoding,
FLOPs, params, proxies, zero-shot score) and never ``table.acc`` except through ``observe``.

``objective`` is ``accuracy`` (find the most accurate) or ``pareto`` (the accuracy-FLOPs front).
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from gennape.core.registry import Registry
from gennape.search.pareto import hv_improvement, pareto_layers
from gennape.search.space import SearchTable

OBJECTIVES = ("accuracy", "pareto")


class Strategy(abc.ABC):
    """Base class. Subclasses implement :meth:`propose` and may override :meth:`observe`.

    Args:
        table: the candidates.
        rng: the search's random generator (the only source of randomness).
        objective: ``accuracy`` or ``pareto``.
    """

    name: ClassVar[str] = ""

    def __init__(self, table: SearchTable, rng: np.random.Generator, objective: str = "accuracy", **_: Any) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
        self.table, self.rng, self.objective = table, rng, objective
        self.queried = np.zeros(len(table), bool)
        self.rows: list[int] = []
        self.labels: list[float] = []

    @abc.abstractmethod
    def propose(self) -> int:
        """The next row to query (one not queried yet)."""

    def observe(self, row: int, acc: float) -> None:
        """The label of ``row``, just bought."""
        self.queried[row] = True
        self.rows.append(row)
        self.labels.append(acc)

    # helpers
    def random_unqueried(self) -> int:
        left = np.flatnonzero(~self.queried)
        return int(left[self.rng.integers(len(left))])

    def describe(self) -> dict[str, Any]:
        """Settings worth recording in a run folder."""
        return {"strategy": self.name, "objective": self.objective}


_STRATEGIES: Registry[type[Strategy]] = Registry("search strategy")


def register_strategy(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator registering a :class:`Strategy` subclass as ``name``."""
    return _STRATEGIES.register_subclass(name, Strategy)


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class registered as ``name`` (KeyError lists the names)."""
    return _STRATEGIES.get(name)


def list_strategies() -> list[str]:
    return _STRATEGIES.names()


@register_strategy("random")
class RandomSearch(Strategy):
    """Uniform draws without replacement."""

    def propose(self) -> int:
        return self.random_unqueried()


def mutate(table: SearchTable, code: np.ndarray, queried: np.ndarray, rng: np.random.Generator,
           tries: int = 20) -> int:
    """A row one mutation from ``code`` (one column changed to another value), not queried yet.

    NB-201: change the op of one edge (NASLib's mutation). On a pool, or when every such child was
    already queried, a child outside the table or queried is redrawn (``tries`` times), then the
    unqueried row nearest to ``code`` in Hamming distance is taken (ties at random)."""
    for _ in range(tries):
        child = code.copy()
        j = int(rng.integers(len(code)))
        if table.choices[j] < 2:
            continue
        child[j] = (child[j] + 1 + rng.integers(table.choices[j] - 1)) % table.choices[j]
        row = table.index_of(tuple(child))
        if row is not None and not queried[row]:
            return row
    left = np.flatnonzero(~queried)
    dist = (table.encoding[left] != code).sum(1)
    near = left[dist == dist.min()]
    return int(near[rng.integers(len(near))])


@register_strategy("evolution")
class RegularizedEvolution(Strategy):
    """Regularized (aging) evolution, Real et al. 2019, with NASLib's NB-201 settings
    (naslib/defaults/nb201_defaults.yaml: ``population_size 30``, ``sample_size 10``): the first
    ``population_size`` queries are random; then each query mutates the best of ``sample_size``
    members drawn from the population (tournament) and the oldest member dies.

    Pareto mode: the tournament winner is the sampled member of the lowest non-dominated layer
    (accuracy vs FLOPs) within the sample, the most accurate among those."""

    def __init__(self, table: SearchTable, rng: np.random.Generator, objective: str = "accuracy",
                 population_size: int = 30, sample_size: int = 10, **kw: Any) -> None:
        super().__init__(table, rng, objective, **kw)
        self.population_size, self.sample_size = population_size, sample_size
        self.population: deque[tuple[int, float]] = deque()

    def propose(self) -> int:
        if len(self.rows) < self.population_size:
            return self.random_unqueried()
        members = list(self.population)
        pick = self.rng.choice(len(members), size=min(self.sample_size, len(members)), replace=False)
        sample = [members[i] for i in pick]
        accs = np.array([a for _, a in sample])
        if self.objective == "pareto":
            layers = pareto_layers(accs, self.table.cost[[r for r, _ in sample]])
            accs = np.where(layers == layers.min(), accs, -np.inf)
        parent = sample[int(np.argmax(accs))][0]
        return mutate(self.table, self.table.encoding[parent], self.queried, self.rng)

    def observe(self, row: int, acc: float) -> None:
        super().observe(row, acc)
        self.population.append((row, acc))
        if len(self.population) > self.population_size:
            self.population.popleft()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "population_size": self.population_size, "sample_size": self.sample_size}


def best_proxy(table: SearchTable) -> str:
    """The table's proxy with the highest Spearman correlation with the labels. An oracle choice
    (it reads every label), made for the baseline's benefit: the filter gets the best proxy that
    any label-free rule could have picked."""
    from scipy.stats import spearmanr

    best, name = -np.inf, ""
    for k, v in sorted(table.proxies.items()):
        rho = spearmanr(v, table.acc).statistic
        if np.isfinite(rho) and rho > best:
            best, name = rho, k
    return name


@register_strategy("proxy")
class ProxyFilter(Strategy):
    """The best single zero-cost proxy as a filter: draw a random pool of ``pool_size``
    architectures (the whole table if smaller), rank it by the proxy, query from the top.

    ``proxy=auto`` takes :func:`best_proxy` (an oracle choice: see there). Pareto mode: the pool
    is cut into ``strata`` FLOPs quantiles, each ranked by the proxy, and queried round-robin
    (the best of every stratum, then the second best...)."""

    def __init__(self, table: SearchTable, rng: np.random.Generator, objective: str = "accuracy",
                 proxy: str = "auto", pool_size: int = 1000, strata: int = 10, **kw: Any) -> None:
        super().__init__(table, rng, objective, **kw)
        self.proxy = best_proxy(table) if proxy == "auto" else proxy
        if self.proxy not in table.proxies:
            raise KeyError(f"proxy {self.proxy!r} not stored for every architecture of {table.key}; "
                           f"available: {', '.join(sorted(table.proxies))}")
        self.pool_size = pool_size
        n = len(table)
        pool = rng.permutation(n)[: min(pool_size, n)]
        value = table.proxies[self.proxy][pool]
        if objective == "pareto":
            # spread along FLOPs: the pool cut into `strata` FLOPs quantiles, each ranked by the
            # proxy, queried round-robin (cheapest stratum first in each round)
            cost = table.cost[pool]
            edges = np.quantile(cost, np.linspace(0, 1, strata + 1)[1:-1])
            stratum = np.searchsorted(edges, cost, side="right")
            rank_in = np.empty(len(pool), int)
            for b in np.unique(stratum):
                members = np.flatnonzero(stratum == b)
                rank_in[members[np.argsort(-value[members], kind="stable")]] = np.arange(len(members))
            order = np.lexsort((stratum, rank_in))
        else:
            order = np.argsort(-value, kind="stable")
        in_pool = np.zeros(n, bool)
        in_pool[pool] = True
        rest = rng.permutation(n)
        # the filter's order, then (past the pool) the rest of the table at random
        self.queue = np.concatenate([pool[order], rest[~in_pool[rest]]]).astype(int)
        self.next = 0

    def propose(self) -> int:
        while self.next < len(self.queue):
            row = int(self.queue[self.next])
            self.next += 1
            if not self.queried[row]:
                return row
        return self.random_unqueried()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "proxy": self.proxy, "pool_size": self.pool_size}


@register_strategy("predictor")
class PredictorGuided(Strategy):
    """Predictor-guided search: zero-shot from a checkpoint's scores, then a surrogate refitted on
    the labels bought (``gennape.search.predictor.Surrogate``: Bayesian linear regression on the
    frozen GNN embedding, the zero-shot score, log FLOPs and params; not a fine-tuning of the GNN).

    - The first ``warmup`` queries are drawn at random (the seed's only role) among the top
      ``warmup_pool`` fraction of the table (at least ``warmup`` architectures) by zero-shot score
      plus ``kappa`` times the head spread (both standardised over the table).
    - After that every ``refit_every`` queries the surrogate is refitted, and each query takes the
      highest upper confidence bound ``mean + kappa * std`` among the unqueried.
    - Pareto mode: the highest hypervolume improvement, over the front of the labels bought, of
      each candidate at its upper confidence bound (accuracy in rank-gauss units of the bought
      labels, cost log10 FLOPs).
    """

    def __init__(self, table: SearchTable, rng: np.random.Generator, objective: str = "accuracy",
                 kappa: float = 0.5, warmup: int = 5, warmup_pool: float = 0.01, refit_every: int = 1,
                 components: int = 16, **kw: Any) -> None:
        from gennape.search.predictor import Surrogate, surrogate_features

        super().__init__(table, rng, objective, **kw)
        if table.score is None:
            raise ValueError(f"{table.key}: no zero-shot scores (load the table with a checkpoint)")
        self.kappa, self.warmup, self.refit_every, self.components = kappa, warmup, refit_every, components
        z = lambda v: (v - v.mean()) / (v.std() or 1.0)  # noqa: E731
        self.prior = z(table.score) + kappa * (z(table.uncertainty) if table.uncertainty is not None else 0.0)
        # a tiny random tie-break, fixed per seed
        self.jitter = rng.uniform(0, 1e-9, len(table))
        self.warmup_pool = warmup_pool
        k = min(len(table), max(warmup, int(np.ceil(warmup_pool * len(table)))))
        top = np.argsort(-(self.prior + self.jitter), kind="stable")[:k]
        self.start = list(rng.permutation(top)[:warmup])
        self.surrogate = Surrogate(surrogate_features(table.score, table.embedding, table.flops, table.params,
                                                      components), free=1)
        self.fitted_at = -1

    def _ucb(self) -> np.ndarray:
        n = len(self.rows)
        if n < max(self.warmup, 2):
            return self.prior
        if self.fitted_at < 0 or n - self.fitted_at >= self.refit_every:
            self.surrogate.fit(np.array(self.rows), np.array(self.labels))
            self.fitted_at = n
        return self.surrogate.mean + self.kappa * self.surrogate.std

    def propose(self) -> int:
        while self.start:  # the warm-up draws
            row = int(self.start.pop(0))
            if not self.queried[row]:
                return row
        acq = self._ucb() + self.jitter
        if self.objective == "pareto" and len(self.rows) >= max(self.warmup, 2):
            from gennape.search.predictor import rank_gauss

            cost = self.table.cost
            y = rank_gauss(np.array(self.labels))
            # only the better half counts: the reference accuracy is the surrogate's median
            # prediction over the table (a front of cheap, poor networks is worth nothing)
            ref = (float(np.median(self.surrogate.mean)), cost.max() + 1e-9)
            acq = hv_improvement(acq, cost, y, cost[self.rows], ref) + 1e-6 * acq
        acq = np.where(self.queried, -np.inf, acq)
        return int(np.argmax(acq))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kappa": self.kappa, "warmup": self.warmup, "warmup_pool": self.warmup_pool,
                "refit_every": self.refit_every,
                "components": self.components, "checkpoint": self.table.checkpoint}
