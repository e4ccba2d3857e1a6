"""Scores of fine-tuned models, kept beside each trained model so a run never fine-tunes twice.

Fine-tuning dominates an evaluation (every model, family and fine-tuning seed trains again), so a
run that is resumed after a kill, or extended with a new variant, reads the scores it already has.
Each entry is keyed by everything the scores depend on: the model's weights and target transform,
the target family's graphs (structure, labels, FLOPs and the feature columns that model reads),
the fine-tuning settings, the trainer caps and the fine-tuning seed. A stale entry cannot match; it is simply recomputed.

The file is small JSON, rewritten atomically (temporary file, then rename) after every entry, so a
kill at any moment leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Data

from gennape.model.pipeline import FinetuneConfig
from gennape.model.predictor import GennapeNet

FILE_NAME = "fine_tuned_scores.json"


def _digest(parts: Sequence[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().numpy().tobytes()


def net_fingerprint(net: GennapeNet) -> str:
    """Hash of a model's weights, buffers (centroids, transform statistics) and transform switches."""
    tr = net.transform
    flags = repr((tr.divide_by_flops, tr.standardize, tr.fit_exponent)).encode()
    parts = [flags]
    for name, t in net.state_dict().items():
        parts += [name.encode(), str(tuple(t.shape)).encode(), _tensor_bytes(t)]
    return _digest(parts)


def graphs_fingerprint(graphs: Sequence[Data]) -> str:
    """Hash of the graphs' structure, labels, FLOPs and params (what every model reads)."""
    parts: list[bytes] = []
    for g in graphs:
        for key in ("op", "feat", "edge_index", "y", "flops", "params"):
            parts.append(_tensor_bytes(getattr(g, key)))
    return _digest(parts)


def features_fingerprint(graphs: Sequence[Data], net: GennapeNet) -> str:
    """Hash of the auxiliary values and masks ``net`` reads from the graphs: columns attached for
    other models leave it unchanged, so adding a variant to a run keeps the others' entries."""
    parts: list[bytes] = []
    for g in graphs:
        aux, mask = net.aux_inputs(g)
        parts += [b"-" if aux is None else _tensor_bytes(aux), b"-" if mask is None else _tensor_bytes(mask)]
    return _digest(parts)


def inputs_fingerprint(net: GennapeNet, graphs: Sequence[Data], structure: str | None = None) -> str:
    """Everything of a model and a family its fine-tuning reads (``structure``: the family's
    :func:`graphs_fingerprint`, when the caller computed it once for several models)."""
    return _digest([net_fingerprint(net).encode(), (structure or graphs_fingerprint(graphs)).encode(),
                    features_fingerprint(graphs, net).encode()])


def entry_key(inputs: str, cfg: FinetuneConfig, trainer_kwargs: dict[str, Any] | None, seed: int) -> str:
    """The key of one fine-tuning's scores, from the fingerprints of its inputs (model, graphs,
    features) and its settings. The seed count is not part of it: seed ``s`` is the same
    fine-tuning whether 3 or 5 seeds run."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "seeds"}
    payload = json.dumps({"inputs": inputs, "settings": settings,
                          "trainer": trainer_kwargs or {}, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class FinetuneCache:
    """Scores of fine-tuned copies of one model, in ``folder/fine_tuned_scores.json``.

    Args:
        folder: the model's run folder (created on the first write).
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / FILE_NAME
        self._entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self._entries = json.loads(self.path.read_text())
            except json.JSONDecodeError as e:  # never written torn; a hand-edited file is refused
                raise SystemExit(f"{self.path}: not a fine-tuning score file ({e}); delete it to recompute") from e

    def get(self, key: str) -> dict[str, float] | None:
        """The scores stored under ``key``, or None."""
        entry = self._entries.get(key)
        return None if entry is None else dict(entry["scores"])

    def put(self, key: str, scores: dict[str, float], note: str) -> None:
        """Store ``scores`` under ``key`` (``note`` says, for a person reading the file, what they are)."""
        self._entries[key] = {"note": note, "scores": {k: (None if v is None else float(v)) for k, v in scores.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._entries, indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    def __len__(self) -> int:
        return len(self._entries)
