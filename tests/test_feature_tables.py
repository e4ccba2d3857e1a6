"""benchmarks/feature_tables.py: coverage and single-feature quality of a feature store."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from feature_tables import markdown, summarise  # noqa: E402

from gennape.features.proxies import ProxyResult  # noqa: E402
from gennape.features.store import FeatureStore  # noqa: E402


@pytest.fixture
def store(tmp_path: Path):
    # Six specs on five graphs (a and a2 share one); e has no value for "snip" (a timeout).
    with FeatureStore(tmp_path / "f.sqlite") as s:
        s.put_archs([("a", "ha", None), ("a2", "ha", None), ("b", "hb", None), ("c", "hc", None),
                     ("d", "hd", None), ("e", "he", None), ("broken", None, "error: bad spec")])
        for h, v in zip(["ha", "hb", "hc", "hd"], [1.0, 4.0, 2.0, 3.0], strict=True):
            s.put(h, {"snip": ProxyResult(v, seconds=2.0), "flops": ProxyResult(10 * v, seconds=0.0)})
        s.put("he", {"snip": ProxyResult(None, "timeout", seconds=5.0), "flops": ProxyResult(50.0)})
        yield s


def _table() -> pd.DataFrame:
    # "x" is in the family but not in the store; ref_snip has NASLib's failure value for "d".
    return pd.DataFrame({"spec": ["a", "a2", "b", "c", "d", "e", "x"],
                         "acc": [90.0, 91.0, 94.0, 92.0, 93.0, 95.0, 80.0],
                         "ref_snip": [1.0, 1.5, 3.0, 2.5, -1e8, 9.0, 0.0]})


def test_summary_counts_architectures_graphs_and_reasons(store: FeatureStore):
    s = summarise(store, _table(), "acc").set_index("feature")
    assert s.loc["snip", "archs"] == 5 and s.loc["snip", "missing"] == 1
    assert s.loc["snip", "reason"] == "timeout (1)"
    assert s.loc["snip", "graphs"] == 5
    assert s.loc["snip", "s_per_graph"] == pytest.approx((4 * 2.0 + 5.0) / 5)
    assert s.loc["flops", "archs"] == 6 and s.loc["flops", "missing"] == 0


def test_summary_scores_each_feature_alone_and_against_the_reference(store: FeatureStore):
    s = summarise(store, _table(), "acc").set_index("feature")
    acc, snip = [90.0, 91.0, 94.0, 92.0, 93.0], [1.0, 1.0, 4.0, 2.0, 3.0]
    assert s.loc["snip", "srcc"] == pytest.approx(stats.spearmanr(acc, snip)[0])
    # d's reference is NASLib's failure value: compared on a, a2, b, c only.
    assert s.loc["snip", "ref_archs"] == 4
    assert s.loc["snip", "vs_ref"] == pytest.approx(stats.spearmanr([1.0, 1.0, 4.0, 2.0], [1.0, 1.5, 3.0, 2.5])[0])
    assert s.loc["snip", "ref_srcc"] == pytest.approx(stats.spearmanr([90.0, 91.0, 94.0, 92.0], [1.0, 1.5, 3.0, 2.5])[0])
    assert np.isnan(s.loc["flops", "vs_ref"])  # no ref_flops column in this table


def test_markdown_marks_what_does_not_apply(store: FeatureStore):
    text = markdown(summarise(store, _table(), "acc"))
    flops = next(line for line in text.splitlines() if line.startswith("| flops"))
    assert flops.endswith("| – | – | – | – |")
    assert "| snip | 5 | 1 | timeout (1) | 5 | 2.60 |" in text


def test_an_unknown_family_is_one_clear_error(capsys):
    from feature_tables import main

    assert main(["--families", "nb999"]) == 2
    assert "no feature store for family or task 'nb999'" in capsys.readouterr().err
