"""The GNN's zero-shot scores of every corpus network under one fold checkpoint, cached beside it
(``<checkpoint>.scores.pkl``) so the nested selection reads them in a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def checkpoint_scores(ckpt_path: str | Path, keys: list[str]) -> pd.DataFrame:
    """``task, hash, gnn, entropy, dist``: the checkpoint's prediction for every network of the task
    ``keys``, the entropy of its fuzzy memberships, and the distance of its embedding to the
    nearest cluster centroid (both: how unlike the training graphs it is)."""
    ckpt_path = Path(ckpt_path)
    cache = ckpt_path.with_suffix(".scores.pkl")
    done = pd.DataFrame(columns=["task", "hash", "gnn", "entropy", "dist"])
    if cache.is_file() and cache.stat().st_mtime >= ckpt_path.stat().st_mtime:
        done = pd.read_pickle(cache)
        if "dist" not in done:
            done = done.iloc[:0].assign(dist=[])
    todo = [k for k in keys if k not in set(done["task"])]
    if not todo:
        return done[done["task"].isin(keys)]
    from gennape.runtime.auxiliary import attach_features
    from gennape.model.checkpoint import load_checkpoint
    from gennape.model.corpus import load_task
    from gennape.model.prediction import predict

    ckpt = load_checkpoint(ckpt_path)
    parts = [done] if len(done) else []
    for key in todo:
        fam = load_task(key)
        if ckpt.aux_features:
            attach_features(fam.graphs, fam.variant, ckpt.aux_features, ckpt.aux_scaling, require_store=False)
        res = predict(ckpt.net, fam.graphs, details=True)
        u = np.clip(res["memberships"], 1e-12, 1.0)
        parts.append(pd.DataFrame({"task": key, "hash": [d.hash for d in fam.graphs], "gnn": res["accuracy"],
                                   "entropy": -(u * np.log(u)).sum(1), "dist": nearest_centroid(ckpt.net, res["embedding"])}))
    out = pd.concat(parts, ignore_index=True)
    tmp = cache.with_suffix(".tmp")
    out.to_pickle(tmp)
    tmp.replace(cache)
    return out[out["task"].isin(keys)]


def nearest_centroid(net: object, embedding: np.ndarray) -> np.ndarray:
    """Each embedding's Euclidean distance to the nearest fuzzy-cluster centroid of ``net``."""
    c = net.fcm.centroids.detach().numpy()
    return np.sqrt(((embedding[:, None, :] - c[None]) ** 2).sum(-1)).min(1)
