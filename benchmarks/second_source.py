"""A second labelled family beside NB-201: does it make the third family's zero-shot ranking better?

For each training seed, GENNAPE (``conf/model/gennape.yaml``, as ``python train.py`` builds it) is
trained on a random NB-201 subset alone, and on the same subset plus every architecture of a second
family; each model then scores the family it never saw, zero-shot, beside FLOPs and params on the
same architectures. The second family's accuracies are mapped onto the NB-201 subset's mean and
spread (z-scores within the family): the benchmarks train with different recipes, so only ranks
within a family compare, and its raw accuracies would teach the heads which benchmark a graph
comes from. Each family keeps its own FLOPs/params quantiles (``aux_scaling: set``) and a tenth of
it for early stopping.

    python benchmarks/second_source.py [--limit 2000] [--seeds 0 1 2] [--pairs nb301:nb101 nb101:nb301]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch_geometric.data import Data

from gennape.evaluate import split_indices, zero_shot
from gennape.model.auxiliary import attach_features
from gennape.model.checkpoint import build_kwargs
from gennape.model.dataset import Family, load_graphs
from gennape.model.pipeline import PretrainConfig, RegressConfig, fit
from gennape.model.predictor import GennapeNet, build_net

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "nb201"


def model_config() -> dict[str, Any]:
    """The default model config, composed by Hydra as ``train.py`` does."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config")
    mc = OmegaConf.to_container(cfg.model, resolve=True)
    mc["aux_features"] = list(mc.get("aux_features") or [])
    mc["aux_dim"] = len(mc["aux_features"])
    return mc


def aligned(family: Family, mean: float, std: float) -> list[Data]:
    """Copies of the family's graphs with accuracies mapped onto ``mean`` and ``std``."""
    y = family.y
    z = (y - y.mean()) / y.std()
    out = []
    for g, zi in zip(family.graphs, z):
        c = g.clone()
        c.y = torch.tensor([float(mean + std * zi)])
        out.append(c)
    return out


def train(mc: dict[str, Any], train_graphs: list[Data], val_graphs: list[Data], seed: int) -> GennapeNet:
    net = build_net(**build_kwargs(mc), seed=seed)
    fit(net, train_graphs, val_graphs, PretrainConfig(**mc["pretrain"]), RegressConfig(**mc["regress"]),
        {"enable_progress_bar": False, "enable_model_summary": False}, None, None, seed,
        fill_unseen=mc.get("fill_unseen_ops", True))
    return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=2000, help="NB-201 subset (seed 0), as experiment=transfer_choices")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--pairs", nargs="+", default=["nb301:nb101", "nb101:nb301"],
                    help="SECOND:TARGET: train on NB-201 + SECOND, score TARGET zero-shot")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "second_source.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    pairs = [tuple(p.split(":")) for p in args.pairs]
    mc = model_config()
    names = sorted({SOURCE, *(f for p in pairs for f in p)})
    fams = {f: load_graphs(f, None, args.limit if f == SOURCE else None, 0) for f in names}
    for f, fam in fams.items():
        if mc["aux_features"]:
            attach_features(fam.graphs, f, mc["aux_features"], mc["aux_scaling"])
    src = fams[SOURCE]
    tr, va, _ = split_indices(len(src), 0.1, 0.1, 0)
    base_train, base_val = [src.graphs[i] for i in tr], [src.graphs[i] for i in va]
    mean, std = float(src.y[tr].mean()), float(src.y[tr].std())
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for seed in args.seeds:
        alone = train(mc, base_train, base_val, seed)
        for second, target in pairs:
            graphs = aligned(fams[second], mean, std)
            s_tr, s_va, _ = split_indices(len(graphs), 0.1, 0.0, 0)
            both = train(mc, base_train + [graphs[i] for i in s_tr], base_val + [graphs[i] for i in s_va], seed)
            models = {SOURCE: alone, f"{SOURCE}+{second}": both}
            for r in zero_shot(models, fams[target], ["flops", "params"]):
                rows.append({"target": target, "second": second, "seed": seed, "method": r["method"],
                             "srcc": r["srcc"], "kendall": r["kendall"]})
                print(f"seed {seed} -> {target}: {r['method']:14s} SRCC {r['srcc']:.3f}", flush=True)
    summary = []
    for second, target in pairs:
        for method in dict.fromkeys(r["method"] for r in rows if r["target"] == target and r["second"] == second):
            v = [r["srcc"] for r in rows if r["target"] == target and r["second"] == second and r["method"] == method]
            summary.append({"target": target, "second": second, "method": method, "srcc": float(np.mean(v)), "srcc_std": float(np.std(v)),
                            "seeds": len(v)})
    out = {"command": "python benchmarks/second_source.py " + " ".join(
        [f"--limit {args.limit}", "--seeds", *map(str, args.seeds), "--pairs", *args.pairs]),
        "limit": args.limit, "minutes": (time.perf_counter() - t0) / 60, "summary": summary, "rows": rows}
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    for s in summary:
        print(f"{s['target']}: {s['method']:14s} {s['srcc']:.3f} ± {s['srcc_std']:.3f}")


if __name__ == "__main__":
    main()
