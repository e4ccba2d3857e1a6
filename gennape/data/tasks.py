"""Tasks: a family of architectures trained on one dataset, with its label column.

A family (``nb201``, ``transnas_micro``, ``zoo``...) is a set of architectures from one search
space; a task is that family trained on one dataset and measured one way, e.g. ``nb201/cifar100``.
Labels are only ever compared within one task. A task also fixes what its networks look like:
the input resolution and the number of classes (so NB-201 on ImageNet16-120 has 16 x 16 inputs and
120 outputs, and its graphs differ from NB-201 on CIFAR-10). Tasks are a registry: a new dataset of
an existing family is one :func:`register_task` call.
"""

from __future__ import annotations

from dataclasses import dataclass

from gennape.core.registry import Registry


@dataclass(frozen=True)
class Task:
    """One (family, dataset) pair.

    Args:
        family: the family (a loader of :func:`gennape.data.loaders.load_family`).
        dataset: the dataset's short name; ``name`` is ``family/dataset``.
        target: the label column of the family table.
        input_shape: (C, H, W) the networks take; None where it differs by architecture (the zoo).
        num_classes: classifier outputs.
        metric: what the label measures (for tables).
        reference: the prefix of this task's reference values in the family table (``ref_``: the
            family's own; ``<dataset>.``: one set per task, as TransNAS's; None: none published).
    """

    family: str
    dataset: str
    target: str
    input_shape: tuple[int, int, int] | None
    num_classes: int
    metric: str = "top-1 accuracy (%)"
    reference: str | None = "ref_"

    @property
    def name(self) -> str:
        return f"{self.family}/{self.dataset}"


_TASKS: Registry[Task] = Registry("task")
_DEFAULT: dict[str, str] = {}


def register_task(task: Task, default: bool = False) -> Task:
    """Register ``task``; ``default`` makes it its family's task when none is named."""
    _TASKS.add(task.name, task)
    if default or task.family not in _DEFAULT:
        _DEFAULT[task.family] = task.name
    return task


def get_task(name: str) -> Task:
    """The task ``family/dataset``, or a family's default task when ``name`` is a family."""
    if "/" not in name and name in _DEFAULT:
        name = _DEFAULT[name]
    return _TASKS.get(name)


def list_tasks(family: str | None = None) -> list[str]:
    """Task names (of one family when given), default task of each family first."""
    names = [n for n in _TASKS.names() if family is None or n.split("/")[0] == family]
    return sorted(names, key=lambda n: (n.split("/")[0], n != _DEFAULT.get(n.split("/")[0]), n))


def default_task(family: str) -> Task:
    """The task a family stands for when none is named (NB-201: CIFAR-10)."""
    if family not in _DEFAULT:
        raise KeyError(f"no task registered for family {family!r}; known: {', '.join(sorted(_DEFAULT))}")
    return _TASKS.get(_DEFAULT[family])


for _t in (
    Task("nb201", "cifar10", "cifar10_valid_200ep", (3, 32, 32), 10),
    Task("nb201", "cifar100", "cifar100_valtest_200ep", (3, 32, 32), 100, reference=None),
    Task("nb201", "imagenet16", "imagenet16_valtest_200ep", (3, 16, 16), 120, reference="imagenet16."),
    Task("nb101", "cifar10", "val_accuracy", (3, 32, 32), 10),
    Task("nb301", "cifar10", "val_accuracy_surrogate", (3, 32, 32), 10,
         metric="top-1 accuracy (%), NB-301 surrogate"),
    Task("zoo", "imagenet", "top1", None, 1000, metric="top-1 accuracy (%), median over recipes"),
):  # fmt: skip
    register_task(_t)
# TransNAS-Bench-101's two classification tasks on Taskonomy images (Places-derived scene classes,
# ImageNet-derived object classes); the resolution is the benchmark's (see gennape.spaces.transnas).
for _family in ("transnas_macro", "transnas_micro"):
    register_task(Task(_family, "class_object", "class_object", (3, 256, 256), 100,
                       reference="class_object."))  # fmt: skip
    register_task(Task(_family, "class_scene", "class_scene", (3, 256, 256), 63,
                       reference="class_scene."))  # fmt: skip
