"""Rank ONNX files (or ComputeGraphs) by predicted accuracy with a trained checkpoint.

Prediction imports neither torch nor PyTorch Geometric: graphs come from the ONNX frontend, the
network runs in numpy (``gennape.runtime.net``); only ``labels`` (adapting a copy of the
checkpoint) loads torch.

Every file is handled on its own: a file that cannot be read or converted gets an ``error``
(one line naming the file and the problem) and the others are still predicted and ranked.
The input resolution is the one the ONNX model declares; a model exported with a dynamic height
and width gets ``input_size``. A network gets the same graph, FLOPs, params and so prediction
whichever route exported it (torch's dynamo or legacy exporter, eval or train mode): every
number the predictor reads is a function of the canonical graph, whose hash names it.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gennape.graph.encoding import encode_arrays
from gennape.graph.errors import GraphError, first_line
from gennape.graph.ir import ComputeGraph
from gennape.graph.onnx_frontend import from_onnx
from gennape.inference.tasks import DEFAULT_TASK_NAME, FittedTask, check_task_name, fitted_task, spoken_tasks
from gennape.runtime.auxiliary import aux_row, compute_for_graphs, scale
from gennape.runtime.interval import Interval
from gennape.runtime.net import Predictor, Runtime, UnsupportedNetwork
from gennape.runtime.prior import Prior

if TYPE_CHECKING:
    from gennape.model.checkpoint import Checkpoint

Encoded = dict[str, np.ndarray]  # one graph as the predictor reads it (gennape.runtime.net)

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "default.ckpt"


@dataclass
class Prediction:
    """One model's prediction; ``error`` is set (and the numbers are None) when it failed.

    Args:
        file: the input path.
        score: the predictor's output; higher = predicted better. A function of the file alone (and the
            checkpoint), so scores of two calls compare. An adapted checkpoint's is its predicted
            accuracy's position among its labels (:func:`score_scale`).
        predicted_accuracy: the score on a task's accuracy scale, where the checkpoint is
            calibrated for it (:func:`calibration`); None otherwise.
        rank: 1 = highest score among the models that succeeded.
        flops: FLOPs of the computation graph (2 x MACs, batch 1).
        params: parameters of the canonical graph (BatchNorm folded; a bias on every Conv / Linear
            except one feeding straight into another affine layer, see
            ``gennape.graph.canonical.canonical_bias``), whatever biases the file stores.
        uncertainty: half-width of an 80 % interval around the predicted accuracy, in accuracy
            points, calibrated on the labels an adapted checkpoint held out
            (``gennape.runtime.interval``); None for a zero-shot score, which has no unit to give
            an interval in.
        labelled: the file was one of the labels the checkpoint was adapted on.
        given_accuracy: its label, for a labelled file.
        error: why this file has no prediction.
    """

    file: str
    score: float | None = None
    predicted_accuracy: float | None = None
    rank: int | None = None
    flops: int | float | None = None
    params: int | float | None = None
    uncertainty: float | None = None
    labelled: bool = False
    given_accuracy: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Lightning's notices that say nothing a user of gennape acts on: its advertising tips ("try
# installing litlogger"), the device banners of every Trainer and the end of a fit at max_epochs.
_NOTICES = ("💡 Tip", "GPU available:", "TPU available:", "HPU available:", "IPU available:",
            "`Trainer.fit` stopped: `max_epochs=")


class _DropTips(logging.Filter):
    """Drops Lightning's notices (``_NOTICES``, matched at the start of the message, and anything
    naming litlogger); keeps its other records."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith(_NOTICES) or "litlogger" in msg)


_TIPS = _DropTips()


