"""Can a scale-free compute-and-depth prior learnt on NB-201 rank unseen families, when the choice
of prior is made honestly?

Each architecture gets a few statistics of its computation graph: FLOPs, params, weight layers
(Conv, DepthwiseConv, Linear nodes), nodes, and depth (weight layers on the longest input-to-output
path), each as its quantile within its own family (scale-free, label-free, as ``aux_scaling: set``).
Every non-empty subset of them is a linear model fitted on NB-201 to the accuracy's quantile. A
model must then be *chosen* without the target's labels: here by its zero-shot SRCC on the other
unseen family (NB-301 chooses for NB-101 and the other way round). The page reports what that
choice gives on the target, the best subset in hindsight (chosen on the target itself: not a
result, only the ceiling of this family of priors), and FLOPs and params.

    python benchmarks/compute_prior.py [--limit 2000]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from gennape.runtime.auxiliary import scale
from gennape.model.dataset import load_graphs
from gennape.model.metrics import srcc
from gennape.model.size import depth, weight_layers

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "nb201"
TARGETS = ("nb101", "nb301")
STATISTICS = ("flops", "params", "weight_layers", "nodes", "depth")


def statistics(graphs: list[Data]) -> np.ndarray:
    """``[N, len(STATISTICS)]`` quantiles within ``graphs`` (the ``set`` scaling of auxiliary features)."""
    rows = [[float(g.flops), float(g.params), weight_layers(g), g.num_nodes, depth(g)] for g in graphs]
    return scale(np.asarray(rows, dtype=float), "set")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=2000, help="NB-201 cells to fit on (random, seed 0); 0 = all")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "compute_prior.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    fams = {f: load_graphs(f, None, (args.limit or None) if f == SOURCE else None, 0) for f in (SOURCE, *TARGETS)}
    stats = {f: statistics(fam.graphs) for f, fam in fams.items()}
    y = fams[SOURCE].y
    yq = scale(y[:, None], "set")[:, 0]
    models = []
    for k in range(1, len(STATISTICS) + 1):
        for cols in itertools.combinations(range(len(STATISTICS)), k):
            a = np.c_[stats[SOURCE][:, cols], np.ones(len(y))]
            w = np.linalg.lstsq(a, yq, rcond=None)[0][:-1]
            scores = {f: srcc(fams[f].y, stats[f][:, cols] @ w) for f in fams}
            models.append({"statistics": [STATISTICS[c] for c in cols], "weights": w.tolist(), "srcc": scores})
    rows = []
    for target in TARGETS:
        chooser = next(f for f in TARGETS if f != target)
        chosen = max(models, key=lambda m: m["srcc"][chooser])
        hindsight = max(models, key=lambda m: m["srcc"][target])
        rows.append({"target": target, "chosen_on": chooser, "chosen": chosen["statistics"],
                     "chosen_srcc": chosen["srcc"][target], "hindsight": hindsight["statistics"],
                     "hindsight_srcc": hindsight["srcc"][target],
                     "flops": srcc(fams[target].y, stats[target][:, 0]),
                     "params": srcc(fams[target].y, stats[target][:, 1])})
        print(f"{target}: chosen on {chooser} ({'+'.join(chosen['statistics'])}) {rows[-1]['chosen_srcc']:.3f}; "
              f"in hindsight ({'+'.join(hindsight['statistics'])}) {rows[-1]['hindsight_srcc']:.3f}; "
              f"FLOPs {rows[-1]['flops']:.3f}, params {rows[-1]['params']:.3f}")
    out = {"command": f"python benchmarks/compute_prior.py --limit {args.limit}", "source_size": len(y),
           "rows": rows, "models": models}
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
