"""Fine-tuning settings compared on one trained checkpoint (why conf/config.yaml's are what they are).

For each setting, every seed draws 50 labelled architectures of the target family (the same draws
as train.py), fine-tunes a copy of the checkpoint's network on them and scores the rest.

    python benchmarks/finetune_settings.py --checkpoint gennape/checkpoints/default.ckpt [--seeds 3] [--settings ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gennape.evaluation.evaluate import fine_tuned
from gennape.inference.predict import DEFAULT_CHECKPOINT
from gennape.runtime.auxiliary import attach_features
from gennape.model.checkpoint import load_checkpoint
from gennape.model.dataset import load_graphs
from gennape.model.pipeline import FinetuneConfig

ROOT = Path(__file__).resolve().parents[1]
SETTINGS: dict[str, dict] = {
    "paper: 100 epochs, FLOPs division kept": {"epochs": 100, "divide_by_flops": None},
    "300 epochs, FLOPs division kept": {"epochs": 300, "divide_by_flops": None},
    "100 epochs, no FLOPs division": {"epochs": 100, "divide_by_flops": False},
    "300 epochs, no FLOPs division (default)": {"epochs": 300, "divide_by_flops": False},
    "300 epochs, no FLOPs division, + pairwise ranking loss": {"epochs": 300, "divide_by_flops": False,
                                                               "rank_weight": 1.0},
    "300 epochs, no FLOPs division, encoder at 0.1x the learning rate": {"epochs": 300, "divide_by_flops": False,
                                                                          "encoder_lr_scale": 0.1},
    "300 epochs, no FLOPs division, learning rate 3e-3": {"epochs": 300, "divide_by_flops": False, "lr": 3e-3},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--families", nargs="+", default=["nb101", "nb301"])
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS),
                    help="which settings (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "finetune_settings.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    net = ckpt.net
    quiet = {"enable_progress_bar": False, "accelerator": "cpu"}
    rows = []
    for fam in args.families:
        family = load_graphs(fam)
        if ckpt.aux_features:  # the heads' features from the family's store, as in train.py
            attach_features(family.graphs, fam, ckpt.aux_features, ckpt.aux_scaling)
        for name in args.settings:
            over = SETTINGS[name]
            cfg = FinetuneConfig(samples=args.samples, seeds=args.seeds, **over)
            r = fine_tuned({"gennape": net}, family, cfg, baselines=(), trainer_kwargs=quiet)[0]
            rows.append({"family": fam, "setting": name, "srcc": r["srcc"], "srcc_std": r.get("srcc_std"),
                         "kendall": r["kendall"], "mae": r["mae"], "seeds": args.seeds})
            print(f"{fam:6s} {name:42s} SRCC {r['srcc']:.3f} ± {r.get('srcc_std') or 0:.3f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = str(args.checkpoint.relative_to(ROOT)) if args.checkpoint.is_relative_to(ROOT) else str(args.checkpoint)
    args.out.write_text(json.dumps({"checkpoint": ckpt, "samples": args.samples, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
