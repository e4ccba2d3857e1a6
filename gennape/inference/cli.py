"""Rank ONNX models by how well they will train, without training them.

    python predict.py model_a.onnx model_b.onnx
    python predict.py models/ --format json
    python predict.py models/ --labels known.csv [--task-name mine] [--save-checkpoint adapted.ckpt]
    python predict.py models/ --task nb201/cifar100       # accuracies on a task the model knows
    python predict.py --list-tasks
    python predict.py dynamic_hw.onnx --input-size 224 224
    python predict.py models/ --plot ranking.png          # score against FLOPs, the Pareto front marked

Folders are searched for ``*.onnx``. Files that fail are reported with the reason and never stop
the others; the exit code is 1 if any failed. ``score``: higher = predicted better, a function
of the file alone (scores of two calls compare): the model's output, or for an adapted checkpoint
the predicted accuracy's position among its labels (0 = the lowest, 1 = the highest).
``predicted_accuracy`` is given only where the model is calibrated: after ``--labels`` (a
``file,accuracy`` CSV of some of the files: a copy of the checkpoint is adapted to them, a task
named by ``--task-name``, and every file is predicted on their scale), with a checkpoint so
adapted (its task is its default and only one), or with ``--task`` naming a task the checkpoint
was trained on; otherwise it is blank. ``uncertainty`` (``± 80%``) is the half-width of an 80 %
interval around the predicted accuracy, in accuracy points, for a checkpoint adapted with
``--interval``: calibrated on a fifth of its labels that fine-tuning never saw (20 labels or
more; docs/transfer.md measures its coverage on unseen families); blank otherwise, and zero-shot,
where no interval we could calibrate covered what it claimed. A model exported with a dynamic height and width needs
``--input-size H W``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the rest is imported after the arguments are parsed: --help answers at once
    from gennape.inference.predict import Prediction
    from gennape.inference.tasks import FittedTask

COLUMNS = ("rank", "score", "predicted_accuracy", "uncertainty", "flops", "params", "labelled", "given_accuracy",
           "file", "error")


def _num(v: float | None, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def as_table(preds: list[Prediction]) -> str:
    """A plain-text table, best first, failures at the end."""
    labelled = any(p.labelled for p in preds)
    head = ("rank", "score", "pred. acc", "± 80%", "MFLOPs", "params", *(("label",) if labelled else ()), "file")
    rows = [head]
    for p in preds:
        if p.error is None:
            rows.append((str(p.rank), _num(p.score, ".3f"), _num(p.predicted_accuracy, ".2f"), _num(p.uncertainty, ".2f"),
                         _num(p.flops / 1e6 if p.flops is not None else None, ",.1f"),
                         _num(p.params, ",.0f"), *((_num(p.given_accuracy, ".2f"),) if labelled else ()), p.file))
        else:
            rows.append(("-", "failed", *[""] * (len(head) - 3), p.error))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows)


def as_csv(preds: list[Prediction]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for p in preds:
        w.writerow({k: v for k, v in p.as_dict().items() if k in COLUMNS})
    return buf.getvalue().rstrip("\n")


def as_json(preds: list[Prediction]) -> str:
    out = []
    for p in preds:
        d = p.as_dict()
        if p.error is None:
            d.pop("error")
        out.append(d)
    return json.dumps(out, indent=2)


FORMATS: dict[str, Callable[[list[Prediction]], str]] = {"table": as_table, "csv": as_csv, "json": as_json}


def list_tasks(checkpoint: str) -> int:
    """Print the tasks the checkpoint can put accuracies on (``--task``), one a line: an adapted
    checkpoint's own task (its labels' count and range) first. On stderr, so that the task list
    stays one task per line: the features it reads, and the tasks an adapted checkpoint no longer
    fits."""
    from gennape.inference.predict import checkpoint_tasks, fitted, load_predictor

    predictor = load_predictor(checkpoint)
    names = predictor.aux_features
    print(f"features the checkpoint reads: {', '.join(names) or 'none (the graph alone)'}", file=sys.stderr)
    own = fitted(predictor)
    if own is not None:
        _list_fitted(checkpoint, own)
        return 0
    tasks = checkpoint_tasks(predictor)
    if not tasks:
        print(f"{checkpoint}: no task; it predicts a ranking score only (adapt it with --labels)")
        return 0
    for name, q in tasks.items():
        span = f"labels {q[0]:.2f}-{q[-1]:.2f}" if q else "its output is this task's accuracy"
        print(f"{name}\t{span}")
    return 0


def _list_fitted(checkpoint: str, own: FittedTask) -> None:
    """``--list-tasks`` of an adapted checkpoint: the task it was fitted to (its default), and one
    line on stderr naming the tasks of the checkpoint it came from, which it no longer fits."""
    origin = f", adapted from {own.source}" if own.source else ""
    print(f"{own.shown}\t{own.span()}{origin}; the default task (its output is this task's accuracy)")
    if own.name is None:
        print(f"{checkpoint}: adapted by an older gennape, which did not name its task; re-adapt with "
              f"--labels ... --task-name NAME to name it", file=sys.stderr)
    if own.base_tasks:
        print(f"no longer fitted to the {len(own.base_tasks)} task(s) of the checkpoint it was adapted from: "
              f"{', '.join(own.base_tasks)}", file=sys.stderr)


def _terminated(signum: int, frame: object) -> None:
    """``kill`` (SIGTERM) unwinds like Ctrl-C: a checkpoint being written leaves no temporary file."""
    raise SystemExit(128 + signum)


def _plot(preds: list[Prediction], path: str) -> bool:
    """``--plot``: draw the ranking to ``path`` (matplotlib, imported here); a failure is one line
    naming the path. True if it was written."""
    from gennape.inference.ranking_plot import PlotError, plot_ranking

    try:
        target = plot_ranking(preds, path)
    except PlotError as e:
        print(f"error: {e}", file=sys.stderr)
        return False
    print(f"plot saved to {target}", file=sys.stderr)
    return True


def main(argv: list[str] | None = None, command: bool = False) -> int:
    """``python predict.py``: parse ``argv``, rank the files, print; returns the exit code.
    ``command``: this is the process's own command (``kill`` then unwinds like Ctrl-C)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="ONNX files or folders of them")
    ap.add_argument("--checkpoint", help="predictor checkpoint (default: the one shipped with gennape)")
    ap.add_argument("--format", choices=sorted(FORMATS), default="table")
    ap.add_argument("--labels", metavar="CSV", help="file,accuracy of some of the files: adapt to them first")
    ap.add_argument("--save-checkpoint", metavar="PATH",
                    help="with --labels: write the adapted checkpoint to this file, or to PATH/adapted.ckpt "
                         "where PATH is a folder (folders are never created)")
    ap.add_argument("--task-name", metavar="NAME",
                    help="with --labels: the name of the task they are, kept in the adapted checkpoint (default: "
                         "custom)")
    ap.add_argument("--interval", action="store_true",
                    help="with --labels (20 or more): keep a fifth of them apart to calibrate an 80 %% interval "
                         "(the ± 80%% column); the model then fits the other four fifths")
    ap.add_argument("--task", help="give accuracies on this task's scale (one of --list-tasks; an adapted "
                                   "checkpoint's default is its own task)")
    ap.add_argument("--list-tasks", action="store_true",
                    help="the tasks the checkpoint was trained on, or adapted to (and the features it reads), "
                         "and exit")
    ap.add_argument("--no-features", action="store_true",
                    help="skip the zero-cost proxies and NNGP the checkpoint takes (computed on 64 shipped "
                         "CIFAR-10 images, which loads torch); they count as missing, and FLOPs and params "
                         "are still read off the graph")
    ap.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"),
                    help="input resolution for models exported with a dynamic height and width")
    ap.add_argument("--plot", metavar="PNG",
                    help="also draw the score (or predicted accuracy) against FLOPs to this file, the files "
                         "no other beats on both marked and named (the format follows the suffix)")
    args = ap.parse_args(argv)
    if args.input_size is not None and min(args.input_size) < 1:
        ap.error("--input-size takes two positive integers")
    if args.save_checkpoint and not args.labels:
        ap.error("--save-checkpoint needs --labels")
    if args.task_name is not None and not args.labels:
        ap.error("--task-name needs --labels")
    if args.interval and not args.labels:
        ap.error("--interval needs --labels")
    from gennape.inference.tasks import DEFAULT_TASK_NAME, TaskNameError, check_task_name

    try:
        task_name = check_task_name(args.task_name if args.task_name is not None else DEFAULT_TASK_NAME)
    except TaskNameError as e:
        ap.error(str(e))
    from gennape.inference.predict import DEFAULT_CHECKPOINT, SaveError, TaskError, note_level, predict_files, quiet_libraries
    from gennape.runtime.checkpoint_file import CheckpointError

    args.checkpoint = args.checkpoint or str(DEFAULT_CHECKPOINT)
    if command:  # the command, not a caller's process
        signal.signal(signal.SIGTERM, _terminated)
    quiet_libraries()
    try:
        if args.list_tasks:
            return list_tasks(args.checkpoint)
        if not args.paths:
            ap.error("give ONNX files or folders (or --list-tasks)")
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        notes: list[str] = []
        preds = predict_files(args.paths, args.checkpoint, timings, features=not args.no_features,
                              input_size=tuple(args.input_size) if args.input_size else None,
                              labels=args.labels, task=args.task, save_checkpoint=args.save_checkpoint, notes=notes,
                              task_name=task_name, interval=args.interval,
                              # a busy machine makes torch's threads contend: one, unless the user chose
                              threads=None if "OMP_NUM_THREADS" in os.environ else 1, progress=True)
    except (CheckpointError, TaskError, SaveError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for n in notes:
        level = note_level(n)
        print(n if level == "info" else f"{level}: {n}", file=sys.stderr)
    if not preds:
        print("error: no .onnx files found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    print(FORMATS[args.format](preds))
    ok = [p for p in preds if p.error is None]
    if ok and all(p.predicted_accuracy is None for p in ok):  # below the table; never inside JSON or CSV
        print("predicted accuracy: blank, the model gives a ranking score only; for accuracies give "
              "--labels known.csv (a few of these files' accuracies) or --task NAME (python predict.py "
              "--list-tasks)", file=sys.stdout if args.format == "table" else sys.stderr)
    plot_failed = args.plot is not None and not _plot(preds, args.plot)
    files_failed = len(preds) - len(ok)
    # what failed besides files (the labels, the checkpoint's save): counted, so that the exit code
    # (1 if anything failed) and this line always agree
    others = list(dict.fromkeys(getattr(n, "what", "") or "run" for n in notes if note_level(n) == "error"))
    others += ["plot"] * plot_failed
    failed = files_failed + len(others)
    what = ([f"{files_failed} file{'s' * (files_failed != 1)}"] if files_failed and others else []) + \
        [{"labels": "the labels", "checkpoint": "the checkpoint's save", "plot": "the plot"}.get(w, w) for w in others]
    detail = f" ({', '.join(what)})" if what else ""
    print(f"{len(ok)} ranked, {failed} failed{detail} in "
          f"{time.perf_counter() - t0:.2f} s (graphs {timings['graphs']:.2f} s, adapting {timings['adapt']:.2f} s, "
          f"features and prediction {timings['predict']:.2f} s)", file=sys.stderr)
    return 1 if failed else 0
