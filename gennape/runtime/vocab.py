"""Op embedding rows across op vocabularies (numpy only: prediction reads them without torch).

An op with no learnt row (unseen in training, or registered after a checkpoint was written) gets
the mean of the known rows of its kind (``OpSpec.kind``), or of all known rows when none of its
kind is known: MaxPool gets what AvgPool learnt, Concat what Add learnt.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gennape.graph.ops import get_op


def kind_mean_rows(weight: np.ndarray, ops: Sequence[str], known: np.ndarray) -> np.ndarray:
    """``weight`` (one row per op of ``ops``) with every unknown row replaced by the mean of the
    known rows of its kind, or of all known rows when none of its kind is known."""
    known = np.asarray(known, dtype=bool)
    kinds = [get_op(o).kind for o in ops]
    out = np.array(weight, copy=True)
    for i, kind in enumerate(kinds):
        if not known[i]:
            same = [j for j, k in enumerate(kinds) if k == kind and known[j]]
            out[i] = weight[same].mean(0) if same else weight[known].mean(0)
    return out


def remap_rows(weight: np.ndarray, vocab: Sequence[str], now: Sequence[str]) -> np.ndarray:
    """Rows of ``weight`` (ordered by ``vocab``) re-indexed to the vocabulary ``now``; ops not in
    ``vocab`` get :func:`kind_mean_rows`. Raises KeyError when the two share no op."""
    vocab, now = list(vocab), list(now)
    if vocab == now:
        return weight
    index = {op: i for i, op in enumerate(vocab)}
    known = np.array([op in index for op in now])
    if not known.any():
        raise KeyError(f"its op vocabulary {vocab[:5]}... shares no op with this version's")
    rows = np.stack([weight[index[op]] if op in index else np.zeros_like(weight[0]) for op in now])
    return kind_mean_rows(rows, now, known)
