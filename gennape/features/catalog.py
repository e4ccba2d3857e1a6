"""One registry of feature names: every zero-cost proxy, plus ``flops``, ``params`` and NNGP.

A feature is computed from a :class:`~gennape.graph.ComputeGraph` alone: graph statistics read it,
everything that runs a network runs ``to_torch(cg, batchnorm=True)`` (fresh weights, a BatchNorm
after each conv where the canonical form folds them away), so a network's features are the same
whether it came from ONNX, PyTorch or a search-space spec.

- Every registered proxy (:func:`gennape.features.proxies.list_proxies`) is a feature of the same
  name, scored on the proxy minibatch; proxies of one shared pass (grad_norm, snip, plain, fisher)
  are one producer, run once however many of them are asked for.
- ``flops`` (2 x MACs of one forward pass at batch 1) and ``params`` (of the BatchNorm-folded
  network, a bias on every Conv / Linear) are read from the graph, nothing runs.
- ``nngp`` (held-out accuracy of the NNGP kernel regression) and ``nngp_loss`` (its MSE) come from
  one computation. They are slower than all proxies together, so they are not defaults: ask for
  them, e.g. ``features=[flops,params,synflow,nngp]``.

:func:`default_features` is every registered feature marked default (all proxies, flops, params).
Register more with :func:`register_feature`; one producer may return several named outputs.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial

import torch

from gennape.features.static import get_static, list_static
from gennape.features.proxies import ProxyResult, list_proxies, run_proxies, shared_pass_of
from gennape.graph import ComputeGraph, to_torch

Value = float | ProxyResult
FeatureFn = Callable[[ComputeGraph, "FeatureInputs"], Value | Mapping[str, Value]]


@dataclass(frozen=True)
class FeatureInputs:
    """Data features are computed on, built once by the parent and shipped to every worker.

    Args:
        seed: seeds model initialisation (and, through :func:`make_inputs`, which images).
        batch: the proxy minibatch ``(inputs, targets)``, when a proxy is asked for.
        nngp_data: ``(x_train, y_train, x_val, y_val)``, when an NNGP feature is asked for.
        nngp_draws: random initialisations averaged in the NNGP kernel.
        resolution: which side length the images take for each network (:data:`RESOLUTIONS`):
            ``batch`` as built, ``own`` the network's own resolution, ``prefer`` the batch's where
            the network runs at it and its own otherwise (the zoo, ONNX files: a network with a
            global pool runs at 32 px at a fiftieth of its 224 px cost).
        max_gflops: networks costing more GFLOPs per image at the side length they take get no
            image-based features (missing, with that reason): a transformer of fixed 224 px
            input would cost minutes. None: no bound.
    """

    seed: int = 0
    batch: tuple[torch.Tensor, torch.Tensor] | None = None
    nngp_data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    nngp_draws: int = 2
    resolution: str = "batch"
    max_gflops: float | None = None


@dataclass(frozen=True)
class Feature:
    """A producer of one or more named features.

    Args:
        names: the features it returns (a single float is the value of ``names[0]``).
        fn: ``fn(cg, inputs)`` returning a float, a ProxyResult, or a mapping name -> either.
        needs: which fields of :class:`FeatureInputs` it reads (``batch``, ``nngp_data``).
        default: part of :func:`default_features`.
    """

    names: tuple[str, ...]
    fn: FeatureFn
    needs: frozenset[str] = field(default_factory=frozenset)
    default: bool = True


_FEATURES: dict[str, Feature] = {}


def register_feature(*names: str, needs: Iterable[str] = (), default: bool = True) -> Callable[[FeatureFn], FeatureFn]:
    """Decorator registering a producer of the features ``names``.

    Args:
        names: the feature names it returns; unique across features and proxies.
        needs: fields of :class:`FeatureInputs` it reads.
        default: whether :func:`default_features` includes it.
    """

    def deco(fn: FeatureFn) -> FeatureFn:
        for n in names:
            if n in _FEATURES and _FEATURES[n].fn is not fn:
                raise ValueError(f"feature {n!r} is already registered ({_FEATURES[n].fn})")
        feat = Feature(tuple(names), fn, frozenset(needs), default)
        for n in names:
            _FEATURES[n] = feat
        return fn

    return deco


RESOLUTIONS = ("batch", "own", "prefer")


_RUNS_AT: dict[tuple[str, int], bool] = {}  # (graph hash, side) -> answer: one probe per network


def runs_at(cg: ComputeGraph, size: int) -> bool:
    """Whether the network of ``cg`` runs on ``size`` x ``size`` images (one forward of two images;
    a network that flattens a fixed-size map or has fixed token counts does not). Probed once per
    graph and size, however many of its features ask."""
    if len(cg.input_shape) != 3 or cg.input_shape[0] != 3:
        return False
    if tuple(cg.input_shape[1:]) == (size, size):
        return True
    key = (cg.hash, size)
    if key not in _RUNS_AT:
        try:
            with torch.no_grad():
                to_torch(cg).eval()(torch.zeros(2, 3, size, size))  # 2: a reshape that folds the batch fails too
            _RUNS_AT[key] = True
        except Exception:  # any failure means "not at this size": the network's own is used instead
            _RUNS_AT[key] = False
    return _RUNS_AT[key]


def side_for(cg: ComputeGraph, batch_side: int, resolution: str) -> tuple[int, int]:
    """The (h, w) a network's images take under a ``resolution`` mode (:data:`RESOLUTIONS`)."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution mode {resolution!r}; known: {list(RESOLUTIONS)}")
    own = tuple(cg.input_shape[-2:]) if len(cg.input_shape) == 3 else (batch_side, batch_side)
    if resolution == "batch" or (resolution == "prefer" and runs_at(cg, batch_side)):
        return batch_side, batch_side
    return own  # type: ignore[return-value]


