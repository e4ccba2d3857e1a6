"""The run's figures say what they plot: axes in their units, the title naming score or accuracy
with the SRCC, the embedding's legend off the points (matplotlib Agg)."""

from types import SimpleNamespace

import numpy as np
import pytest

from gennape.evaluation.evaluate import task_scale
from gennape.model.plots import embedding_figure, pred_vs_true_figure, save

RNG = np.random.default_rng(0)
Y = 70 + 15 * RNG.random(200)  # accuracies of 70-85 %
SCORE = (Y - Y.mean()) / Y.std() + 0.3 * RNG.standard_normal(200)  # a score model's output, about 0


def test_a_score_is_plotted_as_a_score_and_an_accuracy_as_one():
    net = SimpleNamespace(labels="rank_gauss")  # a score model (labels normalised within each task)
    pred, scale = task_scale(net, SCORE, None)  # a task it was not trained on: no scale
    fig = pred_vs_true_figure(Y, pred, "gennape on nb101 (zero-shot)", scale)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "true accuracy (%)" and ax.get_ylabel() == "predicted score (normal quantile within a task)"
    assert "a score, not an accuracy, SRCC 0.9" in ax.get_title() and "MAE" not in ax.get_title()
    assert not ax.lines  # no identity line between a score and an accuracy
    quantiles = np.quantile(Y, np.linspace(0, 1, 101)).tolist()
    pred, scale = task_scale(net, SCORE, quantiles)  # its own task: read off the task's labels
    assert scale == "task accuracy" and Y.min() <= pred.min() and pred.max() <= Y.max()
    ax = pred_vs_true_figure(Y, pred, "gennape on nb201 (in-family test)", scale).axes[0]
    assert ax.get_ylabel() == "predicted accuracy (%)" and len(ax.lines) == 1
    assert "score read off the task's label quantiles, SRCC 0.9" in ax.get_title() and "MAE " in ax.get_title()
    assert task_scale(SimpleNamespace(labels="raw"), Y, None) == (Y, "accuracy")
    with pytest.raises(KeyError, match="unknown prediction scale 'raw'"):
        pred_vs_true_figure(Y, Y, "t", "raw")


def test_embedding_legend_sits_outside_the_points(tmp_path):
    emb = {"nb201 (in-family test)": RNG.standard_normal((300, 8)), "nb101 (zero-shot)": RNG.standard_normal((300, 8)) + 2}
    fig = embedding_figure(emb, "graph embeddings of gennape (PCA)")
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = fig.legends[0].get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())
    assert ax.get_xlabel().startswith("PC 1 (") and ax.get_xlabel().endswith("of variance)")
    path = save(fig, tmp_path / "embedding.png")
    import matplotlib.image

    height, width = matplotlib.image.imread(path).shape[:2]
    assert width / height > 1.2  # the legend is drawn, beside the axes
