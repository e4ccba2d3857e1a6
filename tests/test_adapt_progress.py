"""``predict.py --labels`` on a busy machine (issue 32): the adaptation runs on one torch thread
unless the user set OMP_NUM_THREADS, and shows a progress bar over its epochs on a terminal only
(Lightning's own bar stays off)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import torch

import gennape.inference.adapt
import gennape.inference.predict
from gennape.inference.adapt import EpochBar
from gennape.inference.labels import LabelError
from gennape.model.pipeline import make_trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import predict  # noqa: E402 - predict.py at the repository root


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_epoch_bar_counts_epochs_on_a_terminal(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    bar = EpochBar(3, delay=0.0)
    bar.on_train_start(None, None)
    for _ in range(3):
        bar.on_train_epoch_end(None, None)
    assert bar.bar.n == 3 and bar.bar.total == 3
    bar.on_train_end(None, None)
    assert "adapting to the labels" in err.getvalue()
    assert bar.bar is None


def test_epoch_bar_is_silent_off_a_terminal_and_closes_on_an_error(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    bar = EpochBar(300, delay=0.0)
    bar.on_train_start(None, None)
    bar.on_train_epoch_end(None, None)
    bar.on_exception(None, None, RuntimeError("stop"))
    assert err.getvalue() == "" and bar.bar is None


def test_trainer_kwargs_callbacks_join_the_stage_callbacks():
    bar = EpochBar(2)
    trainer = make_trainer(2, {"callbacks": [bar], "accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
                           None, [])
    assert bar in trainer.callbacks
    assert not any("ProgressBar" in type(c).__name__ for c in trainer.callbacks)  # Lightning's bar is off


@pytest.mark.parametrize("omp", [None, "2"])
def test_cli_asks_for_one_thread_unless_omp_is_set(monkeypatch, omp, capsys):
    seen = {}

    def fake(paths, checkpoint, timings, **kw):
        seen.update(kw)
        timings.update(graphs=0.0, adapt=0.0, predict=0.0)
        return []

    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    monkeypatch.setattr(gennape.inference.predict, "predict_files", fake)
    predict.main(["x.onnx", "--no-features"])
    assert seen["threads"] == (1 if omp is None else None)
    assert seen["progress"] is True


def test_adapting_sets_torch_threads_before_fine_tuning(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(("threads", n)))

    def fake_adapt(ckpt, graphs, accuracies, *args, progress=False, **kw):
        calls.append(("adapt", progress))
        raise LabelError("stop here")

    monkeypatch.setattr(gennape.inference.adapt, "adapt", fake_adapt)
    encoded = [{}, {}]  # never read: adapt is faked
    monkeypatch.setattr(gennape.inference.adapt, "as_data", lambda e: e)
    notes: list[str] = []
    assert gennape.inference.predict._adapted(None, encoded, [60.0, 70.0], "known.csv", None, notes, 1, True) is None
    assert calls == [("threads", 1), ("adapt", True)]
    calls.clear()
    gennape.inference.predict._adapted(None, encoded, [60.0, 70.0], "known.csv", None, [], None, False)
    assert calls == [("adapt", False)]