def _fit(x: torch.Tensor, size: tuple[int, int], cg: ComputeGraph, inputs: FeatureInputs) -> torch.Tensor:
    """The images at ``size``, unless the network costs more than ``inputs.max_gflops`` there."""
    if inputs.max_gflops is not None and len(cg.input_shape) == 3:
        gflops = cg.flops * size[0] * size[1] / max(1, cg.input_shape[1] * cg.input_shape[2]) / 1e9
        if gflops > inputs.max_gflops:
            raise ValueError(f"over the cost bound: more than {inputs.max_gflops:g} GFLOPs per image at "
                             f"{size[0]}x{size[1]}")
    if tuple(x.shape[-2:]) == size:
        return x
    return torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True)


def _proxies(names: tuple[str, ...], cg: ComputeGraph, inputs: FeatureInputs) -> dict[str, ProxyResult]:
    assert inputs.batch is not None, "the proxy batch was not built"
    x, y = inputs.batch
    x = _fit(x, side_for(cg, int(x.shape[-1]), inputs.resolution), cg, inputs)
    return run_proxies(names, lambda: to_torch(cg, batchnorm=True), x, y, seed=inputs.seed)


def get_feature(name: str) -> Feature:
    """The producer of feature ``name`` (a registered feature or proxy)."""
    if name in _FEATURES:
        return _FEATURES[name]
    if name in list_proxies():  # the proxies of one shared pass are one producer
        names = shared_pass_of(name)
        return Feature(names, partial(_proxies, names), frozenset({"batch"}), True)
    raise KeyError(f"unknown feature {name!r}; known: {list_features()}")


def list_features() -> list[str]:
    """Every feature name: registered features and proxies, sorted."""
    return sorted(set(_FEATURES) | set(list_proxies()))


def default_features() -> list[str]:
    """Features computed when none are asked for: all proxies, ``flops`` and ``params``."""
    return [n for n in list_features() if get_feature(n).default]


def needs_of(names: Iterable[str]) -> set[str]:
    """Union of the inputs the features ``names`` read."""
    return set().union(*(get_feature(n).needs for n in names))


