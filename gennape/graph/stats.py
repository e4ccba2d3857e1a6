"""Graph statistics of an encoded network, GRAF-like: what its operations are, where its compute
sits, how deep and wide it is. Each is a function of the network alone and, apart from the size
terms, free of its scale (shares and ratios), so a family of another resolution or width reads on
the same axes.

Works on the numpy encoding (``op`` ``[N]``, ``feat`` ``[N, F]``, ``edge_index`` ``[2, E]``), so the
torch-free prediction path computes it too.
"""

from __future__ import annotations

import numpy as np

from gennape.graph.encoding import FEATURE_NAMES
from gennape.graph.ops import list_ops

_OPS = {o: i for i, o in enumerate(list_ops())}
_F = {n: i for i, n in enumerate(FEATURE_NAMES)}
_ACTIVATIONS = ("ReLU", "ReLU6", "HardSwish", "HardSigmoid", "Sigmoid", "SiLU", "GELU", "Tanh")
_POOLS = ("MaxPool", "AvgPool")

GRAPH_STATS = (
    "log_flops", "log_params", "weight_layers", "depth", "log_nodes", "depth_ratio",
    "dw_share", "linear_share", "conv1_share", "conv3_share", "conv_large_share",
    "flops_conv1", "flops_conv3", "flops_conv_large", "flops_dw", "flops_linear",
    "params_conv1", "params_conv3", "params_conv_large", "params_dw", "params_linear",
    "add_per_layer", "concat_per_layer", "mul_per_layer", "pool_per_layer", "act_per_layer",
    "downsamples", "log_resolution", "log_max_channels", "mean_log_channels", "log_final_channels",
    "in_degree",
)


def _ids(names: tuple[str, ...]) -> list[int]:
    return [_OPS[n] for n in names if n in _OPS]


def longest_path(weight: np.ndarray, edge_index: np.ndarray) -> int:
    """The largest sum of ``weight`` on a path of the DAG ``edge_index`` (Kahn's order)."""
    n = len(weight)
    if n == 0:
        return 0
    src, dst = np.asarray(edge_index, dtype=np.int64).reshape(2, -1)
    indeg = np.bincount(dst, minlength=n)
    out: list[list[int]] = [[] for _ in range(n)]
    for s, t in zip(src.tolist(), dst.tolist()):
        out[s].append(t)
    best = weight.astype(np.int64).copy()
    stack = [i for i in range(n) if indeg[i] == 0]
    while stack:
        i = stack.pop()
        for j in out[i]:
            best[j] = max(best[j], best[i] + weight[j])
            indeg[j] -= 1
            if indeg[j] == 0:
                stack.append(j)
    return int(best.max())


def graph_stats(op: np.ndarray, feat: np.ndarray, edge_index: np.ndarray, flops: float, params: float) -> np.ndarray:
    """The :data:`GRAPH_STATS` of one encoded network, ``[len(GRAPH_STATS)]`` float64."""
    op, feat = np.asarray(op), np.asarray(feat, dtype=np.float64)
    conv, dw, lin = op == _OPS["Conv"], op == _OPS["DepthwiseConv"], op == _OPS["Linear"]
    weight = conv | dw | lin
    w = max(int(weight.sum()), 1)
    k = np.maximum(feat[:, _F["kernel_h"]], feat[:, _F["kernel_w"]])
    c1, c3, cl = conv & (k <= 1), conv & (k > 1) & (k <= 3), conv & (k > 3)
    fs, ps = feat[:, _F["flops_share"]], feat[:, _F["params_share"]]
    depth = longest_path(weight.astype(np.int64), edge_index)
    hw_in, hw_out = feat[:, _F["log_hw_in"]], feat[:, _F["log_hw_out"]]
    spatial = hw_out > 0
    down = int(((hw_out < hw_in - 1e-6) & spatial & (hw_in > 0)).sum())
    c_out = feat[weight, _F["log_c_out"]]
    inputs = op == _OPS["Input"]
    res = float(hw_out[inputs].max()) if inputs.any() else 0.0
    final = feat[lin, _F["log_c_in"]] if lin.any() else c_out
    src_dst = np.asarray(edge_index).reshape(2, -1)
    count = lambda names: float(np.isin(op, _ids(names)).sum()) / w  # noqa: E731
    return np.array([
        np.log10(float(flops) + 1.0), np.log10(float(params) + 1.0), float(weight.sum()), float(depth),
        np.log10(len(op) + 1.0), depth / w,
        dw.sum() / w, lin.sum() / w, c1.sum() / w, c3.sum() / w, cl.sum() / w,
        fs[c1].sum(), fs[c3].sum(), fs[cl].sum(), fs[dw].sum(), fs[lin].sum(),
        ps[c1].sum(), ps[c3].sum(), ps[cl].sum(), ps[dw].sum(), ps[lin].sum(),
        count(("Add",)), count(("Concat",)), count(("Mul",)), count(_POOLS), count(_ACTIVATIONS),
        float(down), res, float(c_out.max()) if len(c_out) else 0.0, float(c_out.mean()) if len(c_out) else 0.0,
        float(final[-1]) if len(final) else 0.0,
        src_dst.shape[1] / max(len(op), 1),
    ], dtype=np.float64)
