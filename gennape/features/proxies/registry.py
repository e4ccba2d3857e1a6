"""Registry of zero-cost proxies and the runner that scores one network with several of them.

A proxy is a function ``fn(model, inputs, targets, **kwargs) -> float`` registered under a short
name with :func:`register_proxy`, or several at once with :func:`register_shared_pass` when they
read one pass (the loss-gradient proxies). :func:`compute_proxies` builds a *fresh* model for every
proxy or shared pass (some proxies mutate weights: synflow takes ``|W|``, zen re-initialises),
seeds everything, and turns NaN, infinities and exceptions into a missing value with a reason
instead of a number.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from gennape.core.registry import Registry


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


class SharedPassFn(Protocol):
    """A pass that yields several proxies at once: ``{name: score}`` for every member."""

    def __call__(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]: ...


# proxy name -> (the names its shared pass yields, the pass)
_SHARED: dict[str, tuple[tuple[str, ...], SharedPassFn]] = {}


def register_shared_pass(*names: str) -> Callable[[SharedPassFn], SharedPassFn]:
    """Decorator: ``fn(model, inputs, targets) -> {name: score}`` yields the proxies ``names`` from
    one forward/backward pass (grad_norm, snip, plain and fisher read the same loss gradient).
    Each name is also registered as a proxy of its own that runs the pass and keeps its score, so
    a proxy's value is the same whether it is computed alone or with the others."""

    def deco(fn: SharedPassFn) -> SharedPassFn:
        for n in names:
            register_proxy(n)(_member(fn, n))
            _SHARED[n] = (tuple(names), fn)
        return fn

    return deco


def _member(fn: SharedPassFn, name: str) -> ProxyFn:
    def proxy(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        return fn(model, inputs, targets)[name]

    proxy.__doc__ = f"{name}, from the shared pass {fn.__name__}."
    return proxy


def shared_pass_of(name: str) -> tuple[str, ...]:
    """The proxies computed by the same pass as ``name`` (``(name,)`` when it has its own)."""
    return _SHARED[name][0] if name in _SHARED else (name,)


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)


def _checked(value: float, seconds: float) -> ProxyResult:
    if math.isnan(value):
        return ProxyResult(None, "nan", seconds)
    if math.isinf(value):
        return ProxyResult(None, "+inf (overflow)" if value > 0 else "-inf", seconds)
    return ProxyResult(value, None, seconds)


def _run(fn: SharedPassFn, names: Sequence[str], model_factory: Callable[[], nn.Module],
         inputs: torch.Tensor, targets: torch.Tensor, seed: int) -> dict[str, ProxyResult]:
    """``names`` from ``fn`` on a fresh model; an exception is every name's missing reason."""
    start = time.perf_counter()
    try:
        _seed_all(seed)
        model = model_factory()
        model.train()
        _seed_all(seed)
        raw = fn(model, inputs.clone(), targets.clone())
        values = {n: float(raw[n]) for n in names}
    except Exception as err:  # a proxy failing on one network must not stop a sweep
        tail = traceback.format_exception_only(type(err), err)[-1].strip()
        return {n: ProxyResult(None, f"error: {tail}", time.perf_counter() - start) for n in names}
    seconds = time.perf_counter() - start
    return {n: _checked(v, seconds) for n, v in values.items()}


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
    fn = get_proxy(name)
    return _run(lambda m, x, y: {name: fn(m, x, y)}, [name], model_factory, inputs, targets, seed)[name]


def run_proxies(
    names: Sequence[str],
    model_factory: Callable[[], nn.Module],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    seed: int = 0,
) -> dict[str, ProxyResult]:
    """Like :func:`run_proxy` for several proxies; those of one shared pass run it once, on one
    fresh model (same values as alone: same seed, same batch)."""
    out: dict[str, ProxyResult] = {}
    for n in dict.fromkeys(names):
        if n in out:
            continue
        if n in _SHARED:
            members, fn = _SHARED[n]
            out.update(_run(fn, members, model_factory, inputs, targets, seed))
        else:
            out[n] = run_proxy(n, model_factory, inputs, targets, seed=seed)
    return {n: out[n] for n in dict.fromkeys(names)}


def compute_proxies(
    model_factory: Callable[[], nn.Module],
    batch: tuple[torch.Tensor, torch.Tensor],
    names: Iterable[str] | None = None,
    seed: int = 0,
) -> dict[str, ProxyResult]:
    """Score one network with several proxies, each on a freshly built model (one per shared pass).

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
    return run_proxies(chosen, model_factory, inputs, targets, seed=seed)
