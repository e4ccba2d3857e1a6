"""Size features of an encoded graph, and the size-only predictors every model is measured against.

The size of a network explains much of its accuracy in every family (bigger trains better), so a
predictor earns its keep only above what size alone gives: FLOPs, params, the number of weight
layers (Conv, DepthwiseConv, Linear) and the depth (weight layers on the longest input-output
path) as scores, and, with a few labels, a least-squares fit of accuracy on all four.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from gennape.graph.ops import list_ops
from gennape.graph.stats import longest_path

WEIGHT_OPS = ("Conv", "DepthwiseConv", "Linear")
SIZE_FEATURES = ("log_flops", "log_params", "weight_layers", "depth")


def _weight_nodes(d: Data) -> np.ndarray:
    vocab = list_ops()
    ids = [vocab.index(o) for o in WEIGHT_OPS if o in vocab]
    return np.isin(d.op.numpy(), ids)


def weight_layers(d: Data) -> int:
    """Nodes of ``d`` that hold weights (Conv, DepthwiseConv, Linear)."""
    return int(_weight_nodes(d).sum())


def depth(d: Data) -> int:
    """Weight layers on the longest path of ``d`` (a DAG in node order or not)."""
    return longest_path(_weight_nodes(d).astype(np.int64), d.edge_index.numpy())


def size_features(graphs: Sequence[Data]) -> np.ndarray:
    """``[N, 4]``: log10 FLOPs, log10 params (both + 1), weight layers and depth of each graph
    (computed once per graph and kept on it as ``size_feat`` ``[1, 4]``)."""
    rows = []
    for d in graphs:
        if getattr(d, "size_feat", None) is None:
            d.size_feat = torch.tensor([[np.log10(float(d.flops) + 1.0), np.log10(float(d.params) + 1.0),
                                         weight_layers(d), depth(d)]], dtype=torch.float64)
        rows.append(d.size_feat[0].numpy())
    return np.stack(rows) if rows else np.zeros((0, len(SIZE_FEATURES)))


def size_fit_coefficients(train: Sequence[Data], y: np.ndarray) -> tuple[np.ndarray, float]:
    """``(coef, intercept)`` of a least-squares fit of ``y`` on the :func:`size_features` of
    ``train``, in the features' own units. Features are standardised for the fit and the fit takes
    the minimum-norm solution, so a feature constant within the labelled sample (or more features
    than labels) is harmless."""
    a = size_features(train)
    mu, sd = a.mean(0), a.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    design = np.column_stack([np.ones(len(a)), (a - mu) / sd])
    w, *_ = np.linalg.lstsq(design, np.asarray(y, dtype=np.float64), rcond=None)
    coef = w[1:] / sd
    return coef, float(w[0] - mu @ coef)


def size_fit(train: Sequence[Data], y: np.ndarray, test: Sequence[Data]) -> np.ndarray:
    """Least-squares fit of ``y`` on the size features of ``train`` (and an intercept), applied to
    ``test`` (:func:`size_fit_coefficients`)."""
    coef, intercept = size_fit_coefficients(train, y)
    return size_features(test) @ coef + intercept
