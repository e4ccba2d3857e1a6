"""Executors run tasks ``fn(item, shared)`` somewhere and yield results to the parent as they finish.

An executor is registered under a name (``local``: processes on this machine, the default;
``ray``: a Ray cluster) and built as ``get_executor(name)(workers=..., shared=..., imports=...,
address=...)``. ``shared`` is sent to each worker once (the proxy batch), not with every task.
Every task is bounded in time: one that runs longer than ``timeout_s`` is killed and yields
``Outcome(error="timeout")``; a worker that dies yields ``Outcome(error="crash: ...")``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from gennape.registry import Registry

T = TypeVar("T")
Task = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Outcome:
    """What became of one task: its return ``value``, or ``error`` (``timeout``, ``crash: ...``)."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(Protocol):
    """What the featuriser needs from an executor; also a context manager that frees workers."""

    def map(self, fn: Task, items: Sequence[T], timeout_s: float | None) -> Iterator[tuple[T, Outcome]]:
        """Run ``fn(item, shared)`` for every item; yield ``(item, outcome)`` in completion order."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc: object) -> None: ...


_EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor", sort=True)
register_executor = _EXECUTORS.register  # class decorator registering an executor under ``name``
get_executor = _EXECUTORS.get
list_executors = _EXECUTORS.names


def prepare_worker(imports: Sequence[str]) -> None:
    """Run in every worker before its first task: one torch thread (workers are the parallelism),
    and the ``imports`` that register extra features or proxies."""
    import torch

    torch.set_num_threads(1)
    for module in imports:
        importlib.import_module(module)


# Importing the executor modules registers them.
from gennape.features.executors import local, ray_cluster  # noqa: E402,F401  isort: skip

__all__ = ["Executor", "Outcome", "get_executor", "list_executors", "prepare_worker", "register_executor"]
