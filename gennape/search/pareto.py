"""Two-objective helpers for ``objective=pareto``: accuracy (maximised) against FLOPs (minimised).

Everything works on points ``(acc, cost)`` with ``cost`` already on the scale the hypervolume is
measured in (``gennape.search.space.SearchTable.cost``: log10 FLOPs). The hypervolume is the area
dominated by a set of points and bounded by a reference point ``(acc_ref, cost_ref)`` (the worst
accuracy and the largest cost of the space), with both axes divided by the space's ranges so that
the area of the whole box is 1.
"""

from __future__ import annotations

import numpy as np


def non_dominated(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (at least as accurate and as cheap,
    strictly better in one). Duplicated points are all kept."""
    acc, cost = np.asarray(acc, float), np.asarray(cost, float)
    order = np.lexsort((-acc, cost))  # cheapest first, the most accurate first among equal costs
    mask = np.zeros(len(acc), bool)
    best = -np.inf
    best_cost = None
    for i in order:
        if acc[i] > best or (acc[i] == best and cost[i] == best_cost):
            mask[i] = True
            if acc[i] > best:
                best, best_cost = acc[i], cost[i]
    return mask


def pareto_layers(score: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Non-dominated sorting: each point's layer (0 = the front of all points, 1 = the front once
    layer 0 is removed...)."""
    score, cost = np.asarray(score, float), np.asarray(cost, float)
    layer = np.full(len(score), -1)
    left = np.arange(len(score))
    k = 0
    while len(left):
        m = non_dominated(score[left], cost[left])
        layer[left[m]] = k
        left = left[~m]
        k += 1
    return layer


def _staircase(acc: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The front of the points as a staircase: costs ascending, accuracies strictly ascending."""
    m = non_dominated(acc, cost)
    a, c = acc[m], cost[m]
    order = np.lexsort((a, c))
    a, c = a[order], c[order]
    keep = np.concatenate([[True], np.diff(a) > 0]) if len(a) else np.zeros(0, bool)
    return a[keep], c[keep]


def hypervolume(acc: np.ndarray, cost: np.ndarray, ref: tuple[float, float],
                scale: tuple[float, float] = (1.0, 1.0)) -> float:
    """Area dominated by the points inside the box from ``ref = (acc_ref, cost_ref)``; each axis
    divided by its ``scale`` (range). Points worse than the reference add nothing."""
    acc, cost = np.asarray(acc, float), np.asarray(cost, float)
    inside = (acc > ref[0]) & (cost < ref[1])
    if not inside.any():
        return 0.0
    a, c = _staircase(acc[inside], cost[inside])
    widths = np.diff(np.concatenate([c, [ref[1]]]))
    return float(((a - ref[0]) * widths).sum() / (scale[0] * scale[1]))


def hv_improvement(cand_acc: np.ndarray, cand_cost: np.ndarray, front_acc: np.ndarray,
                   front_cost: np.ndarray, ref: tuple[float, float]) -> np.ndarray:
    """The hypervolume each candidate alone would add to the points ``front_*`` (vectorised over
    candidates; 2-D, exact)."""
    cand_acc, cand_cost = np.asarray(cand_acc, float), np.asarray(cand_cost, float)
    fa, fc = np.asarray(front_acc, float), np.asarray(front_cost, float)
    inside = (fa > ref[0]) & (fc < ref[1])
    fa, fc = _staircase(fa[inside], fc[inside]) if inside.any() else (np.zeros(0), np.zeros(0))
    # The front's attained accuracy is a step function of cost: ref[0] before fc[0], fa[i] on
    # [fc[i], fc[i+1]). A candidate gains max(0, a - level) over [max(c, start), end) of each step.
    starts = np.concatenate([[-np.inf], fc])
    ends = np.concatenate([fc, [ref[1]]])
    levels = np.concatenate([[ref[0]], fa])
    lo = np.maximum(cand_cost[:, None], starts[None, :])
    width = np.clip(ends[None, :] - lo, 0.0, None)
    gain = np.clip(cand_acc[:, None] - levels[None, :], 0.0, None)
    return (width * gain).sum(1)