def quiet_libraries() -> None:
    """Silence the libraries' notices that are not the user's business, where a prediction or a
    training run starts (idempotent): Lightning's tips, device banners ("GPU available: False")
    and "`Trainer.fit` stopped: `max_epochs=N` reached" (its ``rank_zero`` loggers), and the
    deprecation of ``torch.utils._pytree.LeafSpec`` that Lightning's own pytree code triggers.
    Every other warning, and Lightning's other messages, still show."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if _TIPS not in logger.filters:
            logger.addFilter(_TIPS)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            category=FutureWarning)


def onnx_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders expanded to the ``.onnx`` files under them (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.onnx")) if p.is_dir() else [p])
    return out


def load_graph(path: Path, input_size: tuple[int, int] | None = None) -> ComputeGraph:
    """The ComputeGraph of one ONNX file (``input_size``: (H, W) for a model without a fixed
    resolution); every failure becomes a GraphError naming the file."""
    if not path.exists():
        raise GraphError(str(path), "no such file")
    try:
        return from_onnx(path, input_size=input_size)
    except GraphError:
        raise
    except Exception as e:  # noqa: BLE001 - anything the onnx stack raises, as one line
        raise GraphError(str(path), f"{type(e).__name__}: {first_line(e)}") from None


def load_predictor(checkpoint: str | os.PathLike | Checkpoint | Predictor | None = None) -> Predictor:
    """The predictor of a checkpoint path (default: the shipped one), of a loaded torch
    :class:`~gennape.model.checkpoint.Checkpoint`, or a predictor (:class:`Runtime`) as it is. A network the
    numpy runtime does not evaluate (a GNN layer other than graphconv) runs in torch instead
    (:class:`gennape.model.prediction.NetRuntime`, same interface)."""
    if isinstance(checkpoint, Predictor):
        return checkpoint
    if checkpoint is None or isinstance(checkpoint, (str, os.PathLike)):
        path = checkpoint or DEFAULT_CHECKPOINT
        try:
            return Runtime.load(path)
        except UnsupportedNetwork:
            from gennape.model.checkpoint import load_checkpoint

            checkpoint = load_checkpoint(path)
    from gennape.model.checkpoint import to_runtime
    from gennape.model.prediction import NetRuntime

    try:
        return to_runtime(checkpoint)
    except UnsupportedNetwork:
        return NetRuntime(checkpoint)


def encode_graphs(predictor: Predictor, graphs: Sequence[ComputeGraph], features: bool = True,
                  threads: int | None = None) -> list[Encoded]:
    """The predictor's inputs for ComputeGraphs: encodings, with the predictor's auxiliary features
    of each graph (``compute_for_graphs``). Without ``features``, the ones that run the network
    (proxies, NNGP) are treated as missing, which the heads were trained to handle; FLOPs and
    params are read off the graph either way. With a set-scaled checkpoint (an old one), features
    are quantiles among the graphs given; otherwise each graph's are its own. ``threads``: torch's
    intra-op threads, set where a feature has to be computed (not read from the cache)."""
    from gennape.features.static import list_static

    encoded = [encode_arrays(cg) for cg in graphs]
    if predictor.aux_features and graphs:
        names = list(predictor.aux_features)
        wanted = names if features else [n for n in names if n in list_static()]
        values = np.full((len(graphs), len(names)), np.nan)
        if wanted:
            values[:, [names.index(n) for n in wanted]] = compute_for_graphs(graphs, wanted, threads)
        values = scale(values, predictor.aux_scaling)
        for enc, row in zip(encoded, values):
            enc["aux"], enc["aux_mask"] = aux_row(row)
    return encoded


def predict_encoded(predictor: Predictor, encoded: Sequence[Encoded], hashes: Sequence[str],
                    prior: bool = True) -> dict[str, np.ndarray]:
    """Scores and uncertainties of encoded graphs. Graphs with the same hash are one network:
    each is predicted once and its numbers shared, so two exports of it never differ, not even by
    floating-point rounding. A checkpoint with a zero-shot prior (``meta["prior"]``,
    :class:`gennape.runtime.prior.Prior`) blends it into the GNN's score unless ``prior`` is False
    (networks of a task it was trained on: the GNN alone ranks those best); ``uncertainty`` is the
    half-width of an adapted checkpoint's calibrated interval (``meta["interval"]``), NaN without one."""
    first: dict[str, int] = {}
    rep = [first.setdefault(h, i) for i, h in enumerate(hashes)]  # each graph's first twin
    unique = sorted(first.values())
    res = predictor.predict([encoded[i] for i in unique])
    if prior and predictor.meta.get("prior"):
        blend = Prior.from_meta(predictor.meta["prior"])
        res = {**res, "score": blend.scores([encoded[i] for i in unique], res["score"])}
    interval = predictor.meta.get("interval")
    half = (Interval.from_meta(interval).half_width(res["uncertainty"]) if interval
            else np.full(len(unique), np.nan))  # no calibrated interval: none printed
    res = {**res, "uncertainty": half}
    row = {i: k for k, i in enumerate(unique)}
    take = [row[r] for r in rep]
    return {"score": res["score"][take], "uncertainty": res["uncertainty"][take]}


