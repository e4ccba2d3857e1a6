"""Why a table cell shows "–": what each row's method outputs, and the lines under a table saying so.

Every result row (:mod:`gennape.evaluation.evaluate`) names its method's ``output``:

- ``accuracy``: a model trained or fine-tuned on published labels, or a baseline fitted on them;
- ``task accuracy``: a score model (labels normalised within each task) on a task it was trained on,
  its score read off that task's label quantiles (``gennape.runtime.scales.score_to_accuracy``);
- ``score``: a score model on a task it was not trained on: where a network stands, on no scale;
- ``ranking``: a score-only baseline (FLOPs, params, a proxy): only its order means anything.

The first two have an MAE, the last two none. :func:`footnotes` turns the dashes of a table into
one line per reason, naming the methods, so no "–" is left unexplained.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DASH = "–"

# output -> why a row of that output has no MAE (None: it has one)
NO_MAE: dict[str, str | None] = {
    "accuracy": None,
    "task accuracy": None,
    "score": "a score model (trained on labels normalised within each task) has no accuracy scale, so no "
             "MAE, on a task it was not trained on",
    "ranking": "a score-only method (a ranking score, not an accuracy) has no MAE",
}
# rows written before they named their output
UNKNOWN_OUTPUT = ("score-only methods and score models have no MAE (the run's rows, written before rows named "
                  "their output, do not say which these are)")

# metric -> why a row lacks it, whatever its output
NO_VALUE: dict[str, str] = {
    "srcc_within_flops": "no FLOPs quintile holds 3 architectures of distinct labels and scores",
}
OTHER = "not computed"


def why_missing(row: Mapping[str, Any], metric: str) -> str:
    """Why ``row`` has no ``metric`` (a sentence without the leading dash)."""
    if metric == "mae":
        output = row.get("output")
        if output is None:
            return UNKNOWN_OUTPUT
        if output not in NO_MAE:
            raise KeyError(f"unknown row output {output!r}; known: {', '.join(NO_MAE)}")
        return NO_MAE[output] or OTHER
    return NO_VALUE.get(metric, OTHER)


def footnotes(rows: Iterable[Mapping[str, Any]], labels: Mapping[str, str]) -> list[str]:
    """One line per (column, reason) for the cells of ``rows`` showing "–", naming the methods.

    Args:
        rows: table rows (``method`` and the metrics; None where a metric is missing).
        labels: metric -> its column header, for the columns the table shows.
    """
    rows = list(rows)
    reasons: dict[tuple[str, str], list[str]] = {}
    for metric in labels:  # in the columns' order
        for r in rows:
            if r.get(metric) is None:
                reasons.setdefault((metric, why_missing(r, metric)), []).append(str(r["method"]))
    return [f"{DASH} {labels[metric]} of {_names(methods)}: {reason}." for (metric, reason), methods in reasons.items()]


def _names(methods: list[str], most: int = 4) -> str:
    """``a, b, c, d and 3 more`` (each name once)."""
    names = list(dict.fromkeys(methods))
    rest = len(names) - most
    return ", ".join(names[:most]) + (f" and {rest} more" if rest > 1 else f", {names[most]}" if rest == 1 else "")
