"""The work a worker does: build an architecture's ComputeGraph, hash it, compute its features.

Two kinds of task, both plain picklable values and module-level functions so any executor (a
local process pool, a Ray cluster) can run them:

- :func:`index_archs`: a chunk of architectures -> ``(key, hash, error)`` rows (cheap: tracing
  only). The parent uses the hashes to compute features once per distinct graph.
- :func:`run_task`: one :class:`FeatureTask` -> ``{feature: ProxyResult}``, computed on
  ``to_torch(cg)``. Never raises for a broken network: failures are missing values with a reason.

Graph sources (a search-space spec, an ONNX file) are a registry: :func:`register_source`.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gennape.features.catalog import FeatureInputs, compute_features
from gennape.features.proxies import ProxyResult
from gennape.graph import ComputeGraph


@dataclass(frozen=True)
class Arch:
    """One architecture to featurise.

    Args:
        key: its id in the store (the spec string, the ONNX file's path in its folder).
        kind: a registered source (``spec``, ``onnx``).
        ref: what the source builds from (the spec string, the ONNX file's absolute path).
        space: the search space of a spec.
        shape: the (C, H, W) input a spec's network is traced at (default: the space's).
        classes: a spec's classifier outputs (default: the builder's).
    """

    key: str
    kind: str
    ref: str
    space: str | None = None
    shape: tuple[int, ...] | None = None
    classes: int | None = None


@dataclass(frozen=True)
class FeatureTask:
    """Compute ``features`` for the graph of ``arch``, expected to hash to ``hash``."""

    arch: Arch
    hash: str
    features: tuple[str, ...]


_SOURCES: dict[str, Callable[[Arch], ComputeGraph]] = {}


def register_source(kind: str) -> Callable[[Callable[[Arch], ComputeGraph]], Callable[[Arch], ComputeGraph]]:
    """Decorator registering ``fn(arch) -> ComputeGraph`` for architectures of ``kind``."""

    def deco(fn: Callable[[Arch], ComputeGraph]) -> Callable[[Arch], ComputeGraph]:
        _SOURCES[kind] = fn
        return fn

    return deco


@register_source("spec")
def _from_spec(arch: Arch) -> ComputeGraph:
    from gennape.spaces import get_space

    if arch.space is None:
        raise ValueError(f"spec {arch.key!r} has no search space")
    return get_space(arch.space).graph(arch.ref, arch.shape, arch.classes)


@register_source("onnx")
def _from_onnx(arch: Arch) -> ComputeGraph:
    from gennape.graph import from_onnx

    return from_onnx(arch.ref)


def load_graph(arch: Arch) -> ComputeGraph:
    """The canonical ComputeGraph of ``arch``."""
    try:
        source = _SOURCES[arch.kind]
    except KeyError:
        raise KeyError(f"unknown architecture source {arch.kind!r}; known: {sorted(_SOURCES)}") from None
    return source(arch)


def _describe(err: BaseException) -> str:
    return traceback.format_exception_only(type(err), err)[-1].strip()


def index_archs(archs: Sequence[Arch], inputs: FeatureInputs | None = None) -> list[tuple[str, str | None, str | None]]:
    """``(key, hash, None)`` per architecture whose graph builds, else ``(key, None, error)``."""
    rows: list[tuple[str, str | None, str | None]] = []
    for arch in archs:
        try:
            rows.append((arch.key, load_graph(arch).hash, None))
        except Exception as err:  # a corrupt file must not stop the others
            rows.append((arch.key, None, _describe(err)))
    return rows


def run_task(task: FeatureTask, inputs: FeatureInputs) -> dict[str, ProxyResult]:
    """The features of one architecture, on a fresh ``to_torch`` of its graph."""
    try:
        cg = load_graph(task.arch)
    except Exception as err:
        return {f: ProxyResult(None, f"error: graph: {_describe(err)}") for f in task.features}
    if cg.hash != task.hash:
        reason = (f"error: graph hash changed ({task.hash} -> {cg.hash}): the builder or frontend "
                  "changed since the store was indexed; delete the store to recompute")
        return {f: ProxyResult(None, reason) for f in task.features}
    return compute_features(cg, task.features, inputs)
