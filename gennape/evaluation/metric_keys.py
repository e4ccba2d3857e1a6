"""The logged names of a run's results: one flat key per metric of a row, and back.

A row (family, setting, method) of ``results.json`` logs each of its metrics as

    <setting>/<family>/<method>/<metric>        e.g. zero_shot/nb101/gennape/srcc
                                                     fine_tuned_50/nb201.cifar100/size_fit/mae
                                                     in_family_test/nb201/feature:synflow/srcc_std

each part a slug (lower case, ``/`` -> ``.``, any other run of characters but letters, digits, ``.``
and ``:`` -> ``_``), so a key has exactly four parts and W&B shows one section per setting. The
metric is one of the table's (``srcc``, ``kendall``, ``ndcg10``, ``mae``, ``srcc_within_flops``,
``srcc_flops``) or its std over seeds (``<metric>_std``). A missing metric is not logged. Beside
them, :data:`ROWS_KEY` lists the rows with their names as written and their output kind, which
reading the keys back (:func:`rows_from_metrics`) restores, and a run's numbers (timings, sizes)
are ``info/<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ROWS_KEY = "result_rows"  # [{"family", "setting", "method", "output"}] in the table's order
NAMES = ("family", "setting", "method")
NOT_METRICS = {*NAMES, "output", "runs"}


def slug(name: str) -> str:
    """One part of a key: ``fine-tuned (50)`` -> ``fine_tuned_50``, ``nb201/cifar100`` -> ``nb201.cifar100``."""
    return re.sub(r"[^a-z0-9.:]+", "_", name.lower().replace("/", ".")).strip("_")


def row_prefix(row: Mapping[str, Any]) -> str:
    """``<setting>/<family>/<method>`` of a row."""
    return "/".join(slug(str(row[k])) for k in ("setting", "family", "method"))


def row_metrics(rows: list[Mapping[str, Any]]) -> dict[str, float]:
    """Every numeric metric of ``rows`` under its key (missing ones left out)."""
    out: dict[str, float] = {}
    for r in rows:
        prefix = row_prefix(r)
        for name, v in r.items():
            if name not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool):
                key = f"{prefix}/{name}"
                if key in out:
                    raise ValueError(f"two rows log {key}: rows must differ after slugging "
                                     f"({r['family']}, {r['setting']}, {r['method']})")
                out[key] = float(v)
    return out


def info_metrics(info: Mapping[str, Any]) -> dict[str, float]:
    """A run's numeric info (timings, sizes) under ``info/<name>``."""
    return {f"info/{k}": float(v) for k, v in info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def row_index(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows' names and output kinds (:data:`ROWS_KEY`'s value)."""
    return [{k: r[k] for k in (*NAMES, "output") if k in r} for r in rows]


def rows_from_metrics(metrics: Mapping[str, Any], index: list[Mapping[str, Any]] | None = None
                      ) -> list[dict[str, Any]]:
    """Rows of ``results.json``'s shape from logged keys: each indexed row (names as written, its
    output kind) with its metrics, then any row only the keys know (named by its slugs)."""
    rows: dict[str, dict[str, Any]] = {row_prefix(r): dict(r) for r in index or []}
    for key, v in metrics.items():
        parts = key.split("/")
        if len(parts) != 4 or not isinstance(v, (int, float)) or isinstance(v, bool):
            continue  # training curves, run info, tables and images
        prefix = "/".join(parts[:3])
        if prefix not in rows:
            if index:  # the index lists every row this run logged: the key is not a result
                continue
            rows[prefix] = dict(zip(("setting", "family", "method"), parts[:3]))
        rows[prefix][parts[3]] = float(v)
    return [r for r in rows.values() if len(r.keys() - NOT_METRICS)]
