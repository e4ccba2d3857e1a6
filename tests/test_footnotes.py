"""Every "–" of a result table is explained by a line under it (gennape.evaluation.footnotes)."""

import pytest

from gennape.evaluation.evaluate import COLUMNS, markdown_tables
from gennape.evaluation.footnotes import UNKNOWN_OUTPUT, footnotes, why_missing


def _row(method, output, mae=None, **metrics):
    return {"family": "nb101", "setting": "zero-shot", "method": method, "output": output, "srcc": 0.5,
            "kendall": 0.4, "ndcg10": 0.8, "mae": mae, "srcc_within_flops": 0.1, "srcc_flops": 0.2, **metrics}


def test_each_reason_one_line_naming_its_methods_in_column_order():
    rows = [_row("gennape", "score"), _row("flops", "ranking", srcc_within_flops=None), _row("params", "ranking"),
            _row("size_fit", "accuracy", mae=2.1), _row("tuned", "task accuracy", mae=3.0)]
    notes = footnotes(rows, COLUMNS)
    assert notes == [
        "– MAE of gennape: a score model (trained on labels normalised within each task) has no accuracy scale, "
        "so no MAE, on a task it was not trained on.",
        "– MAE of flops, params: a score-only method (a ranking score, not an accuracy) has no MAE.",
        "– SRCC in FLOPs quintiles of flops: no FLOPs quintile holds 3 architectures of distinct labels and scores."]
    assert footnotes([_row("size_fit", "accuracy", mae=2.1)], COLUMNS) == []  # no dash, no line


def test_tables_carry_their_footnotes_and_old_rows_still_get_one():
    md = markdown_tables([_row("gennape", "score"), _row("flops", "ranking")])
    assert md.count("| – |") == 2 and "\n\n– MAE of gennape: a score model" in md and "\n\n– MAE of flops:" in md
    old = {k: v for k, v in _row("gennape", None).items() if k != "output"}  # results.json from before
    assert why_missing(old, "mae") == UNKNOWN_OUTPUT
    with pytest.raises(KeyError, match="unknown row output 'guess'"):
        why_missing(_row("x", "guess"), "mae")
