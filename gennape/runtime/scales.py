"""Task keys and reading a score model's output on a task's accuracy scale (no torch).

A task key is ``family`` for the family's default task, else ``family/dataset`` (``nb201/cifar100``).
A model trained on labels normalised within each task (``gennape.model.corpus``) outputs where a
network stands among a task's networks; :func:`score_to_accuracy` reads that off the task's label
quantiles, which checkpoints keep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gennape.data.loaders import resolve_task
from gennape.data.tasks import default_task


def parse_key(key: str) -> tuple[str, str | None]:
    """``(family, dataset)`` of a task key; ``dataset`` is None for the family's default task."""
    family, _, dataset = key.partition("/")
    if not dataset:
        default_task(family)  # fails with the known families for a wrong name
        return family, None
    t = resolve_task(family, dataset)  # fails with the known tasks for a wrong name
    return family, None if t.name == default_task(family).name else t.dataset


def task_key(family: str, task: str | None) -> str:
    """The canonical key: the family name for its default task, else ``family/dataset``."""
    t = resolve_task(family, task)
    return family if t.name == default_task(family).name else t.name


def score_to_accuracy(scores: np.ndarray, quantiles: Sequence[float], normalisation: str) -> np.ndarray:
    """Map a score model's outputs back to one training task's scale: the output is where a network
    stands among that task's networks (a normal quantile for ``rank_gauss``, a quantile for
    ``quantile``), read off the task's label distribution (``quantiles``: its labels at evenly
    spaced quantiles, as checkpoints keep them)."""
    s = np.asarray(scores, dtype=np.float64)
    if normalisation == "rank_gauss":
        from scipy.special import ndtr

        q = ndtr(s)
    elif normalisation == "quantile":
        q = np.clip(s, 0.0, 1.0)
    else:
        raise ValueError(f"outputs of a model trained on {normalisation!r} labels are not a quantile")
    grid = np.linspace(0.0, 1.0, len(quantiles))
    return np.interp(q, grid, np.asarray(quantiles, dtype=np.float64))
