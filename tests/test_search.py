"""gennape.search: the loop's guarantees for every strategy, the Pareto helpers, and (slow, needs
the NB-201 table) predictor-guided search against random search."""

from __future__ import annotations

import numpy as np
import pytest

from gennape.search import RepeatedQuery, Strategy, get_strategy, list_strategies, register_strategy, run_search, toy_table
from gennape.search.pareto import hv_improvement, hypervolume, non_dominated, pareto_layers

STRATEGIES = ["random", "evolution", "proxy", "predictor"]


@pytest.fixture(scope="module")
def table():
    return toy_table(n_choices=4, n_slots=4, seed=0)  # 256 architectures


def test_registry_lists_the_strategies():
    assert set(STRATEGIES) <= set(list_strategies())
    with pytest.raises(KeyError, match="registered"):
        get_strategy("nope")


@pytest.mark.parametrize("objective", ["accuracy", "pareto"])
@pytest.mark.parametrize("name", STRATEGIES)
def test_deterministic_unique_and_within_budget(table, name, objective):
    params = {"pool_size": 100} if name == "proxy" else {}  # a pool smaller than the space: seeded
    a = run_search(table, name, 60, seed=3, objective=objective, **params)
    b = run_search(table, name, 60, seed=3, objective=objective, **params)
    c = run_search(table, name, 60, seed=4, objective=objective, **params)
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.labels, b.labels)
    assert len(a.rows) == 60 and len(set(a.rows.tolist())) == 60
    assert np.array_equal(a.labels, table.acc[a.rows])
    assert not np.array_equal(a.rows, c.rows)  # the seed matters


@pytest.mark.parametrize("name", STRATEGIES)
def test_budget_over_the_space_queries_everything_once(name):
    small = toy_table(n_choices=3, n_slots=3, seed=1)  # 27 architectures
    res = run_search(small, name, 100, seed=0)
    assert sorted(res.rows.tolist()) == list(range(len(small)))
    assert res.regret([27]) == [0.0]


def test_a_repeated_proposal_is_refused(table):
    @register_strategy("test_always_zero")
    class AlwaysZero(Strategy):
        def propose(self) -> int:
            return 0

    with pytest.raises(RepeatedQuery):
        run_search(table, "test_always_zero", 2)


def test_measures(table):
    res = run_search(table, "random", 50, seed=0)
    best = res.best_so_far
    assert np.all(np.diff(best) >= 0)
    assert res.regret([50])[0] == pytest.approx(table.acc.max() - best[-1])
    q = res.queries_to(table.top_threshold(0.5))
    assert q <= 50 and res.labels[int(q) - 1] >= table.top_threshold(0.5)
    assert res.queries_to(np.inf) == float("inf")
    assert 0 < res.hv_ratio([10])[0] <= res.hv_ratio([50])[0] <= 1.0
    full = run_search(table, "random", len(table), seed=0)
    assert full.hv_ratio([len(table)])[0] == pytest.approx(1.0)


def test_pareto_helpers():
    acc = np.array([1.0, 2.0, 3.0, 2.0, 0.5])
    cost = np.array([1.0, 2.0, 3.0, 3.0, 2.0])
    assert non_dominated(acc, cost).tolist() == [True, True, True, False, False]
    assert pareto_layers(acc, cost).tolist() == [0, 0, 0, 1, 1]
    # box from (0, 4): steps 1x1 + 2x1 + 3x1 = 6
    assert hypervolume(acc, cost, (0.0, 4.0)) == pytest.approx(6.0)
    assert hypervolume(acc, cost, (0.0, 4.0), (2.0, 3.0)) == pytest.approx(1.0)
    gain = hv_improvement(np.array([2.5, 0.5, 4.0]), np.array([1.5, 3.5, 0.0]), acc[:3], cost[:3], (0.0, 4.0))
    for g, a, c in zip(gain, [2.5, 0.5, 4.0], [1.5, 3.5, 0.0]):
        assert g == pytest.approx(hypervolume(np.append(acc[:3], a), np.append(cost[:3], c), (0.0, 4.0)) - 6.0)


def test_predictor_uses_the_scores(table):
    """On the toy space (score = accuracy + noise) predictor-guided finds better architectures
    than random within 20 queries, over 10 seeds."""
    pred = [run_search(table, "predictor", 20, seed=s).regret([20])[0] for s in range(10)]
    rand = [run_search(table, "random", 20, seed=s).regret([20])[0] for s in range(10)]
    assert np.median(pred) < np.median(rand)


@pytest.mark.slow
def test_predictor_beats_random_on_nb201():
    """NB-201 CIFAR-10 (the whole space, the shipped checkpoint's zero-shot scores): predictor-guided
    search has lower regret at 50 queries than random search over 10 seeds (one-sided Mann-Whitney
    U, p < 0.01). Slow the first time only: building the table builds 15,625 graphs."""
    from scipy.stats import mannwhitneyu

    from gennape.search import load_table

    t = load_table("nb201/cifar10")
    pred = [run_search(t, "predictor", 50, seed=s).regret([50])[0] for s in range(10)]
    rand = [run_search(t, "random", 50, seed=s).regret([50])[0] for s in range(10)]
    assert mannwhitneyu(pred, rand, alternative="less").pvalue < 0.01


def test_median_reference_is_stricter(table):
    res = run_search(table, "random", 30, seed=0)
    worst, median = res.hv_ratio([30])[0], res.hv_ratio([30], reference="median")[0]
    assert 0 < median <= worst <= 1
    full = run_search(table, "random", len(table), seed=0)
    assert full.hv_ratio([len(table)], reference="median")[0] == pytest.approx(1.0)


def test_search_entry_writes_the_run_folder(tmp_path, monkeypatch, table):
    """search.py's run(): the queried sequence (CSV, JSON) and the best found, on the toy table."""
    import importlib.util
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("search_entry", root / "search.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    monkeypatch.setattr("gennape.search.load_table", lambda *a, **k: table)
    with initialize_config_dir(version_base="1.3", config_dir=str(root / "conf" / "search")):
        cfg = compose("config", overrides=["strategy=evolution", "budget=40", "seed=2", "objective=pareto"])
    summary = entry.run(cfg, tmp_path)
    import csv
    import json

    rows = list(csv.DictReader(open(tmp_path / "queries.csv")))
    assert len(rows) == 40 and len({r["spec"] for r in rows}) == 40
    saved = json.loads((tmp_path / "queries.json").read_text())
    assert saved["settings"]["strategy"] == "evolution" and len(saved["queries"]) == 40
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["best"]["accuracy"] == max(float(r["accuracy"]) for r in rows) == summary["best"]["accuracy"]
    assert best["front"] and set(best["hv_ratio"]) == {"10", "25"}


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_pool_is_searched_within_itself(table, name):
    """On a pool (a subset of a space, as TransNAS's labelled architectures), mutations that leave
    the pool fall back to pool members: every query is a pool row, once, up to the whole pool."""
    pool = table.subset(np.random.default_rng(0).choice(len(table), 60, replace=False))
    assert not pool.exhaustive
    res = run_search(pool, name, 80, seed=1, population_size=10, sample_size=3) if name == "evolution" \
        else run_search(pool, name, 80, seed=1)
    assert sorted(res.rows.tolist()) == list(range(60))