def predict_graphs(checkpoint: str | os.PathLike | Checkpoint | Predictor | None, graphs: Sequence[ComputeGraph],
                   features: bool = True) -> dict[str, Any]:
    """Score, uncertainty, FLOPs and params of ComputeGraphs (numpy arrays, input order); see
    :func:`load_predictor`, :func:`encode_graphs` and :func:`predict_encoded`."""
    predictor = load_predictor(checkpoint)
    res = predict_encoded(predictor, encode_graphs(predictor, graphs, features), [cg.hash for cg in graphs])
    return {**res, "flops": [float(cg.flops) for cg in graphs], "params": [float(cg.params) for cg in graphs]}


def rank(preds: list[Prediction]) -> list[Prediction]:
    """Sort by score (best first, failures last) and number the ranks."""
    ok = sorted((p for p in preds if p.error is None), key=lambda p: -float(p.score or 0.0))
    for i, p in enumerate(ok, 1):
        p.rank = i
    return ok + [p for p in preds if p.error is not None]


def checkpoint_tasks(checkpoint: str | os.PathLike | Checkpoint | Predictor | None) -> dict[str, list[float] | None]:
    """The tasks a checkpoint can put accuracies on: task key -> its label quantiles (a score
    model trained on several tasks), or None (a model whose output is that task's accuracy: trained
    on one task, or adapted, which speaks for the task it was fitted to only; see
    :func:`gennape.inference.tasks.spoken_tasks`)."""
    predictor = load_predictor(checkpoint)
    return spoken_tasks(predictor.meta, predictor.labels)


class TaskError(ValueError):
    """``task`` names no task the checkpoint was trained on."""


def fitted(predictor: Predictor) -> FittedTask | None:
    """The task an adapted predictor was fitted to, whose accuracy its output is; None otherwise."""
    return fitted_task(predictor.meta) if predictor.labels == "raw" else None


def score_scale(predictor: Predictor) -> tuple[float, float]:
    """``(low, unit)``: the score shown is the predictor's output less ``low``, in ``unit``s. An adapted predictor outputs accuracies: its score is their position among the
    labels (0 = the lowest, 1 = the highest), never the predicted accuracy again; any other's is
    its output as it is."""
    task = fitted(predictor)
    return task.scale() if task is not None else (0.0, 1.0)


def calibration(predictor: Predictor, task: str | None) -> Callable[[np.ndarray], np.ndarray] | None:
    """How to turn the predictor's outputs into accuracies: an adapted checkpoint's output is the
    accuracy of the task it was fitted to, its default ``task`` and the only one it takes; with
    ``task`` (one it was trained on), the output read on that task's scale; otherwise None: an
    accuracy on a scale the model does not know is never given. A task it does not know is a
    TaskError of one line naming the ones it knows."""
    own = fitted(predictor)
    if own is not None:
        if task is not None and task != own.name:
            raise TaskError(own.refusal(task))
        return lambda s: s
    if task is None:
        return None
    known = checkpoint_tasks(predictor)
    key = task
    if key not in known:
        from gennape.runtime.scales import parse_key, task_key

        try:
            key = task_key(*parse_key(task))
        except KeyError:
            key = task
    if key not in known:
        raise TaskError(f"--task {task}: the checkpoint was not trained on it; it knows "
                        f"{', '.join(known) or 'no task (it predicts a ranking score only)'}")
    quantiles = known[key]
    if quantiles is None:
        return lambda s: s
    from gennape.runtime.scales import score_to_accuracy

    return lambda s: score_to_accuracy(s, quantiles, predictor.labels)


class Note(str):
    """A line of ``predict_files``'s ``notes``, a string; ``level`` is ``"error"`` (something asked
    for failed: the labels were not used, the checkpoint was not saved; the run has failed),
    ``"warning"`` or ``"info"`` (what was done, e.g. where the checkpoint was saved). ``what``
    names the thing that failed (``"labels"``, ``"checkpoint"``)."""

    level: str
    what: str

    def __new__(cls, text: str, level: str = "warning", what: str = "") -> Note:
        note = super().__new__(cls, text)
        note.level, note.what = level, what
        return note


