"""Search a space for its best architectures in few (table look-up) trainings.

- :mod:`gennape.search.space`: the tables searched (NB-201 whole, TransNAS labelled pools).
- :mod:`gennape.search.strategies`: random, regularized evolution, a zero-cost proxy filter and
  predictor-guided search behind one interface (``register_strategy`` / ``get_strategy``).
- :mod:`gennape.search.loop`: the budgeted loop (never a query twice, seeded) and its measures
  (regret, queries to the top, hypervolume ratio).
"""

from gennape.search.loop import RepeatedQuery, SearchResult, hv_ratio, run_search
from gennape.search.space import SearchTable, load_table, toy_table
from gennape.search.strategies import Strategy, get_strategy, list_strategies, register_strategy

__all__ = ["RepeatedQuery", "SearchResult", "SearchTable", "Strategy", "get_strategy", "hv_ratio",
           "list_strategies", "load_table", "register_strategy", "run_search", "toy_table"]
