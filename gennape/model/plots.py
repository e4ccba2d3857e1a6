"""Per-run figures: predicted vs true accuracy per family, and the embedding coloured by family."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def pred_vs_true(y: np.ndarray, pred: np.ndarray, title: str, path: str | Path) -> Path:
    """Scatter of predicted against true accuracy with the identity line."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y, pred, s=4, alpha=0.4)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set(xlabel="true accuracy (%)", ylabel="predicted accuracy (%)", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def embedding_pca(embeddings: dict[str, np.ndarray], path: str | Path, max_points: int = 3000,
                  seed: int = 0) -> Path:
    """2-D PCA of graph embeddings, one colour per family (subsampled for readability).

    Args:
        embeddings: family name -> ``[N, D]`` embeddings.
        path: output PNG.
        max_points: points drawn per family at most.
        seed: seed of the subsample.
    """
    rng = np.random.default_rng(seed)
    picked = {k: v[rng.choice(len(v), min(len(v), max_points), replace=False)] for k, v in embeddings.items()}
    x = torch.from_numpy(np.concatenate(list(picked.values()))).double()
    x = x - x.mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    xy = (x @ v[:2].t()).numpy()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    start = 0
    for name, e in picked.items():
        ax.scatter(xy[start:start + len(e), 0], xy[start:start + len(e), 1], s=4, alpha=0.5, label=name)
        start += len(e)
    ax.set(xlabel="PC 1", ylabel="PC 2", title="graph embeddings")
    ax.legend(markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
