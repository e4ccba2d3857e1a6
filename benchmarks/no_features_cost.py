"""What ``predict.py --no-features`` costs in ranking quality on families the model never saw,
and what each feature contributes.

For every fold of a leave-one-family-out run (``python train.py experiment=lofo``), the fold's
model (``<run>/<F>/model.ckpt``, trained without family F) scores every task of F: with its
auxiliary features as stored; with every feature that runs the network (proxies, NNGP) masked as
missing, as ``--no-features`` does (FLOPs and params are read off the graphs either way); and
with each of its features masked alone (an ablation at prediction time: the same trained model,
one input taken away). Writes the zero-shot SRCC, per task and averaged per family, to
``docs/no_features_cost.json``.

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
from gennape.runtime.auxiliary import attach_features
from gennape.model.checkpoint import load_checkpoint
from gennape.model.corpus import expand_keys, family_of, load_task
from gennape.model.metrics import srcc
from gennape.model.prediction import predict

OUT = Path(__file__).resolve().parents[1] / "docs" / "no_features_cost.json"


def masked(graphs: list, names: list[str], drop: list[str] | None = None) -> list:
    """Copies of ``graphs`` whose features ``drop`` (default: those that run the network) count
    as missing."""
    drop = [n for n in names if n not in list_static()] if drop is None else drop
    cols = [j for j, n in enumerate(names) if n in drop]
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
            for n in names:
                tasks[key][f"without_{n}"] = round(srcc(y, predict(ckpt.net, masked(fam.graphs, names, [n]))), 4)
            print(f"{key}: with {with_f:.3f}, --no-features {without:.3f} ({len(y)} networks); "
                  + ", ".join(f"{k} {v:.3f}" for k, v in tasks[key].items() if k.startswith("without_")))
    families: dict[str, dict[str, float]] = {}
    for fam in dict.fromkeys(family_of(k) for k in tasks):
        rows = [v for k, v in tasks.items() if family_of(k) == fam]
        metrics = [m for m in rows[0] if m != "n"]
        families[fam] = {m: round(float(np.mean([r[m] for r in rows if m in r])), 4) for m in metrics}
    args.out.write_text(json.dumps({"command": f"python benchmarks/no_features_cost.py {args.run}",
                                    "families": families, "tasks": tasks}, indent=2) + "\n")
    print(json.dumps(families, indent=2))


if __name__ == "__main__":
    main()
