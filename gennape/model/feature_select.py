"""Which auxiliary features to trust on a family never seen: those whose relation with accuracy
has one sign on every training task.

A zero-cost proxy can rank one family well and another backwards (jacov: +0.69 on NB-201, -0.59 on
NB-101; snip: +0.50 on NB-201, -0.57 on TransNAS macro; docs/feature_tables.md). A predictor fit on
tasks where it points both ways learns a weight that is wrong somewhere, and on an unseen family
nothing says where. ``sign_consistent`` keeps a feature only if its Spearman with the labels has
the same sign on every training task that holds it (tasks where it is within ``min_abs`` of zero
count as neither sign). The choice is made on the training tasks alone, so a leave-one-family-out
fold never sees the held-out family's labels; ``train.py`` prints it and records it per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gennape.model.metrics import srcc
from gennape.core.registry import Registry

Selector = Callable[[dict[str, dict[str, float]]], list[str]]  # task correlations -> kept features
_SELECTORS: Registry[Selector] = Registry("auxiliary-feature selection")
register_selector = _SELECTORS.register


def task_correlations(families: Sequence[Any], names: Sequence[str], columns: Sequence[int],
                      min_n: int = 30) -> dict[str, dict[str, float]]:
    """``feature -> task -> Spearman(feature, label)`` over each task's architectures that have it
    (tasks with fewer than ``min_n`` values, or a constant feature, are left out)."""
    out: dict[str, dict[str, float]] = {n: {} for n in names}
    for fam in families:
        if not fam.graphs or getattr(fam.graphs[0], "aux", None) is None:
            continue
        aux = np.concatenate([g.aux.numpy() for g in fam.graphs])
        mask = np.concatenate([g.aux_mask.numpy() for g in fam.graphs]) > 0
        y = np.asarray(fam.y, dtype=float)
        for n, j in zip(names, columns):
            ok = mask[:, j]
            if ok.sum() >= min_n and np.ptp(aux[ok, j]) > 0:
                out[n][fam.key] = float(srcc(y[ok], aux[ok, j]))
    return out


@register_selector("sign_consistent")
def sign_consistent(corr: dict[str, dict[str, float]], min_abs: float = 0.05) -> list[str]:
    """The features whose task correlations never point both ways (beyond ``min_abs``)."""
    kept = []
    for n, per_task in corr.items():
        signs = {np.sign(v) for v in per_task.values() if abs(v) >= min_abs}
        if per_task and len(signs) <= 1:
            kept.append(n)
    return kept


def select(method: str, families: Sequence[Any], names: Sequence[str], columns: Sequence[int]
           ) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The features of ``names`` (attached at ``columns``) that the registered ``method`` keeps,
    in their order, and the task correlations it decided on."""
    corr = task_correlations(families, names, columns)
    kept = set(_SELECTORS.get(method)(corr))
    return [n for n in names if n in kept], corr
