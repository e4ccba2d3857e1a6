"""Registry of zero-cost proxies and the runner that scores one network with several of them.

A proxy is a function ``fn(model, inputs, targets, **kwargs) -> float`` registered under a short
name with :func:`register_proxy`. :func:`compute_proxies` builds a *fresh* model for every proxy
(some proxies mutate weights: synflow takes ``|W|``, zen re-initialises), seeds everything, and
turns NaN, infinities and exceptions into a missing value with a reason instead of a number.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from gennape.registry import Registry


class ProxyFn(Protocol):
    """Signature every registered proxy follows."""

    def __call__(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float: ...


_PROXIES: Registry[ProxyFn] = Registry("proxy", sort=True)
register_proxy = _PROXIES.register  # decorator; the name is also the feature table's column
get_proxy = _PROXIES.get
list_proxies = _PROXIES.names


@dataclass(frozen=True)
class ProxyResult:
    """One proxy's score: ``value`` is a finite float, or None with ``reason`` saying why.

    Args:
        value: the score, never NaN or infinite.
        reason: why the value is missing (None when it is present).
        seconds: wall-clock time the proxy took, model construction included.
    """

    value: float | None
    reason: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"ProxyResult value must be finite, got {self.value}")
        if self.value is None and not self.reason:
            raise ValueError("a missing ProxyResult needs a reason")

    @property
    def ok(self) -> bool:
        """True when a value is present."""
        return self.value is not None


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)


def run_proxy(
    name: str,
    model_factory: Callable[[], nn.Module],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    seed: int = 0,
) -> ProxyResult:
    """Score a fresh model from ``model_factory`` with proxy ``name``; never raises for model errors.

    Args:
        name: a registered proxy.
        model_factory: builds the network with fresh weights (called after seeding).
        inputs: the minibatch (N, C, H, W), already normalised.
        targets: class labels (N,), int64.
        seed: seeds torch before building the model and again before the proxy runs, so a
            proxy's own randomness (zen's Gaussian init and noise inputs) is reproducible.
    """
    import time

    fn = get_proxy(name)
    start = time.perf_counter()
    try:
        _seed_all(seed)
        model = model_factory()
        model.train()
        _seed_all(seed)
        value = float(fn(model, inputs.clone(), targets.clone()))
    except Exception as err:  # a proxy failing on one network must not stop a sweep
        tail = traceback.format_exception_only(type(err), err)[-1].strip()
        return ProxyResult(None, f"error: {tail}", time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if math.isnan(value):
        return ProxyResult(None, "nan", seconds)
    if math.isinf(value):
        return ProxyResult(None, "+inf (overflow)" if value > 0 else "-inf", seconds)
    return ProxyResult(value, None, seconds)


def compute_proxies(
    model_factory: Callable[[], nn.Module],
    batch: tuple[torch.Tensor, torch.Tensor],
    names: Iterable[str] | None = None,
    seed: int = 0,
) -> dict[str, ProxyResult]:
    """Score one network with several proxies, each on its own freshly built model.

    Args:
        model_factory: zero-argument callable returning the network with fresh weights.
        batch: ``(inputs, targets)``, e.g. from :func:`gennape.features.batch.proxy_batch`.
        names: proxies to compute (default: all registered).
        seed: random seed; the same seed and batch give the same values.
    """
    inputs, targets = batch
    chosen = list_proxies() if names is None else list(names)
    for n in chosen:
        get_proxy(n)  # fail early on a typo, before any work
    return {n: run_proxy(n, model_factory, inputs, targets, seed=seed) for n in chosen}
