"""The training corpus: labelled tasks of many families, each task's labels normalised on its own.

A *task key* names what to load: ``nb101`` (a family's default task), ``nb201/cifar100`` (one task),
and, in a list of keys to train on or to hold out, a bare family name stands for the family's
default task unless written ``nb201/*`` (all its tasks). :func:`expand_keys` resolves a list.

Accuracies are never compared across tasks: NB-201 CIFAR-10 spans 10-92 %, TransNAS macro's
object classification 41-47 %, and the zoo's ImageNet top-1 60-86 %. Each task's labels are
mapped by a registered *label normalisation* before training (:func:`normalise_labels`):

- ``raw``: accuracies as published (one family: GENNAPE's own protocol, with its FLOPs transform);
- ``rank_gauss`` (the corpus default): the normal quantile of each label's rank within its task,
  ``Phi^-1((rank - 0.5) / n)``. Scale- and skew-free (NB-201's long tail of broken cells weighs no
  more than its best cells), keeps every order, and gives each task the same target distribution,
  so a squared error means the same thing on every task and a network's target says only where it
  stands among its task's networks;
- ``quantile``: ``(rank - 0.5) / n`` (uniform instead of normal; the tails weigh less).

Training then draws graphs with per-task weights (:func:`task_weights`) so that a big family does
not drown a small one, and the ranking loss and validation metric are computed within each task
(``Data.task``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtri

from gennape.data.loaders import load_family, resolve_task
from gennape.data.tasks import default_task, list_tasks
from gennape.model.dataset import Family, family_from_table
from gennape.runtime.auxiliary import quantiles
from gennape.runtime.scales import parse_key, score_to_accuracy, task_key  # noqa: F401 - re-exported
from gennape.core.registry import Registry

Normalisation = Callable[[np.ndarray], np.ndarray]
_NORMALISATIONS: Registry[Normalisation] = Registry("label normalisation")
register_normalisation = _NORMALISATIONS.register  # decorator adding ``fn(labels [N]) -> [N]``
list_normalisations = _NORMALISATIONS.names


@register_normalisation("raw")
def _raw(y: np.ndarray) -> np.ndarray:
    return y


@register_normalisation("quantile")
def _quantile(y: np.ndarray) -> np.ndarray:
    return quantiles(y)


@register_normalisation("rank_gauss")
def _rank_gauss(y: np.ndarray) -> np.ndarray:
    return ndtri(_quantile(y))


def normalise_labels(y: np.ndarray, method: str) -> np.ndarray:
    """One task's labels ``y`` mapped by the registered normalisation ``method``."""
    return _NORMALISATIONS.get(method)(np.asarray(y, dtype=np.float64))


def expand_keys(keys: Sequence[str]) -> list[str]:
    """Canonical task keys of ``keys`` (``family/*``: every task of the family), in order, once each."""
    out: list[str] = []
    for key in keys:
        family, _, dataset = key.partition("/")
        names = list_tasks(family) if dataset == "*" else [key]
        if not names:
            raise KeyError(f"{key}: no tasks registered for family {family!r}")
        out += [task_key(*parse_key(n)) for n in names]
    return list(dict.fromkeys(out))


def family_of(key: str) -> str:
    """The family of a task key (``nb201/cifar100`` -> ``nb201``)."""
    return key.partition("/")[0]


def task_table(family: str, task: str | None = None, nb201_cells: int | None = 3000) -> pd.DataFrame:
    """The labelled architectures of a task the corpus uses, one row per spec.

    NB-201 keeps the ``nb201_cells`` cells stratified by CIFAR-10 accuracy decile that its feature
    tables hold (the same cells for every NB-201 task; None = all 15,625); the zoo keeps the
    architectures its graph cache holds.
    """
    from gennape.features.extract import stratified_subset
    from gennape.data.families import FAMILY_SPACES

    t = resolve_task(family, task)
    table = load_family(family, task=task)
    table = table[table[t.target].notna()].drop_duplicates("spec").reset_index(drop=True)
    if family == "nb201" and nb201_cells and nb201_cells < len(table):
        full = load_family(family).drop_duplicates("spec").reset_index(drop=True)
        keep = full["spec"].iloc[stratified_subset(full[resolve_task(family).target].to_numpy(float), nb201_cells)]
        table = table[table["spec"].isin(set(keep))].reset_index(drop=True)
    if FAMILY_SPACES[family] == "timm":
        from gennape.spaces.timm_zoo import load_zoo_graphs

        table = table[table["spec"].isin(set(load_zoo_graphs()))].reset_index(drop=True)
    return table


def load_task(key: str, nb201_cells: int | None = 3000, workers: int = 1) -> Family:
    """The task ``key``'s architectures as a :class:`Family` of encoded graphs (labels raw)."""
    family, task = parse_key(key)
    table = task_table(family, task, nb201_cells)
    return family_from_table(family, table, resolve_task(family, task).target, task=task, workers=workers)


def mark_task(family: Family, index: int, normalisation: str) -> Family:
    """Give every graph of ``family`` its task ``index`` (``Data.task``) and its normalised label as
    ``Data.y`` (the family's table keeps the published labels, which evaluation scores against)."""
    y = normalise_labels(family.y, normalisation)
    for d, v in zip(family.graphs, y):
        d.y, d.task = torch.tensor([float(v)]), torch.tensor([index])
    return family


def task_weights(sizes: dict[str, int], alpha: float) -> dict[str, float]:
    """Each task's share of the training draws: its family's share ``n_f ** alpha`` (``n_f``: the
    family's largest task), split equally among the family's tasks; the shares sum to 1.

    ``alpha = 1`` draws every graph equally (big families dominate), ``alpha = 0`` every family
    equally, ``0.5`` between.
    """
    fams: dict[str, list[str]] = {}
    for key in sizes:
        fams.setdefault(family_of(key), []).append(key)
    share = {f: max(sizes[k] for k in ks) ** alpha for f, ks in fams.items()}
    total = sum(share.values())
    return {k: share[f] / total / len(ks) for f, ks in fams.items() for k in ks}


def sample_weights(task_of: Sequence[int], shares: Sequence[float]) -> np.ndarray:
    """Per-graph draw probabilities: task ``t``'s share spread evenly over its graphs."""
    task_of = np.asarray(task_of)
    counts = np.bincount(task_of, minlength=len(shares))
    w = np.asarray(shares, dtype=np.float64)[task_of] / counts[task_of]
    return w / w.sum()