def note_level(note: str) -> str:
    """A note's level; a plain string is a warning."""
    return getattr(note, "level", "warning")


class SaveError(ValueError):
    """The adapted checkpoint cannot be written where asked (a missing folder...); found before
    any work is done."""


ADAPTED_NAME = "adapted.ckpt"


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long...: not a folder; writing it fails later with the reason
        return False


def checkpoint_target(path: str | os.PathLike) -> Path:
    """Where ``save_checkpoint=path`` writes: ``path`` itself, or ``<path>/adapted.ckpt`` where
    ``path`` is an existing folder. Folders are never created: a missing one is a SaveError naming
    it. Temporary files that killed writers left in the folder are removed
    (:func:`gennape.runtime.checkpoint_file.remove_stale_temps`)."""
    from gennape.runtime.checkpoint_file import remove_stale_temps

    given = str(path)
    target = Path(path)
    if _is_dir(target):
        target = target / ADAPTED_NAME
    elif given.endswith(("/", os.sep)):
        raise SaveError(f"cannot save the checkpoint to {given}: no such folder (create it first)")
    folder = target.parent
    if not _is_dir(folder):
        why = "not a folder" if folder.exists() else "no such folder (create it first)"
        raise SaveError(f"cannot save the checkpoint to {target}: {folder}: {why}")
    if _is_dir(target):
        raise SaveError(f"cannot save the checkpoint to {target}: it is a folder")
    remove_stale_temps(folder)
    return target


def _whole(v: float) -> int | float:
    """A count (FLOPs, params) as an int where it is whole: it prints as 1110845440, not 1110845440.0."""
    return int(v) if float(v).is_integer() else float(v)


def _input_size_notes(graphs: Sequence[ComputeGraph], input_size: tuple[int, int]) -> list[Note]:
    """One warning naming the files whose input size is fixed and differs from ``input_size``
    (``--input-size`` applies only to a dynamic height and width)."""
    want = tuple(int(v) for v in input_size)
    fixed = []
    for cg in graphs:
        shapes = [n.out_shape for n in cg.nodes if n.op == "Input"]
        if not any(len(s) == 3 and tuple(s[1:]) == want for s in shapes):
            size = ", ".join("x".join(map(str, s[1:] if len(s) == 3 else s)) for s in shapes) or "?"
            fixed.append(f"{cg.name} ({size})")
    if not fixed:
        return []
    shown = ", ".join(fixed[:5]) + (f" and {len(fixed) - 5} more" if len(fixed) > 5 else "")
    return [Note(f"--input-size {want[0]} {want[1]} ignored for {len(fixed)} file(s) whose input size is fixed, "
                 f"predicted at their own: {shown}")]


