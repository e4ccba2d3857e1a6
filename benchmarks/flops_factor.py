"""What a checkpoint's GNN adds beyond FLOPs on each family, zero-shot.

GENNAPE predicts ``residual x (log10(GFLOPs + 1) + 1)``: the heads give the residual, the FLOPs
factor multiplies it back. This scores the two parts apart on every architecture of each family:
the prediction, the residual alone and FLOPs alone, with the factor's range. Where the factor spans
far more than in the training family and the residual alone does not rank the family, the
prediction is FLOPs with noise. Within each FLOPs quintile (architectures of similar FLOPs) the
residual's SRCC says what the GNN adds at equal compute, which is what it should add.

    python benchmarks/flops_factor.py [--checkpoint C] [--families nb201 nb101 nb301] [--out docs/flops_factor.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch_geometric.data import Data

from gennape.graph.ops import list_ops
from gennape.inference.predict import DEFAULT_CHECKPOINT
from gennape.runtime.auxiliary import attach_features
from gennape.model.checkpoint import load_checkpoint
from gennape.model.dataset import load_graphs
from gennape.model.pipeline import loader
from gennape.model.predictor import GennapeNet
from gennape.model.transform import flops_divisor

ROOT = Path(__file__).resolve().parents[1]


def _srcc(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(spearmanr(a, b)[0]), 3)


def flops_groups(flops: np.ndarray, bins: int = 5) -> list[np.ndarray]:
    """Indices of ``bins`` equal-count groups of architectures by FLOPs, lowest first."""
    return np.array_split(np.argsort(flops, kind="stable"), bins)


def within_groups(score: np.ndarray, y: np.ndarray, groups: list[np.ndarray]) -> list[float]:
    """Spearman of ``score`` with ``y`` inside each group."""
    return [_srcc(score[g], y[g]) for g in groups]


def op_count_agreement(graphs: Sequence[Data], residual: np.ndarray, y: np.ndarray,
                       groups: list[np.ndarray]) -> list[dict]:
    """For each op whose count varies in the family: the mean over the FLOPs groups of the residual's
    Spearman with the op's count, and of the accuracy's (at equal compute, does the GNN reward or
    penalise the op the way the accuracy does?)."""
    ops = list_ops()
    counts = np.stack([np.bincount(g.op.view(-1).numpy(), minlength=len(ops)) for g in graphs])
    rows = []
    for j, name in enumerate(ops):
        varies = [g for g in groups if np.ptp(counts[g, j]) > 0]
        if not varies:
            continue
        mean = lambda score: round(float(np.mean([spearmanr(counts[g, j], score[g])[0] for g in varies])), 3)
        rows.append({"op": name, "residual": mean(residual), "accuracy": mean(y)})
    return rows


def parts(net: GennapeNet, graphs: Sequence[Data]) -> dict:
    """Spearman of the prediction, the residual and FLOPs with the accuracy of ``graphs``, the
    residual's within each FLOPs quintile, and the FLOPs factor's range (one forward pass; the
    prediction is the residual times the factor)."""
    tr = net.eval().transform
    if not tr.divide_by_flops:
        raise SystemExit("the model does not divide by FLOPs; there is no factor to take apart")
    with torch.no_grad():
        target = torch.cat([net.predict_target(b)["target"] for b in loader(graphs, 512)])
    flops = torch.cat([g.flops for g in graphs])
    factor = (flops_divisor(flops) ** tr.exponent).numpy()
    y = torch.cat([g.y for g in graphs]).double().numpy()
    residual = (target * tr.std + tr.mean).double().numpy()
    fl = flops.double().numpy()
    quintiles = flops_groups(fl)
    return {
        "architectures": len(graphs),
        "srcc_prediction": _srcc(tr.inverse(target, flops).numpy(), y),
        "srcc_residual": _srcc(residual, y),
        "srcc_flops": _srcc(fl, y),
        "srcc_residual_within_flops_quintiles": within_groups(residual, y, quintiles),
        "op_counts_within_flops_quintiles": op_count_agreement(graphs, residual, y, quintiles),
        "factor_min": round(float(factor.min()), 3), "factor_max": round(float(factor.max()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--families", nargs="+", default=["nb201", "nb101", "nb301"])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "flops_factor.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    rows = []
    for f in args.families:
        fam = load_graphs(f)
        if ckpt.aux_features:  # the heads' features from the family's store, as in train.py
            attach_features(fam.graphs, fam.name, ckpt.aux_features, ckpt.aux_scaling)
        rows.append({"family": f, **parts(ckpt.net, fam.graphs)})
    for r in rows:
        print(json.dumps(r))
    path = args.checkpoint.resolve()
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    args.out.write_text(json.dumps({"checkpoint": name, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
