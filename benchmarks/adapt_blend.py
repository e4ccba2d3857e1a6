"""After 50 labels of a family it never saw: the adapted predictor (the fine-tuned GNN blended with
a size fit on the same labels, at the weight early stopping's held-out labels choose), against the
fine-tuned GNN alone and the size fit alone, on every other network of the family.

Each LOFO fold checkpoint of ``outputs/lofo_select`` is adapted as ``predict.py --labels`` does
(``gennape.inference.adapt.adapt_net``), on the evaluation protocol's draws of 50 labels.

    python benchmarks/adapt_blend.py     # -> docs/adapt_blend.json (about 10 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

FAMILIES = ["nb201", "nb101", "nb301", "transnas_macro", "transnas_micro", "zoo"]


def family(name: str, gnn_dir: str, labels: int, seeds: int) -> dict:
    import torch

    from gennape.inference.adapt import adapt_net
    from gennape.model.checkpoint import load_checkpoint
    from gennape.model.corpus import load_task
    from gennape.model.prediction import predict
    from gennape.model.size import size_fit
    from gennape.runtime.auxiliary import attach_features

    torch.set_num_threads(1)
    fam = load_task(name)
    ckpt = load_checkpoint(Path(gnn_dir) / name / "model.ckpt")
    if ckpt.aux_features:
        attach_features(fam.graphs, fam.variant, ckpt.aux_features, ckpt.aux_scaling, require_store=False)
    runs: dict[str, list[float]] = {k: [] for k in ("blend", "gnn", "size_fit", "weight", "blend_mae", "gnn_mae",
                                                     "size_fit_mae")}
    for seed in range(seeds):
        perm = np.random.default_rng(1000 + seed).permutation(len(fam))  # the LOFO protocol's draws
        tune, rest = perm[:labels], perm[labels:]
        tuned = adapt_net(ckpt.net, [fam.graphs[i] for i in tune], fam.y[tune], seed=seed)
        graphs, y = [fam.graphs[i] for i in rest], fam.y[rest]
        preds = {"blend": predict(tuned, graphs), "gnn": predict(tuned, graphs, prior=False),
                 "size_fit": size_fit([fam.graphs[i] for i in tune], fam.y[tune], graphs)}
        for k, p in preds.items():
            runs[k].append(float(spearmanr(p, y)[0]))
            runs[f"{k}_mae"].append(float(np.mean(np.abs(p - y))))
        runs["weight"].append(tuned.prior.gnn_weight if tuned.prior is not None else 1.0)
    return {k: float(np.mean(v)) for k, v in runs.items()} | {"labels": labels, "seeds": seeds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gnn", default="outputs/lofo_select", help="LOFO run with fold checkpoints")
    ap.add_argument("--labels", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default="docs/adapt_blend.json")
    args = ap.parse_args()
    res = {}
    for name in FAMILIES:
        res[name] = family(name, args.gnn, args.labels, args.seeds)
        r = res[name]
        print(f"{name:15s} blend {r['blend']:.3f}  gnn {r['gnn']:.3f}  size fit {r['size_fit']:.3f}  "
              f"GNN weight {r['weight']:.2f}", flush=True)
    Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