def predict_files(paths: Iterable[str | os.PathLike], checkpoint: str | os.PathLike | Checkpoint | None = None,
                  timings: dict[str, float] | None = None, features: bool = True,
                  input_size: tuple[int, int] | None = None, labels: str | os.PathLike | None = None,
                  task: str | None = None, save_checkpoint: str | os.PathLike | None = None,
                  notes: list[str] | None = None, threads: int | None = None,
                  progress: bool = False, task_name: str = DEFAULT_TASK_NAME, interval: bool = False) -> list[Prediction]:
    """Predict and rank ONNX files (folders are searched for ``*.onnx``).

    Args:
        paths: files and folders.
        checkpoint: a checkpoint path or loaded checkpoint (default: the shipped one).
        timings: if given, filled with seconds spent per stage (``load``, ``graphs``, ``adapt``,
            ``predict``; ``predict`` includes computing the auxiliary features, if any).
        features: compute the checkpoint's auxiliary features (see :func:`predict_graphs`).
        input_size: (H, W) for models exported with a dynamic height and width (models with a
            fixed resolution keep theirs); without it such a model fails with an error saying so.
        labels: a ``file,accuracy`` CSV (:func:`gennape.inference.labels.read_labels`): the labelled files
            adapt a copy of the checkpoint first (:func:`gennape.inference.adapt.adapt`); every file is then
            predicted on the labels' scale. A label of a file that failed is skipped; labels that
            cannot be used (a bad file, fewer than two, all equal) leave the checkpoint as it is,
            with the reason in ``notes``.
        task: put accuracies on this task's scale (a task the checkpoint was trained on; an adapted
            checkpoint's default is the task it was fitted to, its only one). One it does not
            know is a TaskError before any work; with ``labels``, only ``task_name`` is.
        save_checkpoint: write the adapted checkpoint here: a file, or an existing folder (then
            ``<folder>/adapted.ckpt``, :func:`checkpoint_target`); a missing folder is a SaveError
            before any work. A write that fails, or is skipped because the labels cannot be
            used, is a note; the predictions are made all the same.
        notes: if given, filled with one line per thing the user should know (:class:`Note`:
            errors such as labels not used or a checkpoint not saved, warnings, where the
            checkpoint was saved).
        threads: set torch's intra-op threads to this many before computing proxies or adapting
            (``torch.set_num_threads``, left so afterwards); None keeps torch's default. On a busy
            machine one thread fine-tunes several times faster than torch's default of one per core.
        progress: with ``labels``, a progress bar over the fine-tuning epochs on stderr (tqdm;
            shown only on a terminal, and only once adapting has taken 2 s).
        task_name: with ``labels``, the name of the task they are (kept in the adapted checkpoint).
        interval: with ``labels`` (20 or more), keep a fifth of them apart to calibrate an 80 %
            interval (``uncertainty``); the model then fits the other four fifths.

    With an adapted checkpoint (or ``labels``) the score is the predicted accuracy's position
    among the labels (0 = the lowest, 1 = the highest; :func:`score_scale`), and ``notes`` says so.
    """
    t = time.perf_counter()
    if save_checkpoint is not None:
        save_checkpoint = checkpoint_target(save_checkpoint)
    predictor = load_predictor(checkpoint)
    _check_task(predictor, task, labels, task_name)
    notes = notes if notes is not None else []
    t_load = time.perf_counter()
    preds: list[Prediction] = []
    graphs: list[tuple[Prediction, ComputeGraph]] = []
    for path in onnx_paths(paths):
        p = Prediction(str(path))
        try:
            graphs.append((p, load_graph(path, input_size)))
        except GraphError as e:
            p.error = str(e)
        preds.append(p)
    t_graphs = time.perf_counter()
    if input_size is not None:
        notes.extend(_input_size_notes([cg for _, cg in graphs], input_size))
    given: dict[int, float] = {}
    labels_ok = False
    if labels is not None:
        from gennape.inference.labels import LabelError, read_labels

        try:
            given = read_labels(labels, [p.file for p in preds])
            labels_ok = True
        except LabelError as e:  # every problem of the file, one line each
            notes.extend(Note(f"labels not used: {problem}", "error", "labels") for problem in e.problems)
        for i in sorted(given):
            preds[i].labelled, preds[i].given_accuracy = True, given[i]
            if preds[i].error is not None:
                notes.append(Note(f"{labels}: the label of {preds[i].file} is skipped: the file failed"))
    encoded = encode_graphs(predictor, [cg for _, cg in graphs], features, threads)
    position = {id(p): k for k, (p, _) in enumerate(graphs)}
    t_adapt = time.perf_counter()
    usable = {position[id(preds[i])]: y for i, y in given.items() if preds[i].error is None}
    adapted = None
    if labels_ok:
        adapted = _adapted(checkpoint, [encoded[k] for k in sorted(usable)], [usable[k] for k in sorted(usable)],
                           labels, save_checkpoint, notes, threads, progress, task_name, interval)
    if adapted is not None:
        predictor = adapted
        if interval and not predictor.meta.get("interval"):
            notes.append(Note(f"--interval: {len(usable)} labels; an interval needs 20 or more (a fifth kept apart "
                              "to calibrate it): none printed"))
    elif save_checkpoint is not None:
        why = "the labels were not used" if labels is not None else "no labels to adapt to"
        notes.append(Note(f"checkpoint not saved: {save_checkpoint}: skipped, {why}"))
    to_accuracy = calibration(predictor, task if adapted is not None or labels is None else None)
    low, unit = score_scale(predictor)
    own = fitted(predictor)
    if own is not None:  # what the columns are, on the task it was fitted to
        notes.append(Note(own.note(), "info"))
    t_predict = time.perf_counter()
    if graphs:
        # --task names a task a base checkpoint trained on: the networks are of that family, where the
        # GNN alone ranks best (docs/transfer.md); otherwise the blend with its prior
        res = predict_encoded(predictor, encoded, [cg.hash for _, cg in graphs],
                              prior=task is None or own is not None)  # an adapted one's prior is its size fit
        acc = to_accuracy(res["score"]) if to_accuracy is not None else None
        for i, (p, cg) in enumerate(graphs):
            score, unc = (float(res["score"][i]) - low) / unit, float(res["uncertainty"][i])  # unc: accuracy points
            if not math.isfinite(score):
                p.error = f"{p.file}: the predictor gave a non-finite score"
                continue
            p.score, p.uncertainty = score, (unc if math.isfinite(unc) else None)
            p.predicted_accuracy = float(acc[i]) if acc is not None else None
            p.flops, p.params = _whole(cg.flops), _whole(cg.params)
    if timings is not None:
        timings.update(load=t_load - t, graphs=t_graphs - t_load, adapt=t_predict - t_adapt,
                       predict=(t_adapt - t_graphs) + (time.perf_counter() - t_predict))
    return rank(preds)