def make_inputs(names: Iterable[str], seed: int = 0, batch_size: int = 64,
                nngp_images: int = 128, nngp_draws: int = 2, image_size: int = 32,
                resolution: str = "batch", max_gflops: float | None = None) -> FeatureInputs:
    """The :class:`FeatureInputs` the features ``names`` need (no CIFAR-10 read when none does).

    Args:
        names: feature names.
        seed: model seed and image-draw seed.
        batch_size: images in the proxy minibatch.
        nngp_images: NNGP training and held-out images (each).
        nngp_draws: NNGP random initialisations.
        image_size: side length the CIFAR-10 images are resized to (the networks' resolution).
        resolution: a :data:`RESOLUTIONS` mode (see :class:`FeatureInputs`).
        max_gflops: cost bound per image (see :class:`FeatureInputs`).
    """
    from gennape.features.batch import cifar10_images, proxy_batch

    needs = needs_of(names)
    batch = proxy_batch(batch_size, seed=seed, image_size=image_size) if "batch" in needs else None
    nngp = None
    if "nngp_data" in needs:
        nngp = (*cifar10_images(nngp_images, seed=seed, split="train", image_size=image_size),
                *cifar10_images(nngp_images, seed=seed, split="test", image_size=image_size))
    return FeatureInputs(seed, batch, nngp, nngp_draws, resolution, max_gflops)


def _as_result(value: Value, seconds: float) -> ProxyResult:
    if isinstance(value, ProxyResult):
        return value
    value = float(value)
    if math.isnan(value):
        return ProxyResult(None, "nan", seconds)
    if math.isinf(value):
        return ProxyResult(None, "+inf (overflow)" if value > 0 else "-inf", seconds)
    return ProxyResult(value, None, seconds)


def _with_biases(cg: ComputeGraph) -> ComputeGraph:
    """``cg`` with a bias on every layer that can have one (those whose parameter count grows).

    Exporters drop a bias that is zero, as a BatchNorm folded at fresh initialisation is (torch's
    dynamo exporter does, the legacy one and tracing do not), so whether a layer has a bias is not a
    fact about the network: ``ComputeGraph.hash`` ignores it, and the features must too, or one
    network would get two sets of features. A bias everywhere matches the BatchNorm-folded network.
    """
    nodes = tuple(replace(n, bias=True) if replace(n, bias=True).params > replace(n, bias=False).params
                  else n for n in cg.nodes)
    return cg if nodes == cg.nodes else ComputeGraph(nodes, cg.inputs, cg.name)


def compute_features(cg: ComputeGraph, names: Iterable[str], inputs: FeatureInputs) -> dict[str, ProxyResult]:
    """Features ``names`` of ``cg``; errors, NaN and infinities become missing values with a reason.

    Features are computed on ``cg`` with a bias on every Conv / Linear (see :func:`_with_biases`),
    so that graphs with the same hash get the same features. Each producer runs once even when
    several of its outputs are asked for.
    """
    cg = _with_biases(cg)
    names = list(dict.fromkeys(names))
    out: dict[str, ProxyResult] = {}
    for n in names:
        if n in out:
            continue
        feat = get_feature(n)
        wanted = [m for m in feat.names if m in names]
        start = time.perf_counter()
        try:
            raw = feat.fn(cg, inputs)
        except Exception as err:  # one feature failing must not lose the others
            reason = "error: " + traceback.format_exception_only(type(err), err)[-1].strip()
            out.update({m: ProxyResult(None, reason, time.perf_counter() - start) for m in wanted})
            continue
        seconds = time.perf_counter() - start
        values = raw if isinstance(raw, Mapping) else {feat.names[0]: raw}
        for m in wanted:
            out[m] = _as_result(values[m], seconds) if m in values else ProxyResult(None, "not returned", seconds)
    return {n: out[n] for n in names}


def _static(fn: Callable[[ComputeGraph], float], cg: ComputeGraph, inputs: FeatureInputs) -> float:
    return fn(cg)


for _name in list_static():  # flops, params: read off the graph (gennape.features.static)
    register_feature(_name)(partial(_static, get_static(_name)))


@register_feature("nngp", "nngp_loss", needs=("nngp_data",), default=False)
def _nngp(cg: ComputeGraph, inputs: FeatureInputs) -> dict[str, float]:
    from gennape.features.nngp import nngp_score

    assert inputs.nngp_data is not None, "the NNGP images were not built"
    x_tr, y_tr, x_va, y_va = inputs.nngp_data
    size = side_for(cg, int(x_tr.shape[-1]), inputs.resolution)
    res = nngp_score(lambda: to_torch(cg, batchnorm=True), draws=inputs.nngp_draws, seed=inputs.seed,
                     data=(_fit(x_tr, size, cg, inputs), y_tr, _fit(x_va, size, cg, inputs), y_va))
    return {"nngp": res.accuracy, "nngp_loss": res.loss}
