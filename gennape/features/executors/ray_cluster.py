"""``ray``: the same tasks on a Ray cluster (``address=None`` starts a local one).

Ray has no per-task timeout, so the parent keeps at most ``workers`` tasks in flight (one CPU
each: submitted tasks start at once), waits with ``ray.wait(timeout=...)`` until the nearest
deadline, and cancels an overdue task with ``ray.cancel(force=True)``, which kills its worker.
The bound counts from submission, so it includes a fresh worker's start-up.

On a multi-node cluster every node needs gennape installed. The proxy batch travels through the
object store (nodes need no data mirror), but ONNX files are read by path: keep them on a
filesystem all nodes share.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from gennape.features.executors.base import Outcome, Task, prepare_worker, register_executor

T = TypeVar("T")


def _ray_call(fn: Task, item: Any, shared: Any, imports: Sequence[str]) -> Any:
    prepare_worker(imports)
    return fn(item, shared)


@register_executor("ray")
class RayExecutor:
    """Ray tasks, one CPU each.

    Args:
        workers: tasks in flight (default: the cluster's CPUs); with ``address=None``, also the
            CPUs of the local cluster started.
        shared: put once in the object store and passed as every task's second argument.
        imports: modules each task imports first (to register extra features).
        address: the cluster (``ray.init(address=...)``); None starts a local one, unless Ray is
            already initialised in this process, which is then used as it is.
    """

    def __init__(self, workers: int | None = None, shared: Any = None, imports: Sequence[str] = (),
                 address: str | None = None) -> None:
        import ray

        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address, num_cpus=workers if address is None else None,
                     include_dashboard=False, log_to_driver=False)
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_call)
        self._shared = ray.put(shared)
        self._imports = list(imports)

    def _result(self, ref: Any) -> Outcome:
        ray = self._ray
        try:
            return Outcome(ray.get(ref))
        except ray.exceptions.RayTaskError as err:
            cause = err.cause if err.cause is not None else err
            return Outcome(error=f"error: {type(cause).__name__}: {cause}")
        except ray.exceptions.RayError as err:  # worker died, node lost, object lost
            return Outcome(error=f"crash: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")

    def map(self, fn: Task, items: Sequence[T], timeout_s: float | None) -> Iterator[tuple[T, Outcome]]:
        """Run ``fn(item, shared)`` for every item; yield ``(item, outcome)`` as each finishes."""
        ray = self._ray
        todo = iter(items)
        flight: dict[Any, tuple[T, float]] = {}  # ref -> (item, deadline)
        try:
            while True:
                while len(flight) < self.workers and (item := next(todo, None)) is not None:
                    ref = self._remote.remote(fn, item, self._shared, self._imports)
                    flight[ref] = (item, time.monotonic() + timeout_s if timeout_s else float("inf"))
                if not flight:
                    return
                wait = min(d for _, d in flight.values()) - time.monotonic()
                ready, _ = ray.wait(list(flight), num_returns=1,
                                    timeout=None if wait == float("inf") else max(0.0, wait))
                for ref in ready:
                    item, _ = flight.pop(ref)
                    yield item, self._result(ref)
                now = time.monotonic()
                for ref, (item, deadline) in list(flight.items()):
                    if deadline <= now:
                        ray.cancel(ref, force=True)
                        del flight[ref]
                        yield item, Outcome(error="timeout")
        finally:
            for ref in flight:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owns:
            self._ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