def _check_task(predictor: Predictor, task: str | None, labels: str | os.PathLike | None, task_name: str) -> None:
    """Refuse, before any work, a task the run cannot put accuracies on (a TaskError): with
    ``labels``, any but ``task_name`` (whose name is checked too); without, one the checkpoint
    does not know (:func:`calibration`)."""
    if labels is None:
        calibration(predictor, task)
        return
    check_task_name(task_name)
    if task is not None and task != task_name:
        raise TaskError(f"--task {task}: with --labels the checkpoint is adapted to {task_name} (--task-name) and "
                        f"puts accuracies on that task only; leave --task out")


def _source(checkpoint: str | os.PathLike | Checkpoint | None) -> str:
    """How an adapted checkpoint names the one it came from: its path as given (the shipped one by
    its name and gennape's version); "" for a checkpoint loaded in Python."""
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        return ""
    path = Path(checkpoint or DEFAULT_CHECKPOINT)
    if path.resolve() == DEFAULT_CHECKPOINT.resolve():
        from gennape import __version__

        return f"the shipped {DEFAULT_CHECKPOINT.name} of gennape {__version__}"
    return str(checkpoint)


def _adapted(checkpoint: str | os.PathLike | Checkpoint | Predictor | None, encoded: Sequence[Encoded],
             accuracies: Sequence[float], labels: str | os.PathLike | None,
             save_checkpoint: str | os.PathLike | None, notes: list[str], threads: int | None = None,
             progress: bool = False, task_name: str = DEFAULT_TASK_NAME, interval: bool = False) -> Predictor | None:
    """The predictor of a copy of the checkpoint adapted to labelled graphs as the task
    ``task_name`` (torch, imported here; ``threads``: its intra-op threads, set before adapting;
    ``progress``: a bar over the epochs), written to ``save_checkpoint`` if given (a failed write
    is an error note; the adapted predictor is still returned); None (with the reason in
    ``notes``) if the labels cannot be used."""
    from gennape.inference.labels import LabelError, check_labels

    if isinstance(checkpoint, Predictor):
        raise TypeError("adapting needs the checkpoint (a path or a loaded Checkpoint), not a predictor")
    try:
        check_labels(list(accuracies), str(labels))  # before loading torch
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        from gennape.inference.adapt import adapt, as_data
        from gennape.model.checkpoint import Checkpoint, load_checkpoint
        from gennape.model.checkpoint import save_checkpoint as save

        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint or DEFAULT_CHECKPOINT)
        ckpt = adapt(ckpt, [as_data(e) for e in encoded], accuracies, progress=progress, task=task_name, interval=interval,
                     source=_source(checkpoint))
    except LabelError as e:
        notes.extend(Note(f"labels not used: {problem}", "error", "labels") for problem in e.problems)
        return None
    if save_checkpoint is not None:
        try:
            save(save_checkpoint, ckpt.net, ckpt.model, ckpt.aux_features, ckpt.aux_scaling, ckpt.meta)
        except Exception as e:  # noqa: BLE001 - a full disk, no permission...: one line, the ranking still comes
            why = e.strerror if isinstance(e, OSError) and e.strerror else first_line(e)
            notes.append(Note(f"checkpoint not saved: {save_checkpoint}: {why}", "error", "checkpoint"))
        else:
            notes.append(Note(f"adapted checkpoint saved to {save_checkpoint}", "info"))
    return load_predictor(ckpt)
