"""The executor contract: ``Outcome``, the ``Executor`` protocol, the registry and worker setup."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from gennape.core.registry import Registry

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
