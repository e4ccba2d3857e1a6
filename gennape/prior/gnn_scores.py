"""The GNN's zero-shot scores of every corpus network under one fold checkpoint, cached beside it
(``<checkpoint>.scores.pkl``) so the nested selection reads them in a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def checkpoint_scores(ckpt_path: str | Path, keys: list[str]) -> pd.DataFrame:
    """``task, hash, gnn, entropy``: the checkpoint's prediction for every network of the task
    ``keys`` and the entropy of its fuzzy memberships (how unlike its clusters the graph is)."""
    ckpt_path = Path(ckpt_path)
    cache = ckpt_path.with_suffix(".scores.pkl")
    done = pd.DataFrame(columns=["task", "hash", "gnn", "entropy"])
    if cache.is_file() and cache.stat().st_mtime >= ckpt_path.stat().st_mtime:
        done = pd.read_pickle(cache)
    todo = [k for k in keys if k not in set(done["task"])]
    if not todo:
        return done[done["task"].isin(keys)]
    from gennape.model.auxiliary import attach_features
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
                                   "entropy": -(u * np.log(u)).sum(1)}))
    out = pd.concat(parts, ignore_index=True)
    tmp = cache.with_suffix(".tmp")
    out.to_pickle(tmp)
    tmp.replace(cache)
    return out[out["task"].isin(keys)]
