"""Adapt a predictor to the user's own family with a few labelled networks.

``predict.py --labels known.csv`` and the evaluation protocol's fine-tuned rows share this path:
a copy of the checkpoint is fine-tuned on the labelled graphs (``gennape.model.pipeline.fine_tune``:
the target statistics refitted on the labels, so the adapted model predicts accuracies on their
scale; from 20 labels on, a fifth held out for early stopping), then every graph is predicted.

``known.csv`` has the columns ``file,accuracy``; a row's file is matched to an input by its path as
given on the command line, else by its base name (which must then be unique among the inputs).
"""

from __future__ import annotations

import copy
import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from gennape.model.checkpoint import Checkpoint
from gennape.model.pipeline import FinetuneConfig, fine_tune
from gennape.model.predictor import GennapeNet

# The evaluation protocol's fine-tuning (conf/config.yaml eval.fine_tune), for the user's labels.
DEFAULT_FINETUNE = FinetuneConfig(samples=0, epochs=300, seeds=1, batch_size=16, lr=1e-3, encoder_lr_scale=1.0,
                                  weight_decay=1e-4, refit_transform=True, divide_by_flops=False, rank_weight=0.0,
                                  early_stop_min=20, val_fraction=0.2, patience=50)
MIN_LABELS = 2


class LabelError(ValueError):
    """A labels file that cannot be used; the message names the file, the row and the problem."""


def read_labels(path: str | os.PathLike, inputs: Sequence[str]) -> dict[int, float]:
    """The labelled inputs: position in ``inputs`` -> accuracy, from a ``file,accuracy`` CSV.

    Raises:
        LabelError: missing columns, a row whose file matches no input (or several by base name),
            a file labelled twice, an accuracy that is not a finite number.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: no such labels file")
    by_path = {str(p): i for i, p in enumerate(inputs)}
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(inputs):
        by_name.setdefault(Path(p).name, []).append(i)
    out: dict[int, float] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in reader.fieldnames or []]
        if "file" not in cols or "accuracy" not in cols:
            raise LabelError(f"{path}: expected the columns file,accuracy; found {','.join(cols) or 'none'}")
        reader.fieldnames = cols
        for line, row in enumerate(reader, start=2):
            name, value = (row.get("file") or "").strip(), (row.get("accuracy") or "").strip()
            where = f"{path}, line {line}"
            if name in by_path:
                i = by_path[name]
            elif len(by_name.get(Path(name).name, [])) == 1:
                i = by_name[Path(name).name][0]
            elif Path(name).name in by_name:
                raise LabelError(f"{where}: {name!r} matches several inputs by name; give its path as on the command line")
            else:
                raise LabelError(f"{where}: {name!r} matches no input file")
            try:
                acc = float(value)
            except ValueError:
                raise LabelError(f"{where}: accuracy {value!r} of {name!r} is not a number") from None
            if not math.isfinite(acc):
                raise LabelError(f"{where}: accuracy of {name!r} is {value}, not a finite number")
            if i in out:
                raise LabelError(f"{where}: {inputs[i]} is labelled twice")
            out[i] = acc
    return out


def check_labels(y: Sequence[float], source: str) -> None:
    """Refuse labels nothing can be learnt from: fewer than two, or all equal."""
    if len(y) < MIN_LABELS:
        raise LabelError(f"{source}: {len(y)} usable label(s); adapting needs at least {MIN_LABELS}")
    if np.ptp(np.asarray(y, dtype=float)) == 0:
        raise LabelError(f"{source}: every label is {y[0]}; adapting needs at least two different accuracies")


def as_data(encoded: Mapping[str, np.ndarray]) -> Data:
    """A PyG ``Data`` of a graph encoded for prediction (``gennape.inference.encode_graphs``)."""
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in encoded.items()}
    extra = {k: t[k].reshape(1, -1) for k in ("aux", "aux_mask") if k in t}
    return Data(op=t["op"], feat=t["feat"], edge_index=t["edge_index"], num_nodes=int(t["op"].shape[0]),
                flops=t["flops"].reshape(1).float(), params=t["params"].reshape(1).float(), **extra)


def adapt_net(net: GennapeNet, graphs: Sequence[Data], accuracies: Sequence[float],
              cfg: FinetuneConfig = DEFAULT_FINETUNE, seed: int = 0,
              trainer_kwargs: dict | None = None) -> GennapeNet:
    """A copy of ``net`` fine-tuned on ``graphs`` labelled ``accuracies`` (their auxiliary features
    attached as for prediction: over the whole set being ranked); it predicts accuracies on the
    labels' scale. The graphs themselves are left as they are."""
    check_labels(list(accuracies), "labels")
    labelled = []
    for d, acc in zip(graphs, accuracies):
        d = copy.copy(d)
        d.y = d.flops.new_tensor([float(acc)]).float()
        labelled.append(d)
    kw = {"accelerator": "cpu", "devices": 1, **(trainer_kwargs or {}), "enable_progress_bar": False}
    tuned = fine_tune(net, labelled, replace(cfg, samples=len(labelled)), kw, seed)
    tuned.eval()
    return tuned


def adapt(ckpt: Checkpoint, graphs: Sequence[Data], accuracies: Sequence[float],
          cfg: FinetuneConfig = DEFAULT_FINETUNE, seed: int = 0, trainer_kwargs: dict | None = None) -> Checkpoint:
    """:func:`adapt_net` on a checkpoint: the adapted checkpoint (its metadata says so)."""
    tuned = adapt_net(ckpt.net, graphs, accuracies, cfg, seed, trainer_kwargs)
    meta = {**ckpt.meta, "adapted": {"labels": len(graphs), "from": ckpt.meta.get("family", ""),
                                     "accuracy_range": [float(min(accuracies)), float(max(accuracies))]}}
    return replace(ckpt, net=tuned, meta=meta)
