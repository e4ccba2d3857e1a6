"""What ``predict.py --no-features`` costs in ranking quality, on families the model never saw.

For every fold of a leave-one-family-out run (``python train.py experiment=lofo``), the fold's
model (``<run>/<F>/model.ckpt``, trained without family F) scores every task of F twice: with its
auxiliary features as stored, and with every feature that runs the network (proxies, NNGP) masked
as missing, as ``--no-features`` does; FLOPs and params are read off the graphs either way. Writes
the zero-shot SRCC of both, per task and averaged per family, to ``docs/no_features_cost.json``.

    python benchmarks/no_features_cost.py docs/runs/lofo_features
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import torch

from gennape.features.static import list_static
from gennape.model.auxiliary import attach_features
from gennape.model.checkpoint import load_checkpoint
from gennape.model.corpus import expand_keys, family_of, load_task
from gennape.model.metrics import srcc
from gennape.model.prediction import predict

OUT = Path(__file__).resolve().parents[1] / "docs" / "no_features_cost.json"


def masked(graphs: list, names: list[str]) -> list:
    """Copies of ``graphs`` whose features that run the network count as missing."""
    cols = [j for j, n in enumerate(names) if n not in list_static()]
    out = []
    for g in graphs:
        g = copy.copy(g)
        g.aux, g.aux_mask = g.aux.clone(), g.aux_mask.clone()
        g.aux[:, cols], g.aux_mask[:, cols] = 0.0, 0.0
        out.append(g)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a LOFO run folder (one sub-folder per held-out family)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tasks: dict[str, dict[str, float]] = {}
    for fold in sorted(p for p in args.run.iterdir() if (p / "model.ckpt").is_file()):
        ckpt = load_checkpoint(fold / "model.ckpt")
        names = list(ckpt.aux_features)
        for key in expand_keys([f"{fold.name}/*"]):
            fam = load_task(key)
            attach_features(fam.graphs, fam.variant, names, ckpt.aux_scaling, require_store=False)
            y = np.asarray(fam.y, dtype=float)
            with_f = srcc(y, predict(ckpt.net, fam.graphs))
            without = srcc(y, predict(ckpt.net, masked(fam.graphs, names)))
            tasks[key] = {"with_features": round(with_f, 4), "no_features": round(without, 4), "n": len(y)}
            print(f"{key}: with {with_f:.3f}, --no-features {without:.3f} ({len(y)} networks)")
    families: dict[str, dict[str, float]] = {}
    for fam in dict.fromkeys(family_of(k) for k in tasks):
        rows = [v for k, v in tasks.items() if family_of(k) == fam]
        families[fam] = {m: round(float(np.mean([r[m] for r in rows])), 4) for m in ("with_features", "no_features")}
    args.out.write_text(json.dumps({"command": f"python benchmarks/no_features_cost.py {args.run}",
                                    "families": families, "tasks": tasks}, indent=2) + "\n")
    print(json.dumps(families, indent=2))


if __name__ == "__main__":
    main()
