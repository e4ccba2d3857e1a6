"""Executors run tasks ``fn(item, shared)`` somewhere and yield results to the parent as they finish.

An executor is registered under a name (``local``: processes on this machine, the default;
``ray``: a Ray cluster) and built as ``get_executor(name)(workers=..., shared=..., imports=...,
address=...)``. ``shared`` is sent to each worker once (the proxy batch), not with every task.
Every task is bounded in time: one that runs longer than ``timeout_s`` is killed and yields
``Outcome(error="timeout")``; a worker that dies yields ``Outcome(error="crash: ...")``.
"""

from gennape.features.executors.base import (Executor, Outcome, Task, get_executor, list_executors,
                                             prepare_worker, register_executor)

# Importing the executor modules registers them.
from gennape.features.executors import local, ray_cluster  # noqa: E402,F401  isort: skip

__all__ = ["Executor", "Outcome", "Task", "get_executor", "list_executors", "prepare_worker", "register_executor"]
