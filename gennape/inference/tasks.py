"""The tasks a checkpoint speaks for, and the task an adapted checkpoint was fitted to (numpy only).

A trained checkpoint keeps its tasks in ``meta["tasks"]`` (task key -> label quantiles) and says in
``labels`` what its output is (``rank_gauss``: a standing among a task's networks, read on a task's
scale with ``--task``; ``raw``: an accuracy itself). Adapting (``predict.py --labels``) fits a copy
to the user's labels: a new task, named by the user (``--task-name``, default ``custom``). Its meta
then holds that task alone, and the rest under ``meta["adapted"]``::

    meta["tasks"]   = {"mytask": [101 quantiles of the labels]}
    meta["adapted"] = {"task": "mytask", "labels": 12, "accuracy_range": [61.5, 72.0],
                       "from": {"checkpoint": "default.ckpt", "family": "nb201, ...",
                                "tasks": ["nb201", "nb201/cifar100", ...]}}

An adapted checkpoint written before tasks were named has no ``task`` (and ``from`` is the base's
family): its task is unnamed, and ``meta["tasks"]`` still lists the base's tasks, which it no
longer fits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_TASK_NAME = "custom"
QUANTILES = 101  # as many as a trained checkpoint keeps per task (gennape.model.corpus)
_NAME = re.compile(r"[\w.+/-]+")


class TaskNameError(ValueError):
    """A ``--task-name`` that cannot name a task."""


def check_task_name(name: str) -> str:
    """``name`` if it can name a task (letters, digits and ``_ . + / -``); else a TaskNameError."""
    if not _NAME.fullmatch(name):
        raise TaskNameError(f"--task-name {name!r}: a task name is letters, digits and _ . + / - only")
    return name


@dataclass(frozen=True)
class FittedTask:
    """The task an adapted checkpoint was fitted to.

    Args:
        name: its name; None for a checkpoint adapted before tasks were named.
        labels: how many labels it was fitted to.
        low, high: the lowest and highest label.
        quantiles: the labels at ``QUANTILES`` evenly spaced quantiles (empty for an unnamed task).
        source: the checkpoint it was adapted from ("" where unknown).
        base_tasks: the tasks that checkpoint spoke for, which this one no longer fits.
    """

    name: str | None
    labels: int
    low: float
    high: float
    quantiles: tuple[float, ...]
    source: str
    base_tasks: tuple[str, ...]

    @property
    def shown(self) -> str:
        """Its name as printed (``(unnamed)`` for an old checkpoint's)."""
        return self.name if self.name is not None else "(unnamed)"

    def scale(self) -> tuple[float, float]:
        """``(low, width)``: an accuracy ``a`` stands at ``(a - low) / width`` among the labels
        (0 = the lowest label, 1 = the highest); ``(0, 1)`` where the meta has no range."""
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.high > self.low):
            return 0.0, 1.0
        return self.low, self.high - self.low

    def span(self) -> str:
        """Its labels in a few words: how many, their range and median."""
        median = f", median {self.quantiles[len(self.quantiles) // 2]:.2f}" if self.quantiles else ""
        return f"{self.labels} labels, {self.low:.2f}-{self.high:.2f}{median}"

    def refusal(self, task: str) -> str:
        """Why ``--task task`` (not this task) is refused, in one line naming the task it knows."""
        if self.name is None:
            return (f"--task {task}: the checkpoint was adapted by an older gennape to an unnamed task and knows no "
                    f"other; leave --task out")
        why = (f"the checkpoint was adapted to {self.name} and no longer fits {task}" if task in self.base_tasks
               else "the checkpoint was not trained on it")
        return f"--task {task}: {why}; it knows {self.name} only (its default: leave --task out)"

    def note(self) -> str:
        """One line saying what the columns of a prediction with this task are."""
        origin = f"; adapted from {self.source}" if self.source else ""
        if self.name is None:
            return (f"the checkpoint's task is unnamed (adapted by an older gennape; re-adapt with --task-name NAME "
                    f"to name it): predicted accuracy on the scale of its {self.span()}{origin}; score: 0 = the "
                    f"lowest label, 1 = the highest")
        return (f"predicted accuracy: on {self.name}'s scale ({self.span()}{origin}); score: 0 = its lowest "
                f"label, 1 = its highest")


def spoken_tasks(meta: Mapping[str, Any], labels: str) -> dict[str, list[float] | None]:
    """The tasks a checkpoint (its ``meta`` and ``labels``) puts accuracies on: task key -> its
    label quantiles (a score model trained on several tasks), or None (a model whose output is the
    task's accuracy: trained on one task, or adapted). An adapted checkpoint speaks for its own
    task only (none with a name, if it was adapted before tasks were named)."""
    fitted = fitted_task(meta)
    if fitted is not None:
        return {fitted.name: None} if fitted.name is not None else {}
    tasks = meta.get("tasks")
    if isinstance(tasks, dict) and tasks:
        return {str(k): (list(v) if labels != "raw" else None) for k, v in tasks.items()}
    family = str(meta.get("family", "")).strip()
    return {family: None} if family and labels == "raw" and "," not in family else {}


def fitted_task(meta: Mapping[str, Any]) -> FittedTask | None:
    """The task of an adapted checkpoint's ``meta``; None if it was never adapted."""
    adapted = meta.get("adapted")
    if not isinstance(adapted, dict):
        return None
    low, high = (float(v) for v in adapted.get("accuracy_range", (np.nan, np.nan)))
    origin = adapted.get("from")
    if isinstance(origin, dict):  # written with a named task
        source, base = str(origin.get("checkpoint", "")), tuple(map(str, origin.get("tasks", ())))
    else:  # an older adapted checkpoint: "from" is the base's family; its meta["tasks"] the base's
        source, base = "", tuple(map(str, meta.get("tasks") or ()))
    name = adapted.get("task")
    quantiles = (meta.get("tasks") or {}).get(name, ()) if name is not None else ()
    return FittedTask(None if name is None else str(name), int(adapted.get("labels", 0)), low, high,
                      tuple(float(q) for q in quantiles), source, base)


def fitted_meta(meta: Mapping[str, Any], labels: str, accuracies: Sequence[float], name: str,
                source: str) -> dict[str, Any]:
    """The meta of a checkpoint (``meta``, ``labels``) adapted to ``accuracies`` as task ``name``,
    from the checkpoint ``source``: that task alone in ``meta["tasks"]``, the rest in
    ``meta["adapted"]`` (see the module's docstring)."""
    y = np.asarray(accuracies, dtype=np.float64)
    quantiles = np.quantile(y, np.linspace(0.0, 1.0, QUANTILES))
    origin = {"checkpoint": source, "family": str(meta.get("family", "")), "tasks": list(spoken_tasks(meta, labels))}
    adapted = {"task": check_task_name(name), "labels": int(y.size), "accuracy_range": [float(y.min()), float(y.max())],
               "from": origin}
    return {**meta, "tasks": {name: [round(float(q), 6) for q in quantiles]}, "adapted": adapted}
