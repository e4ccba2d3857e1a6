"""Predictor checkpoints as torch networks: ``save_checkpoint`` and ``load_checkpoint``.

The file format (numpy arrays and a JSON header, no pickled object) is
``gennape.runtime.checkpoint_file``; prediction reads the same file without torch
(``gennape.runtime.net``). The op vocabulary may grow after a checkpoint was written (a new op
registered): embedding rows are matched by op name, and ops the checkpoint never saw get the mean
of its trained rows of their kind.

    python -m gennape.model.checkpoint upgrade old.ckpt [...]   # a version-1 (torch.save) file, rewritten
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gennape
from gennape.graph.encoding import FEATURE_NAMES
from gennape.graph.errors import first_line
from gennape.graph.ops import list_ops
from gennape.runtime.checkpoint_file import (FORMAT, FORMAT_VERSION, NOT_OURS, CheckpointError, check_file,
                                           file_kind, read_checkpoint_file, write_checkpoint_file)
from gennape.model.predictor import GennapeNet, build_net
from gennape.runtime.net import Runtime

# build_net's arguments, the seed excepted (weights come from the state dict).
_BUILD_KEYS = tuple(p for p in inspect.signature(build_net).parameters if p != "seed")


@dataclass
class Checkpoint:
    """A loaded predictor.

    Args:
        net: the network, in eval mode.
        model: the ``build_net`` arguments it was built with.
        aux_features: names of the auxiliary features its heads take, in order (empty = none).
        aux_scaling: how a scored set's feature values are mapped first (``gennape.runtime.auxiliary``).
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


def _header_and_arrays(net: GennapeNet, kwargs: dict[str, Any], aux: list[str], aux_scaling: str,
                       meta: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    header = {"gennape_version": gennape.__version__, "vocab": list_ops(), "node_features": list(FEATURE_NAMES),
              "model": kwargs, "aux_features": aux, "aux_scaling": aux_scaling, "meta": dict(meta or {}),
              "labels": str(getattr(net, "labels", "raw"))}
    return header, {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def to_runtime(ckpt: Checkpoint) -> Runtime:
    """The numpy runtime of a loaded (e.g. just adapted) checkpoint, as if saved and read back."""
    kwargs = {**ckpt.model, "divide_by_flops": bool(ckpt.net.transform.divide_by_flops)}
    header, arrays = _header_and_arrays(ckpt.net, kwargs, ckpt.aux_features, ckpt.aux_scaling, ckpt.meta)
    return Runtime(header, arrays, "adapted checkpoint")


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
    header, arrays = _header_and_arrays(net, kwargs, aux, aux_scaling, meta)
    return write_checkpoint_file(path, header, arrays)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a predictor written by :func:`save_checkpoint`; errors name the file and the problem."""
    path = Path(path)
    header, arrays = read_checkpoint_file(path)
    try:
        net = build_net(**header["model"])
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(path, f"its weights do not fit the network it describes ({first_line(e)})") from None
    net.eval()
    net.labels = str(header.get("labels", "raw"))
    return Checkpoint(net, dict(header["model"]), list(header.get("aux_features", [])),
                      str(header.get("aux_scaling", "train")), dict(header.get("meta", {})),
                      str(header.get("gennape_version", "")))


class UpToDate(CheckpointError):
    """:func:`upgrade` of a checkpoint already in today's format."""


def upgrade(path: str | os.PathLike) -> Path:
    """Rewrite a version-1 checkpoint (a ``torch.save`` of plain data, read with
    ``weights_only=True``) in today's format, in place. Anything else is a CheckpointError of one
    line: a file in today's format (nothing to do), a file that is no gennape checkpoint."""
    path = Path(path)
    check_file(path)
    kind = file_kind(path)
    if kind == "npz":
        read_checkpoint_file(path)  # a CheckpointError if it is not a readable gennape checkpoint
        raise UpToDate(path, f"already in today's format (version {FORMAT_VERSION}); left as it is")
    if kind != "v1":
        raise CheckpointError(path, NOT_OURS + (" (a torch file of something else)" if kind == "torch" else ""))
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch's message suggests loading it unsafely: never
        raise CheckpointError(path, "a version-1 gennape checkpoint torch cannot read as plain data "
                                    "(damaged, or holding objects other than tensors)") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or blob.get("format_version") != 1 \
            or not isinstance(blob.get("state_dict"), dict):
        raise CheckpointError(path, NOT_OURS)
    header = {k: v for k, v in blob.items() if k not in ("state_dict", "format", "format_version")}
    return write_checkpoint_file(path, header, {k: v.numpy() for k, v in blob["state_dict"].items()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Checkpoint maintenance.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("upgrade", help="rewrite version-1 checkpoints in today's format, in place")
    up.add_argument("paths", nargs="+")
    args = ap.parse_args(argv)
    failed = 0
    for p in args.paths:  # one bad file is reported and the others are still upgraded
        try:
            print(f"{upgrade(p)}: upgraded")
        except UpToDate as e:
            print(e)
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
