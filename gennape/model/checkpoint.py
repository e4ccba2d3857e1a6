"""Predictor checkpoints: one file with everything prediction needs, loaded without unpickling.

A checkpoint is a ``torch.save`` of plain data only (tensors, strings, numbers, lists, dicts):
the network's state dict (weights, node-feature normalisation, frozen FCM centroids, target
transform statistics, auxiliary-feature statistics), what its outputs are (``labels``: ``raw``
accuracies, or a score when trained on labels normalised within each task), the op vocabulary and node-feature names it
was trained with, the ``build_net`` arguments, the names of its auxiliary features, free-form
metadata (training family, metrics, command) and the library version. Loading uses
``torch.load(weights_only=True)``, so a file holding arbitrary Python objects is refused.

The op vocabulary may grow after a checkpoint was written (a new op registered): embedding rows
are matched by op name, and ops the checkpoint never saw get the mean of its trained rows.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import gennape
from gennape.graph.encoding import FEATURE_NAMES
from gennape.graph.errors import first_line
from gennape.graph.ops import list_ops
from gennape.model.encoder import kind_mean_rows
from gennape.model.predictor import GennapeNet, build_net

FORMAT = "gennape-predictor"
FORMAT_VERSION = 1
# build_net's arguments, the seed excepted (weights come from the state dict).
_BUILD_KEYS = tuple(p for p in inspect.signature(build_net).parameters if p != "seed")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = str(path), problem


@dataclass
class Checkpoint:
    """A loaded predictor.

    Args:
        net: the network, in eval mode.
        model: the ``build_net`` arguments it was built with.
        aux_features: names of the auxiliary features its heads take, in order (empty = none).
        aux_scaling: how a scored set's feature values are mapped first (``gennape.model.auxiliary``).
        meta: free-form metadata written with it (training family, metrics, command...).
        version: gennape version that wrote it.
    """

    net: GennapeNet
    model: dict[str, Any]
    aux_features: list[str] = field(default_factory=list)
    aux_scaling: str = "train"
    meta: dict[str, Any] = field(default_factory=dict)
    version: str = ""


def build_kwargs(model_config: dict[str, Any]) -> dict[str, Any]:
    """The ``build_net`` arguments found in a model config (training stages and name dropped)."""
    return {k: model_config[k] for k in _BUILD_KEYS if k in model_config}


def save_checkpoint(path: str | os.PathLike, net: GennapeNet, model_config: dict[str, Any],
                    aux_features: list[str] | None = None, aux_scaling: str = "train",
                    meta: dict[str, Any] | None = None) -> Path:
    """Write ``net`` and what is needed to rebuild it to ``path`` (atomically).

    Args:
        path: output file (``.ckpt`` by convention).
        net: a fitted network.
        model_config: its model config (``build_net`` arguments; other keys are ignored).
        aux_features: names of its auxiliary features, matching ``model_config["aux_dim"]``.
        aux_scaling: the scaling its features were trained with.
        meta: plain-data metadata (numbers, strings, lists, dicts).
    """
    kwargs = build_kwargs(model_config)
    kwargs["divide_by_flops"] = bool(net.transform.divide_by_flops)  # fine-tuning may have switched it
    aux = list(aux_features or [])
    if len(aux) != int(kwargs.get("aux_dim", 0)):
        raise ValueError(f"{len(aux)} auxiliary feature names for aux_dim={kwargs.get('aux_dim', 0)}")
    blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "gennape_version": gennape.__version__,
            "vocab": list_ops(), "node_features": list(FEATURE_NAMES), "model": kwargs,
            "aux_features": aux, "aux_scaling": aux_scaling, "meta": dict(meta or {}),
            "labels": str(getattr(net, "labels", "raw")),
            "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return path


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any reason torch gives is reported as one line
        raise CheckpointError(path, f"not a readable gennape checkpoint (safe loading refused it: {first_line(e)})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(path, f"not a gennape predictor checkpoint (expected format {FORMAT!r})")
    if blob.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(path, f"checkpoint format version {blob.get('format_version')} is not "
                                    f"{FORMAT_VERSION}, which this gennape ({gennape.__version__}) reads")
    if blob.get("node_features") != list(FEATURE_NAMES):
        raise CheckpointError(path, "it was trained with other node features "
                                    f"({blob.get('node_features')}); retrain it with this gennape")
    return blob


def _remap_vocab(state: dict[str, torch.Tensor], vocab: list[str]) -> dict[str, torch.Tensor]:
    """Re-index the op embedding from the checkpoint's vocabulary to today's; an op added since
    gets the mean of its kind's rows (:func:`~gennape.model.encoder.kind_mean_rows`)."""
    key = "encoder.op_embed.weight"
    now = list_ops()
    if vocab == now:
        return state
    old = state[key]
    index = {op: i for i, op in enumerate(vocab)}
    rows = torch.stack([old[index[op]] if op in index else torch.zeros_like(old[0]) for op in now])
    known = torch.tensor([op in index for op in now])
    if not known.any():
        raise KeyError(f"its op vocabulary {vocab[:5]}... shares no op with this version's")
    return {**state, key: kind_mean_rows(rows, now, known)}


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a predictor written by :func:`save_checkpoint`; errors name the file and the problem."""
    path = Path(path)
    blob = _read(path)
    try:
        net = build_net(**blob["model"])
        net.load_state_dict(_remap_vocab(blob["state_dict"], list(blob["vocab"])))
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(path, f"its weights do not fit the network it describes ({first_line(e)})") from None
    net.eval()
    net.labels = str(blob.get("labels", "raw"))
    return Checkpoint(net, dict(blob["model"]), list(blob.get("aux_features", [])),
                      str(blob.get("aux_scaling", "train")), dict(blob.get("meta", {})),
                      str(blob.get("gennape_version", "")))
