"""``local``: a pool of spawned processes on this machine (pebble), each task bounded in time.

pebble's ProcessPool kills a worker whose task exceeds its timeout and starts a fresh one, which
``multiprocessing.Pool`` cannot do. Workers are spawned (no forked torch state), run
:func:`~gennape.features.executors.base.prepare_worker` once, and keep ``shared`` in a global.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import as_completed
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from gennape.features.executors.base import Outcome, Task, prepare_worker, register_executor

T = TypeVar("T")
_SHARED: Any = None  # set in each worker by _init


def _init(shared: Any, imports: Sequence[str]) -> None:
    global _SHARED
    _SHARED = shared
    prepare_worker(imports)


def _call(fn: Task, item: Any) -> Any:
    return fn(item, _SHARED)


@register_executor("local")
class LocalExecutor:
    """Local process pool.

    Args:
        workers: processes (default: the machine's CPU count).
        shared: sent once to each worker, passed as every task's second argument.
        imports: modules each worker imports first (to register extra features).
        address: must be None (it is the Ray cluster's address).
    """

    def __init__(self, workers: int | None = None, shared: Any = None, imports: Sequence[str] = (),
                 address: str | None = None) -> None:
        if address is not None:
            raise ValueError(f"address={address!r} is for executor=ray; the local executor has none")
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPool(max_workers=self.workers, initializer=_init,
                                 initargs=(shared, list(imports)), context=mp.get_context("spawn"))

    def map(self, fn: Task, items: Sequence[T], timeout_s: float | None) -> Iterator[tuple[T, Outcome]]:
        """Run ``fn(item, shared)`` for every item; yield ``(item, outcome)`` as each finishes."""
        futures = {self._pool.schedule(_call, args=(fn, item), timeout=timeout_s): item for item in items}
        try:
            for fut in as_completed(futures):
                item = futures.pop(fut)
                try:
                    yield item, Outcome(fut.result())
                except FutureTimeout:
                    yield item, Outcome(error="timeout")
                except ProcessExpired as err:
                    yield item, Outcome(error=f"crash: worker died (exit code {err.exitcode})")
                except Exception as err:  # the task itself raised: report it, go on
                    yield item, Outcome(error=f"error: {type(err).__name__}: {err}")
        finally:
            for fut in futures:  # the consumer stopped early: drop what has not run
                fut.cancel()

    def close(self) -> None:
        self._pool.stop()
        self._pool.join()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
