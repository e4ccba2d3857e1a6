"""Per-run figures: predicted against true accuracy per family, and the embedding coloured by family.

Every axis is in the unit it plots. A model trained on published labels predicts an accuracy; a
score model (labels normalised within each task) predicts where a network stands among a task's
networks: read off the task's label quantiles where it was trained on the task (an accuracy again),
else plotted as the score it is, with no identity line. The title says which, with the SRCC.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402


@dataclass(frozen=True)
class Scale:
    """What a predicted value is: the y-axis label and the title's word for it."""

    label: str
    says: str
    accuracy: bool  # on the true labels' scale: an identity line and an MAE mean something


# what a prediction is (gennape.evaluation.evaluate.task_scale) -> how it is plotted
SCALES: dict[str, Scale] = {
    "accuracy": Scale("predicted accuracy (%)", "predicted accuracy", True),
    "task accuracy": Scale("predicted accuracy (%)", "score read off the task's label quantiles", True),
    "rank_gauss": Scale("predicted score (normal quantile within a task)", "a score, not an accuracy", False),
    "quantile": Scale("predicted score (quantile within a task)", "a score, not an accuracy", False),
}


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise KeyError(f"unknown prediction scale {name!r}; known: {', '.join(SCALES)}")
    return SCALES[name]


def pred_vs_true_figure(y: np.ndarray, pred: np.ndarray, title: str, scale: str) -> Figure:
    """Scatter of ``pred`` (on ``scale``, a key of :data:`SCALES`) against the true accuracy ``y``;
    the identity line and the MAE where both are accuracies."""
    s = get_scale(scale)
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.scatter(y, pred, s=4, alpha=0.4)
    srcc = float(stats.spearmanr(y, pred).statistic) if np.ptp(y) > 0 and np.ptp(pred) > 0 else 0.0
    facts = [s.says, f"SRCC {srcc:.3f}"]
    if s.accuracy:
        lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)  # prediction = truth
        facts.append(f"MAE {np.abs(y - pred).mean():.2f}")
    ax.set(xlabel="true accuracy (%)", ylabel=s.label, title=f"{title}\n{', '.join(facts)}")
    ax.title.set_fontsize(10)
    fig.tight_layout()
    return fig


def embedding_figure(embeddings: dict[str, np.ndarray], title: str = "graph embeddings", max_points: int = 3000,
                     seed: int = 0) -> Figure:
    """2-D PCA of graph embeddings, one colour per family (subsampled for readability), the legend
    outside the axes.

    Args:
        embeddings: family name -> ``[N, D]`` embeddings.
        title: the figure's title.
        max_points: points drawn per family at most.
        seed: seed of the subsample.
    """
    rng = np.random.default_rng(seed)
    picked = {k: v[rng.choice(len(v), min(len(v), max_points), replace=False)] for k, v in embeddings.items()}
    x = np.concatenate(list(picked.values())).astype(np.float64)
    x = x - x.mean(0)
    _, sv, vt = np.linalg.svd(x, full_matrices=False)
    share = sv ** 2 / max(float((sv ** 2).sum()), 1e-300)
    xy = x @ vt[:2].T
    fig, ax = plt.subplots(figsize=(7.0, 4.5), layout="constrained")  # makes room for the legend
    start = 0
    for name, e in picked.items():
        ax.scatter(xy[start:start + len(e), 0], xy[start:start + len(e), 1], s=4, alpha=0.5, label=name)
        start += len(e)
    ax.set(xlabel=f"PC 1 ({share[0]:.0%} of variance)",
           ylabel=f"PC 2 ({share[1]:.0%} of variance)" if len(share) > 1 else "PC 2", title=title)
    fig.legend(markerscale=3, loc="outside right upper", frameon=False)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` (everything drawn, the legend outside the axes too) and close it."""
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
