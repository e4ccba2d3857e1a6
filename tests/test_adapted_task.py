"""An adapted checkpoint knows its task (issue 33), tried as a user would: the real
``python predict.py`` in a subprocess on the shipped examples (``examples/cifar10``), adapted once
from the shipped checkpoint (``--no-features``: the graph, FLOPs and params only, a few seconds).

The task is named with ``--task-name``, kept in the checkpoint with its labels' range, quantiles and
count and where it came from; it is the checkpoint's default and only ``--task``; ``score`` is the
predicted accuracy's position among the labels, never the accuracy again. An adapted checkpoint
written before tasks were named still works, with a note that its task is unnamed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gennape.inference.tasks import QUANTILES, FittedTask, TaskNameError, check_task_name, fitted_meta, \
    fitted_task, spoken_tasks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "cifar10"
LABELS = {"resnet20.onnx": 91.3, "plain_cnn.onnx": 85.0, "mlp.onnx": 55.2}
LOW, HIGH = min(LABELS.values()), max(LABELS.values())


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python predict.py *args`` in ``cwd``, on one torch thread (the machine is shared)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": ""}
    return subprocess.run([sys.executable, str(ROOT / "predict.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _error_line(r: subprocess.CompletedProcess) -> str:
    """The one line a refused run prints (exit code 2, nothing else on stderr, no table)."""
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A user's folder: ``known.csv`` (three of the examples' accuracies), and ``mine.ckpt`` adapted
    to them as the task ``mytask``; ``run``: that adapting run."""
    d = tmp_path_factory.mktemp("adapted")
    (d / "known.csv").write_text("file,accuracy\n" + "".join(f"{k},{v}\n" for k, v in LABELS.items()))
    run = _run(d, str(EXAMPLES), "--no-features", "--labels", "known.csv", "--task-name", "mytask",
               "--save-checkpoint", "mine.ckpt", "--format", "json")
    assert run.returncode == 0, run.stderr
    return {"dir": d, "run": run}


def _columns_are_honest(rows: list[dict]) -> None:
    """Every file has an accuracy on the labels' scale, and a score that is its position among
    the labels (0 = the lowest, 1 = the highest), not the accuracy again."""
    assert len(rows) == 4 and all(r["predicted_accuracy"] is not None for r in rows)
    for r in rows:
        assert r["score"] == pytest.approx((r["predicted_accuracy"] - LOW) / (HIGH - LOW), abs=1e-6)
        assert abs(r["score"] - r["predicted_accuracy"]) > 10
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]


def test_labels_run_gives_accuracies_and_says_what_the_columns_are(user):
    _columns_are_honest(json.loads(user["run"].stdout))
    assert "predicted accuracy: on mytask's scale (3 labels, 55.20-91.30, median 85.00; adapted from the shipped " \
           "default.ckpt" in user["run"].stderr


def test_list_tasks_of_the_adapted_checkpoint_shows_its_task_first(user):
    r = _run(user["dir"], "--checkpoint", "mine.ckpt", "--list-tasks")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("mytask\t3 labels, 55.20-91.30, median 85.00, adapted from the shipped default.ckpt")
    assert len(lines) == 1  # it puts accuracies on no other task
    gone = [line for line in r.stderr.splitlines() if line.startswith("no longer fitted to")]
    assert len(gone) == 1 and "nb201, nb201/cifar100" in gone[0]


