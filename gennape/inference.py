"""Rank ONNX files (or ComputeGraphs) by predicted accuracy with a trained checkpoint.

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
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch_geometric.data import Data

from gennape.graph import ComputeGraph, GraphError, from_onnx
from gennape.graph.errors import first_line
from gennape.model.auxiliary import compute_for_graphs, scale, set_aux
from gennape.model.checkpoint import Checkpoint, load_checkpoint
from gennape.model.dataset import graph_to_record, record_to_data
from gennape.model.pipeline import predict

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default.ckpt"


@dataclass
class Prediction:
    """One model's prediction; ``error`` is set (and the numbers are None) when it failed.

    Args:
        file: the input path.
        predicted_accuracy: predicted accuracy, in the unit of the training targets (%).
        rank: 1 = highest predicted accuracy among the models that succeeded.
        flops: FLOPs of the computation graph (2 x MACs, batch 1).
        params: parameters of the canonical graph (BatchNorm folded; a bias on every Conv / Linear
            except one feeding straight into another affine layer, see
            ``gennape.graph.canonical.canonical_bias``), whatever biases the file stores.
        uncertainty: spread of the heads around the prediction (accuracy units, see
            ``gennape.model.pipeline.head_spread``).
        error: why this file has no prediction.
    """

    file: str
    predicted_accuracy: float | None = None
    rank: int | None = None
    flops: float | None = None
    params: float | None = None
    uncertainty: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _DropTips(logging.Filter):
    """Drops Lightning's advertising tips ("try installing litlogger"); keeps its other records."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (msg.startswith("💡 Tip") or "litlogger" in msg)


_TIPS = _DropTips()


def quiet_libraries() -> None:
    """Silence the libraries' notices that are not the user's business, where a prediction or a
    training run starts (idempotent): Lightning's tips (its ``rank_zero`` loggers) and the
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


def predict_graphs(ckpt: Checkpoint, graphs: Sequence[ComputeGraph], features: bool = True) -> dict[str, Any]:
    """Accuracy, uncertainty, FLOPs and params of ComputeGraphs (numpy arrays, input order).

    Graphs with the same hash are one network: the auxiliary features are computed over all of
    them (quantiles among the graphs given), then each network is predicted once and its numbers
    shared, so that two exports of it never differ, not even by floating-point rounding.

    Args:
        ckpt: the predictor.
        graphs: the graphs.
        features: compute the auxiliary features the checkpoint's heads take (False: treat them
            as missing, which the heads were trained to handle).
    """
    datas: list[Data] = [record_to_data(graph_to_record(cg)) for cg in graphs]
    if ckpt.aux_features and features:
        values = scale(compute_for_graphs(graphs, ckpt.aux_features), ckpt.aux_scaling)
        for d, row in zip(datas, values):
            set_aux(d, row)
    first: dict[str, int] = {}
    rep = [first.setdefault(cg.hash, i) for i, cg in enumerate(graphs)]  # each graph's first twin
    unique = sorted(first.values())
    res = predict(ckpt.net, [datas[i] for i in unique], details=True)
    row = {i: k for k, i in enumerate(unique)}
    take = [row[r] for r in rep]
    return {"accuracy": res["accuracy"][take], "uncertainty": res["uncertainty"][take],
            "flops": [float(cg.flops) for cg in graphs], "params": [float(cg.params) for cg in graphs]}


def rank(preds: list[Prediction]) -> list[Prediction]:
    """Sort by predicted accuracy (best first, failures last) and number the ranks."""
    ok = sorted((p for p in preds if p.error is None), key=lambda p: -float(p.predicted_accuracy or 0.0))
    for i, p in enumerate(ok, 1):
        p.rank = i
    return ok + [p for p in preds if p.error is not None]


def predict_files(paths: Iterable[str | os.PathLike], checkpoint: str | os.PathLike | Checkpoint | None = None,
                  timings: dict[str, float] | None = None, features: bool = True,
                  input_size: tuple[int, int] | None = None) -> list[Prediction]:
    """Predict and rank ONNX files (folders are searched for ``*.onnx``).

    Args:
        paths: files and folders.
        checkpoint: a checkpoint path or loaded checkpoint (default: the shipped one).
        timings: if given, filled with seconds spent per stage (``load``, ``graphs``, ``predict``;
            ``predict`` includes computing the auxiliary features, if the checkpoint takes any).
        features: compute the checkpoint's auxiliary features (see :func:`predict_graphs`).
        input_size: (H, W) for models exported with a dynamic height and width (models with a
            fixed resolution keep theirs); without it such a model fails with an error saying so.
    """
    t = time.perf_counter()
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint or DEFAULT_CHECKPOINT)
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
    if graphs:
        res = predict_graphs(ckpt, [cg for _, cg in graphs], features)
        for i, (p, _) in enumerate(graphs):
            acc, unc = float(res["accuracy"][i]), float(res["uncertainty"][i])
            if not math.isfinite(acc):
                p.error = f"{p.file}: the predictor gave a non-finite accuracy"
                continue
            p.predicted_accuracy, p.uncertainty = acc, unc
            p.flops, p.params = res["flops"][i], res["params"][i]
    if timings is not None:
        timings.update(load=t_load - t, graphs=t_graphs - t_load, predict=time.perf_counter() - t_graphs)
    return rank(preds)
