"""Adapt a predictor to the user's own family with a few labelled networks.

``predict.py --labels known.csv`` and the evaluation protocol's fine-tuned rows share this path:
a copy of the checkpoint is fine-tuned on the labelled graphs (``gennape.model.pipeline.fine_tune``:
the target statistics refitted on the labels, so the adapted model predicts accuracies on their
scale; from 20 labels on, a fifth held out for early stopping), then every graph is predicted.
The labels file is read by ``gennape.inference.labels`` (without torch), whose names are re-exported here.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch_geometric.data import Data

from gennape.inference.labels import MIN_LABELS, LabelError, check_labels, read_labels  # noqa: F401 - re-exported
from gennape.inference.tasks import DEFAULT_TASK_NAME, check_task_name, fitted_meta
from gennape.model.checkpoint import Checkpoint
from gennape.model.pipeline import FinetuneConfig, fine_tune, split_labels
from gennape.model.prediction import predict
from gennape.model.predictor import GennapeNet
from gennape.model.size import size_fit, size_fit_coefficients
from gennape.runtime.interval import calibrate
from gennape.runtime.prior import Prior

# The evaluation protocol's fine-tuning (conf/config.yaml eval.fine_tune), for the user's labels.
DEFAULT_FINETUNE = FinetuneConfig(samples=0, epochs=300, seeds=1, batch_size=16, lr=1e-3, encoder_lr_scale=1.0,
                                  weight_decay=1e-4, refit_transform=True, divide_by_flops=False, rank_weight=0.0,
                                  early_stop_min=20, val_fraction=0.2, patience=50)


def as_data(encoded: Mapping[str, np.ndarray]) -> Data:
    """A PyG ``Data`` of a graph encoded for prediction (``gennape.inference.predict.encode_graphs``)."""
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in encoded.items()}
    extra = {k: t[k].reshape(1, -1) for k in ("aux", "aux_mask") if k in t}
    return Data(op=t["op"], feat=t["feat"], edge_index=t["edge_index"], num_nodes=int(t["op"].shape[0]),
                flops=t["flops"].reshape(1).float(), params=t["params"].reshape(1).float(), **extra)


class EpochBar(Callback):
    """A tqdm bar over the fine-tuning epochs on stderr (Lightning's own bar, per batch, stays off):
    shown only where stderr is a terminal, and only once ``delay`` seconds have passed, so a quick
    adaptation prints nothing. Early stopping closes it before the last epoch."""

    def __init__(self, epochs: int, delay: float = 2.0) -> None:
        self.epochs, self.delay = epochs, delay
        self.bar = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=self.epochs, desc="adapting to the labels", unit="epoch", file=sys.stderr,
                        disable=not sys.stderr.isatty(), delay=self.delay, leave=False, dynamic_ncols=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def _close(self, *args: object) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    on_train_end = _close
    on_exception = _close


def adapt_net(net: GennapeNet, graphs: Sequence[Data], accuracies: Sequence[float],
              cfg: FinetuneConfig = DEFAULT_FINETUNE, seed: int = 0,
              trainer_kwargs: dict | None = None, progress: bool = False) -> GennapeNet:
    """A copy of ``net`` fine-tuned on ``graphs`` labelled ``accuracies`` (their auxiliary features
    attached as for prediction: over the whole set being ranked); it predicts accuracies on the
    labels' scale. The graphs themselves are left as they are. ``progress``: a bar over the
    epochs on stderr (:class:`EpochBar`); Lightning's own progress bar is always off."""
    check_labels(list(accuracies), "labels")
    labelled = []
    for d, acc in zip(graphs, accuracies):
        d = copy.copy(d)
        d.y = d.flops.new_tensor([float(acc)]).float()
        labelled.append(d)
    kw = {"accelerator": "cpu", "devices": 1, **(trainer_kwargs or {}), "enable_progress_bar": False}
    if progress:
        cap = kw.get("max_epochs")
        kw["callbacks"] = [*(kw.get("callbacks") or ()), EpochBar(min(cfg.epochs, cap) if cap else cfg.epochs)]
    tuned = fine_tune(net, labelled, replace(cfg, samples=len(labelled)), kw, seed)
    tuned.eval()
    # the base's zero-shot prior does not fit the labels: the size fit on them takes its place
    tuned.prior = size_blend(tuned, labelled, np.asarray(accuracies, dtype=np.float64), cfg, seed)
    return tuned


SIZE_COLUMNS = ("log_flops", "log_params", "weight_layers", "depth")  # gennape.model.size.SIZE_FEATURES, as graph statistics
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # of the fine-tuned GNN beside the size fit


def size_blend(tuned: GennapeNet, graphs: Sequence[Data], accuracies: np.ndarray,
               cfg: FinetuneConfig = DEFAULT_FINETUNE, seed: int = 0) -> Prior | None:
    """A least-squares fit of accuracy on size (log FLOPs, log params, weight layers, depth) on the
    labels, blended with the fine-tuned GNN: ``(1 - a) size_fit + a gnn``, ``a`` the weight of
    :data:`BLEND_WEIGHTS` whose predictions of the labels early stopping held out (the same split:
    ``split_labels``, same seed) have the least squared error, the larger on a tie. None (the GNN
    alone) below ``cfg.early_stop_min`` labels. Where size ranks a family better than the fine-tuned
    GNN (the timm zoo) the blend leans on it (docs/transfer.md)."""
    train, held = split_labels(list(range(len(graphs))), cfg, seed)
    if not held:
        return None
    y = np.asarray(accuracies, dtype=np.float64)
    gnn = predict(tuned, [graphs[i] for i in held], prior=False)
    size = size_fit([graphs[i] for i in train], y[train], [graphs[i] for i in held])
    errors = [float(np.mean((a * gnn + (1 - a) * size - y[held]) ** 2)) for a in BLEND_WEIGHTS]
    a = max(BLEND_WEIGHTS, key=lambda w: (-round(errors[BLEND_WEIGHTS.index(w)], 12), w))
    coef, intercept = size_fit_coefficients(graphs, y)
    return Prior("size fit + fine-tuned GNN", SIZE_COLUMNS, tuple(float(c) for c in (1 - a) * coef),
                 tuple(0.0 for _ in SIZE_COLUMNS), float(-(1 - a) * intercept), 1.0, float(a),
                 {"labels": len(y), "chosen_on": len(held)}, transform="identity")


def adapt(ckpt: Checkpoint, graphs: Sequence[Data], accuracies: Sequence[float],
          cfg: FinetuneConfig = DEFAULT_FINETUNE, seed: int = 0, trainer_kwargs: dict | None = None,
          progress: bool = False, task: str = DEFAULT_TASK_NAME, source: str = "", interval: bool = False) -> Checkpoint:
    """:func:`adapt_net` on a checkpoint: the adapted checkpoint, fitted to the task ``task`` (the
    labels), which its metadata names with the labels' range and count and ``source``, the
    checkpoint it came from (:func:`gennape.inference.tasks.fitted_meta`). The zero-shot prior is
    dropped: the adapted network's output is the accuracy.

    With ``interval``, from ``cfg.early_stop_min`` labels on, a fifth of them never reaches
    fine-tuning: they calibrate an 80 % interval (:func:`calibration_split`,
    ``gennape.runtime.interval``), at some cost in ranking (fitted on four fifths; docs/transfer.md,
    Intervals). Without, every label is fitted and no interval is given."""
    check_task_name(task)  # before fine-tuning
    y = np.asarray(accuracies, dtype=np.float64)
    fit_on, held = calibration_split(len(graphs), cfg, seed) if interval else (list(range(len(graphs))), [])
    tuned = adapt_net(ckpt.net, [graphs[i] for i in fit_on], y[fit_on], cfg, seed, trainer_kwargs, progress)
    meta = fitted_meta({k: v for k, v in ckpt.meta.items() if k != "prior"}, ckpt.net.labels, accuracies, task, source)
    if tuned.prior is not None:  # the size fit beside the adapted GNN, which predict_encoded blends
        meta["prior"] = tuned.prior.to_meta()
    meta["interval"] = None
    if held:
        res = predict(tuned, [graphs[i] for i in held], details=True)
        interval = calibrate(y[held], res["accuracy"], res["uncertainty"])
        meta["interval"] = interval.to_meta() if interval is not None else None
    return replace(ckpt, net=tuned, meta=meta)


def calibration_split(n: int, cfg: FinetuneConfig = DEFAULT_FINETUNE, seed: int = 0) -> tuple[list[int], list[int]]:
    """Positions of the labels to fine-tune on and of those kept for calibrating the interval: a
    fifth (``cfg.val_fraction``) from ``cfg.early_stop_min`` labels on, none below. They are not the
    labels early stopping holds out: early stopping picks the epoch that fits those best, so
    their errors run small and an interval calibrated on them covers less than it claims
    (docs/transfer.md, Intervals)."""
    if n < cfg.early_stop_min or cfg.val_fraction <= 0:
        return list(range(n)), []
    perm = np.random.default_rng(seed + 7).permutation(n)
    k = max(4, int(round(n * cfg.val_fraction)))
    return sorted(perm[k:].tolist()), sorted(perm[:k].tolist())
