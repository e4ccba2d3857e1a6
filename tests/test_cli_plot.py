"""``predict.py --plot``: score (or predicted accuracy) against FLOPs, the non-dominated files
marked (issue 32). The CLI runs in a subprocess on three small CNNs exported here; the drawing
and the Pareto set are also checked in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gennape.inference.predict import Prediction
from gennape.inference.ranking_plot import PlotError, draw_ranking, non_dominated, plot_ranking

ROOT = Path(__file__).resolve().parents[1]
NETS = {"small": (8, 1), "medium": (16, 2), "wide": (32, 2)}
PNG = b"\x89PNG\r\n\x1a\n"


from nets import cnn as _cnn  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("plot")
    (d / "m").mkdir()
    for i, (name, args) in enumerate(NETS.items()):
        torch.manual_seed(i)
        torch.onnx.export(_cnn(*args).eval(), (torch.randn(1, 3, 32, 32),), str(d / "m" / f"{name}.onnx"),
                          dynamo=False, opset_version=17)
    return d


def _predict(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": ""}
    return subprocess.run([sys.executable, str(ROOT / "predict.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _table_files(stdout: str) -> set[str]:
    return {Path(line.split()[-1]).name for line in stdout.splitlines() if line.strip().endswith(".onnx")}


def test_non_dominated():
    # (FLOPs, score): a cheap weak one, a costly strong one, one beaten on both counts by the
    # second, one equal to the first (neither dominates the other), one as good for more FLOPs.
    flops = [1.0, 10.0, 20.0, 1.0, 12.0]
    scores = [0.1, 0.9, 0.5, 0.1, 0.9]
    assert non_dominated(flops, scores) == [True, True, False, True, False]
    assert non_dominated([], []) == []
    assert non_dominated([5.0], [0.0]) == [True]
    # strictly better on both: only the best stays
    assert non_dominated([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == [True, False, False]
    # a trade-off all along: every point stays
    assert non_dominated([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == [True, True, True]
    with pytest.raises(ValueError):
        non_dominated([1.0], [1.0, 2.0])


def _preds(accuracy: bool) -> list[Prediction]:
    rows = [("a.onnx", 0.2, 1e6), ("b.onnx", 0.8, 1e8), ("c.onnx", 0.5, 1e9), ("d.onnx", 0.6, 1e7)]
    out = [Prediction(f, score=s, flops=fl, predicted_accuracy=(60 + 30 * s) if accuracy else None, rank=0)
           for f, s, fl in rows]
    return out + [Prediction("bad.onnx", error="bad.onnx: not an ONNX file")]


@pytest.mark.parametrize("accuracy", [False, True])
def test_draw_ranking_axes_labels_and_legend(accuracy):
    import matplotlib.pyplot as plt

    fig = draw_ranking(_preds(accuracy))
    try:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log"
        assert ax.get_xlabel() == "FLOPs (log scale)"
        assert ax.get_ylabel() == ("predicted accuracy (%)" if accuracy else "score (higher = predicted better)")
        names = sorted(t.get_text() for t in ax.texts)
        assert names == ["a", "b", "d"]  # c costs more than b for a lower score; bad.onnx failed
        legend = ax.get_legend()
        assert legend is not None
        fig.canvas.draw()
        box = legend.get_window_extent().transformed(ax.transAxes.inverted())
        assert box.x0 >= 1.0  # right of the axes: never over the points
    finally:
        plt.close(fig)


def test_plot_ranking_errors(tmp_path):
    with pytest.raises(PlotError, match=r"cannot write the plot to .*nosuch.*no such folder"):
        plot_ranking(_preds(False), tmp_path / "nosuch" / "r.png")
    with pytest.raises(PlotError, match="no file was ranked"):
        plot_ranking([Prediction("x.onnx", error="x.onnx: no such file")], tmp_path / "r.png")
    with pytest.raises(PlotError, match=r"cannot write the plot to .*r\.nosuchformat: "):
        plot_ranking(_preds(False), tmp_path / "r.nosuchformat")
    assert list(tmp_path.iterdir()) == []


def test_cli_plot_writes_a_png(models):
    res = _predict(models, "m", "--plot", "out.png", "--no-features")
    assert res.returncode == 0, res.stderr
    assert _table_files(res.stdout) == {f"{n}.onnx" for n in NETS}
    out = models / "out.png"
    assert out.is_file()
    data = out.read_bytes()
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    from PIL import Image

    with Image.open(out) as im:
        im.verify()
    with Image.open(out) as im:
        assert im.format == "PNG" and min(im.size) > 100
    assert "plot saved to out.png" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_plot_missing_folder_is_one_line(models):
    res = _predict(models, "m", "--plot", "nosuch/out.png", "--no-features")
    assert res.returncode == 1
    assert _table_files(res.stdout) == {f"{n}.onnx" for n in NETS}  # the table is still printed
    lines = [line for line in res.stderr.splitlines() if "plot" in line]
    assert lines[0] == "error: cannot write the plot to nosuch/out.png: nosuch: no such folder (create it first)"
    assert len(lines) == 2 and lines[1].startswith("3 ranked, 1 failed (the plot)")
    assert "Traceback" not in res.stderr
    assert not (models / "nosuch").exists()
