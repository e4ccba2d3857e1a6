"""What a checkpoint's GNN adds beyond FLOPs on each family, zero-shot.

GENNAPE predicts ``residual x (log10(GFLOPs + 1) + 1)``: the heads give the residual, the FLOPs
factor multiplies it back. This scores the two parts apart on every architecture of each family:
the prediction, the residual alone and FLOPs alone, with the factor's range. Where the factor spans
far more than in the training family and the residual alone does not rank the family, the
prediction is FLOPs with noise.

    python benchmarks/flops_factor.py [--checkpoint C] [--families nb201 nb101 nb301] [--out docs/flops_factor.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from gennape.inference import DEFAULT_CHECKPOINT
from gennape.model.auxiliary import attach_features
from gennape.model.checkpoint import load_checkpoint
from gennape.model.dataset import load_graphs
from gennape.model.pipeline import loader, predict
from gennape.model.transform import flops_divisor

ROOT = Path(__file__).resolve().parents[1]


def _srcc(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(spearmanr(a, b)[0]), 3)


def family_parts(ckpt_path: Path, family: str) -> dict:
    """Spearman of the prediction, the residual and FLOPs with the accuracy on ``family``."""
    ckpt = load_checkpoint(ckpt_path)
    net = ckpt.net.eval()
    if not net.transform.divide_by_flops:
        raise SystemExit(f"{ckpt_path}: the model does not divide by FLOPs; there is no factor to take apart")
    fam = load_graphs(family)
    if ckpt.aux_features:
        attach_features(fam.graphs, fam.name, ckpt.aux_features, ckpt.aux_scaling)
    with torch.no_grad():
        target = torch.cat([net.predict_target(b)["target"] for b in loader(fam.graphs, 512)])
    tr = net.transform
    residual = (target * tr.std + tr.mean).numpy()
    flops = np.array([float(g.flops) for g in fam.graphs])
    factor = (flops_divisor(torch.tensor(flops)) ** tr.exponent).numpy()
    y = np.asarray(fam.y, dtype=np.float64)
    return {
        "family": family, "architectures": len(fam),
        "srcc_prediction": _srcc(predict(net, fam.graphs), y),
        "srcc_residual": _srcc(residual, y),
        "srcc_flops": _srcc(flops, y),
        "factor_min": round(float(factor.min()), 3), "factor_max": round(float(factor.max()), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--families", nargs="+", default=["nb201", "nb101", "nb301"])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "flops_factor.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = [family_parts(args.checkpoint, f) for f in args.families]
    for r in rows:
        print(json.dumps(r))
    ckpt = args.checkpoint.resolve()
    name = str(ckpt.relative_to(ROOT)) if ckpt.is_relative_to(ROOT) else str(ckpt)
    args.out.write_text(json.dumps({"checkpoint": name, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
