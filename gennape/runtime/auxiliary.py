"""Auxiliary features (zero-cost proxies, NNGP, FLOPs, params) as predictor-head inputs.

Training families read them from their feature store (``python -m gennape.features``), matched by
graph hash; ONNX inputs get them computed on the spot, at the model's own input resolution. Either
way a graph ends up with ``aux`` ``[1, F]`` (NaN where missing) and ``aux_mask`` ``[1, F]``, which
batch into the ``[B, F]`` the heads take (``gennape.model.heads``).

A *scaling* (registry below) maps the raw values of a scored set first:

- ``train``: raw values; the heads standardise them with the training family's statistics. Fine
  within a family, but another family's networks can lie far outside that range (NB-101's are
  about 10x NB-201's FLOPs), where the heads extrapolate.
- ``log``: ``sign(v) * log(1 + |v|)`` of each value, then (in the heads) the training statistics
  stored in the checkpoint. A function of each network alone: its score never depends on the
  other networks of a call, and FLOPs of 1e7 and 1e10 are a few units apart, not a thousandfold.
- ``set``: each feature's quantile within the set being scored (the training family in training,
  the target family in evaluation, the files given to ``predict.py``). Scale-free and label-free,
  but transductive: a network's input depends on the set it is ranked in (alone it gets 0.5).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from gennape.graph.ir import ComputeGraph
from gennape.core.registry import Registry

if TYPE_CHECKING:  # prediction imports this module without torch
    from torch_geometric.data import Data

Scaling = Callable[[np.ndarray], np.ndarray]
_SCALINGS: Registry[Scaling] = Registry("auxiliary-feature scaling")
register_scaling = _SCALINGS.register  # decorator adding ``fn(values [N, F]) -> [N, F]`` (NaN kept)
list_scalings = _SCALINGS.names


@register_scaling("train")
def _raw(values: np.ndarray) -> np.ndarray:
    return values


def quantiles(values: np.ndarray) -> np.ndarray:
    """``(rank - 0.5) / n`` of each value among ``values`` (1-D, finite), ties sharing their mean
    rank (``scipy.stats.rankdata``'s average ranks, without importing scipy.stats: 0.8 s)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
    return (mean_rank[inverse.reshape(-1)] - 0.5) / len(values)


@register_scaling("log")
def signed_log(values: np.ndarray) -> np.ndarray:
    """``sign(v) log(1 + |v|)``: counts and proxies spanning decades on a scale of units (NaN kept)."""
    return np.sign(values) * np.log1p(np.abs(values))


@register_scaling("set")
def _set_quantiles(values: np.ndarray) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    for j in range(values.shape[1]):
        present = np.isfinite(values[:, j])
        if present.any():
            out[present, j] = quantiles(values[present, j])
    return out


def scale(values: np.ndarray, scaling: str) -> np.ndarray:
    """``values`` ``[N, F]`` of one scored set, mapped by the registered ``scaling``."""
    return _SCALINGS.get(scaling)(np.asarray(values, dtype=np.float64).reshape(len(values), -1))


def aux_row(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """A graph's ``aux`` ``[1, F]`` (0 where missing) and ``aux_mask`` ``[1, F]`` from its feature
    values (NaN = missing)."""
    row = np.asarray(values, dtype=np.float32).reshape(1, -1)
    mask = np.isfinite(row)
    return np.where(mask, row, np.float32(0.0)), mask.astype(np.float32)


def set_aux(graph: Data, values: Sequence[float]) -> Data:
    """Give ``graph`` the feature row ``values`` (NaN = missing) and its presence mask."""
    import torch

    aux, mask = aux_row(values)
    graph.aux, graph.aux_mask = torch.from_numpy(aux), torch.from_numpy(mask)
    return graph


# Features every encoded graph carries itself (``Data.flops``, ``Data.params``): read from the graph,
# never from a store, so any task's networks have them whether or not a store was computed.
GRAPH_FEATURES = ("flops", "params")


def attach_features(graphs: Sequence[Data], family: str, names: Sequence[str], scaling: str = "train",
                    store: str | os.PathLike | None = None, require_store: bool = True) -> np.ndarray:
    """Set ``aux`` / ``aux_mask`` of a family's graphs from its feature store (the
    :data:`GRAPH_FEATURES` from the graphs themselves); returns the raw values.

    Args:
        graphs: the family's graphs (each with its ``hash``), the set ``scaling`` sees.
        family: names the default store ``data/features/<family>.sqlite``.
        names: feature names, in the order the heads take them.
        scaling: a registered scaling (``train`` or ``set``, see the module docstring).
        store: another store file.
        require_store: without a store file, fail (True) or leave the stored features missing.
    """
    from gennape.features.store import FeatureStore, default_path

    values = np.full((len(graphs), len(names)), np.nan)
    for j, n in enumerate(names):
        if n in GRAPH_FEATURES:
            values[:, j] = [float(getattr(d, n)) for d in graphs]
    stored = [n for n in names if n not in GRAPH_FEATURES]
    if stored:
        path = Path(store) if store else default_path(family)
        if not path.is_file() and not require_store:
            stored = []
        elif not path.is_file():
            raise FileNotFoundError(f"{family}: no feature table at {path}; compute it with "
                                    f"`python -m gennape.features family={family} features=[{','.join(stored)}]`")
    if stored:
        with FeatureStore(path) as fs:
            frame = fs.frame(stored)
        cols = [j for j, n in enumerate(names) if n not in GRAPH_FEATURES]
        values[:, cols] = frame.reindex(index=[d.hash for d in graphs], columns=stored).to_numpy(dtype=np.float64)
    for d, row in zip(graphs, scale(values, scaling)):
        set_aux(d, row)
        d.aux_names = tuple(names)
    return values


def stored_coverage(graphs: Sequence[Data], family: str, names: Sequence[str],
                    store: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """For each of ``names``, which of ``graphs`` (a boolean mask) the family's store holds it for,
    as a value or a missing-with-reason row. A feature computed for part of a family only must be
    scored on that part: alone it would rank the rest last."""
    from gennape.features.store import FeatureStore, default_path

    path = Path(store) if store else default_path(family)
    if not names or not path.is_file():
        return {n: np.zeros(len(graphs), dtype=bool) for n in names}
    hashes = [d.hash for d in graphs]
    with FeatureStore(path) as fs:
        done = {n: fs.done(hashes, [n]) for n in names}
    return {n: np.array([h in done[n] for h in hashes], dtype=bool) for n in names}


def compute_for_graphs(cgs: Sequence[ComputeGraph], names: Sequence[str], threads: int | None = None) -> np.ndarray:
    """Features ``names`` of ComputeGraphs, computed now (``[N, F]``, NaN where missing).

    Settings are :data:`gennape.features.settings.FILE_SETTINGS` (the zoo's store's): the CIFAR-10
    images shipped in the package, at 32 px where a network runs at it and its own resolution
    otherwise, nothing image-based above the cost bound. Graphs with one hash are computed once,
    and kept in the user's feature cache (``gennape.features.file_cache``) for the next call.
    FLOPs and params alone need neither torch nor images. ``threads``: torch's intra-op threads
    while computing (None: torch's default).
    """
    from gennape.features.static import list_static, static_values

    if all(n in list_static() for n in names):  # read off the graphs: no torch, no images
        return static_values(cgs, names)
    from gennape.features.file_cache import FileCache, as_rows, cache_path
    from gennape.features.settings import FILE_SETTINGS

    first = {cg.hash: cg for cg in reversed(cgs)}  # each hash's first graph
    cache = FileCache(cache_path(FILE_SETTINGS))
    done = {h: as_rows(v) for h, v in cache.get(list(first), list(names)).items()}
    todo = [cg for h, cg in first.items() if h not in done]
    if todo:
        from tqdm import tqdm

        from gennape.features.catalog import compute_features, make_inputs

        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        inputs = make_inputs(names, **FILE_SETTINGS)
        for cg in tqdm(todo, desc="features", unit="net", disable=None if len(todo) > 1 else True, leave=False):
            res = compute_features(cg, names, inputs)
            cache.put(cg.hash, {n: (res[n].value, res[n].reason) for n in names})
            done[cg.hash] = as_rows(res[n].value for n in names)
    cache.close()
    return np.array([done[cg.hash] for cg in cgs], dtype=np.float64).reshape(len(cgs), len(names))
