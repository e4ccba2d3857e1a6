"""``predict.py --plot``: the ranked files' score (or predicted accuracy) against their FLOPs.

The files no other file beats on both counts (:func:`non_dominated`: as good a score for as few
FLOPs) are marked and labelled with their file stem. matplotlib (Agg) is imported only when a plot
is drawn, so ranking without ``--plot`` never loads it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gennape.inference.predict import Prediction


class PlotError(ValueError):
    """The plot cannot be written (one line naming the path and the problem)."""


def non_dominated(flops: Sequence[float], scores: Sequence[float]) -> list[bool]:
    """Which points are on the Pareto front of (lower FLOPs, higher score): point i is dominated
    when another point has FLOPs <= and score >= it, one of the two strictly. Equal points
    dominate neither each other, so both stay on the front."""
    n = len(flops)
    if len(scores) != n:
        raise ValueError(f"{n} FLOPs and {len(scores)} scores")
    out = []
    for i in range(n):
        f, s = flops[i], scores[i]
        out.append(not any(flops[j] <= f and scores[j] >= s and (flops[j] < f or scores[j] > s)
                           for j in range(n) if j != i))
    return out


def draw_ranking(preds: Sequence[Prediction]):  # -> matplotlib.figure.Figure
    """The figure of the ranked predictions (failures and files without FLOPs left out): the
    predicted accuracy where every file has one, else the score, against FLOPs on a log axis;
    the non-dominated files (:func:`non_dominated`) marked, joined and named by their stem; the
    legend outside the axes, off the data. A PlotError if there is nothing to draw."""
    ok = [p for p in preds if p.error is None and p.score is not None and p.flops is not None and p.flops > 0]
    if not ok:
        raise PlotError("no file was ranked")
    accuracy = all(p.predicted_accuracy is not None for p in ok)
    ys = [float(p.predicted_accuracy if accuracy else p.score) for p in ok]  # type: ignore[arg-type]
    xs = [float(p.flops) for p in ok]  # type: ignore[arg-type]
    if not all(math.isfinite(v) for v in ys):
        raise PlotError("a non-finite score")
    front = non_dominated(xs, ys)

    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    rest = [i for i, f in enumerate(front) if not f]
    on = sorted((i for i, f in enumerate(front) if f), key=lambda i: xs[i])
    if rest:
        ax.scatter([xs[i] for i in rest], [ys[i] for i in rest], s=22, color="0.6", label="other files", zorder=2)
    ax.step([xs[i] for i in on], [ys[i] for i in on], where="post", color="tab:red", lw=1, alpha=0.6, zorder=1)
    ax.scatter([xs[i] for i in on], [ys[i] for i in on], s=46, color="tab:red", edgecolor="black", lw=0.6,
               label="non-dominated: no file scores\nhigher with fewer FLOPs", zorder=3)
    labelled = [i for i, p in enumerate(ok) if p.labelled]
    if labelled:
        ax.scatter([xs[i] for i in labelled], [ys[i] for i in labelled], s=90, facecolor="none",
                   edgecolor="tab:blue", lw=1.2, label="labelled (--labels)", zorder=4)
    for i in on:
        ax.annotate(Path(ok[i].file).stem, (xs[i], ys[i]), xytext=(4, 4), textcoords="offset points",
                    fontsize=8, zorder=5)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # 2x10^6, 3x10^6... overlap
    ax.margins(x=0.08, y=0.12)  # room for the names
    ax.set_xlabel("FLOPs (log scale)")
    ax.set_ylabel("predicted accuracy (%)" if accuracy else "score (higher = predicted better)")
    ax.set_title(f"{len(ok)} file{'s' * (len(ok) != 1)} ranked by gennape", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)
    return fig


def plot_ranking(preds: Sequence[Prediction], path: str | os.PathLike) -> Path:
    """Draw the ranked predictions (:func:`draw_ranking`) to ``path`` (its suffix gives the
    format; none: PNG); returns the path. Folders are never created; every failure is a PlotError
    whose message names the path, and a partly written file is removed."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        why = "not a folder" if folder.exists() else "no such folder (create it first)"
        raise PlotError(f"cannot write the plot to {target}: {folder}: {why}")
    if target.is_dir():
        raise PlotError(f"cannot write the plot to {target}: it is a folder")
    try:
        fig = draw_ranking(preds)
    except PlotError as e:
        raise PlotError(f"cannot write the plot to {target}: {e}") from None
    import matplotlib.pyplot as plt

    existed = target.exists()
    try:
        fig.savefig(target, dpi=120, bbox_inches="tight")
    except Exception as e:  # noqa: BLE001 - no permission, a full disk, an unknown format: one line
        if not existed:
            target.unlink(missing_ok=True)
        why = e.strerror if isinstance(e, OSError) and e.strerror else (str(e).strip().splitlines() or [""])[0]
        raise PlotError(f"cannot write the plot to {target}: {why or type(e).__name__}") from None
    finally:
        plt.close(fig)
    return target