def test_the_adapted_checkpoint_gives_accuracies_without_task(user):
    r = _run(user["dir"], str(EXAMPLES), "--no-features", "--checkpoint", "mine.ckpt", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    _columns_are_honest(rows)
    before = {x["file"]: x["predicted_accuracy"] for x in json.loads(user["run"].stdout)}
    assert {x["file"]: x["predicted_accuracy"] for x in rows} == pytest.approx(before, abs=1e-4)
    again = _run(user["dir"], str(EXAMPLES), "--no-features", "--checkpoint", "mine.ckpt", "--task", "mytask",
                 "--format", "json")
    assert [x["predicted_accuracy"] for x in json.loads(again.stdout)] == [x["predicted_accuracy"] for x in rows]


def test_a_task_the_adapted_checkpoint_no_longer_fits_is_one_line(user):
    line = _error_line(_run(user["dir"], str(EXAMPLES), "--no-features", "--checkpoint", "mine.ckpt", "--task",
                            "nb201"))
    assert line == "error: --task nb201: the checkpoint was adapted to mytask and no longer fits nb201; it knows " \
                   "mytask only (its default: leave --task out)"
    line = _error_line(_run(user["dir"], str(EXAMPLES), "--checkpoint", "mine.ckpt", "--task", "custom"))
    assert line.startswith("error: --task custom: the checkpoint was not trained on it; it knows mytask only")


def test_a_task_the_base_checkpoint_does_not_have_is_one_line(user):
    line = _error_line(_run(user["dir"], str(EXAMPLES), "--no-features", "--task", "custom"))
    assert line.startswith("error: --task custom: the checkpoint was not trained on it; it knows nb201, ")


def test_task_with_labels_and_bad_task_names_are_refused_before_adapting(user):
    line = _error_line(_run(user["dir"], str(EXAMPLES), "--no-features", "--labels", "known.csv", "--task", "nb201"))
    assert line.startswith("error: --task nb201: with --labels the checkpoint is adapted to custom (--task-name)")
    r = _run(user["dir"], str(EXAMPLES), "--labels", "known.csv", "--task-name", "my task")
    assert r.returncode == 2 and "error: --task-name 'my task': a task name is letters, digits" in r.stderr
    r = _run(user["dir"], str(EXAMPLES), "--task-name", "mytask")
    assert r.returncode == 2 and "error: --task-name needs --labels" in r.stderr


def _old_style(user) -> Path:
    """``mine.ckpt`` as gennape wrote an adapted checkpoint before tasks were named: no task in
    ``meta["adapted"]``, ``from`` the base's family, ``meta["tasks"]`` the base's."""
    from gennape.inference.predict import DEFAULT_CHECKPOINT
    from gennape.model.checkpoint import load_checkpoint, save_checkpoint

    base, ckpt = load_checkpoint(DEFAULT_CHECKPOINT), load_checkpoint(user["dir"] / "mine.ckpt")
    meta = {**ckpt.meta, "tasks": base.meta["tasks"],
            "adapted": {"labels": 3, "from": base.meta["family"], "accuracy_range": [LOW, HIGH]}}
    path = user["dir"] / "old.ckpt"
    save_checkpoint(path, ckpt.net, ckpt.model, ckpt.aux_features, ckpt.aux_scaling, meta)
    return path


def test_an_old_adapted_checkpoint_works_and_says_its_task_is_unnamed(user):
    old = _old_style(user)
    r = _run(user["dir"], str(EXAMPLES), "--no-features", "--checkpoint", old.name, "--format", "json")
    assert r.returncode == 0, r.stderr
    _columns_are_honest(json.loads(r.stdout))
    assert len([line for line in r.stderr.splitlines() if "unnamed" in line]) == 1
    listed = _run(user["dir"], "--checkpoint", old.name, "--list-tasks")
    assert listed.returncode == 0 and listed.stdout.startswith("(unnamed)\t3 labels, 55.20-91.30;")
    assert "no longer fitted to the 10 task(s)" in listed.stderr
    line = _error_line(_run(user["dir"], str(EXAMPLES), "--no-features", "--checkpoint", old.name, "--task", "nb201"))
    assert "adapted by an older gennape to an unnamed task" in line


# the meta, without the command line --------------------------------------------------------------

BASE = {"family": "nb201, nb101", "tasks": {"nb201": [10.0, 50.0, 90.0], "nb101": [80.0, 90.0, 95.0]}}


def test_fitted_meta_holds_the_task_alone_and_reads_back():
    meta = fitted_meta(BASE, "rank_gauss", [70.0, 60.0, 80.0, 75.0], "mine", "base.ckpt")
    assert list(meta["tasks"]) == ["mine"] and len(meta["tasks"]["mine"]) == QUANTILES
    assert meta["adapted"] == {"task": "mine", "labels": 4, "accuracy_range": [60.0, 80.0],
                               "from": {"checkpoint": "base.ckpt", "family": "nb201, nb101",
                                        "tasks": ["nb201", "nb101"]}}
    task = fitted_task(meta)
    assert (task.name, task.labels, task.low, task.high, task.base_tasks) == ("mine", 4, 60.0, 80.0,
                                                                             ("nb201", "nb101"))
    assert task.quantiles[0] == 60.0 and task.quantiles[-1] == 80.0 and task.scale() == (60.0, 20.0)
    assert json.loads(json.dumps(meta)) == meta  # plain data for the checkpoint's header
    assert spoken_tasks(meta, "raw") == {"mine": None}
    assert spoken_tasks(BASE, "rank_gauss") == BASE["tasks"] and fitted_task(BASE) is None


def test_an_old_meta_has_an_unnamed_task_and_no_task_to_name():
    old = {**BASE, "adapted": {"labels": 3, "from": "nb201, nb101", "accuracy_range": [55.0, 91.0]}}
    task = fitted_task(old)
    assert task == FittedTask(None, 3, 55.0, 91.0, (), "", ("nb201", "nb101"))
    assert spoken_tasks(old, "raw") == {} and task.shown == "(unnamed)"
    no_range = fitted_task({"adapted": {"labels": 2}})
    assert no_range.scale() == (0.0, 1.0) and np.isnan(no_range.low)


@pytest.mark.parametrize("name", ["", "my task", "a\tb", "x,y"])
def test_a_task_name_is_a_word(name):
    with pytest.raises(TaskNameError, match="--task-name"):
        check_task_name(name)
    assert check_task_name("cifar10/resnets-v2.1") == "cifar10/resnets-v2.1"
