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
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from torch_geometric.data import Data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gennape.evaluation.experiment import model_configs  # noqa: E402

from gennape.data.loaders import TARGETS  # noqa: E402
from gennape.evaluation.evaluate import split_indices, zero_shot  # noqa: E402
from gennape.runtime.auxiliary import attach_features  # noqa: E402
from gennape.model.checkpoint import build_kwargs  # noqa: E402
from gennape.model.dataset import Family, load_graphs  # noqa: E402
from gennape.model.pipeline import PretrainConfig, RegressConfig, fit  # noqa: E402
from gennape.model.predictor import GennapeNet, build_net  # noqa: E402

SOURCE = "nb201"


def model_config() -> dict[str, Any]:
    """The default model config, composed by Hydra as ``train.py`` does."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config")
    return model_configs(cfg)[cfg.model.name]


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
    for p, pair in zip(args.pairs, pairs):
        if len(pair) != 2 or not set(pair) <= set(TARGETS) - {SOURCE} or pair[0] == pair[1]:
            ap.error(f"--pairs {p!r}: expected SECOND:TARGET, two different families of {sorted(set(TARGETS) - {SOURCE})}")
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
    srcc_of: dict[tuple[str, str, str], list[float]] = defaultdict(list)
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
                srcc_of[target, second, r["method"]].append(r["srcc"])
                print(f"seed {seed} -> {target}: {r['method']:14s} SRCC {r['srcc']:.3f}", flush=True)
    summary = [{"target": t, "second": s, "method": m, "srcc": float(np.mean(v)), "srcc_std": float(np.std(v)),
                "seeds": len(v)} for (t, s, m), v in srcc_of.items()]
    out = {"command": "python benchmarks/second_source.py " + " ".join(
        [f"--limit {args.limit}", "--seeds", *map(str, args.seeds), "--pairs", *args.pairs]),
        "limit": args.limit, "minutes": (time.perf_counter() - t0) / 60, "summary": summary, "rows": rows}
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    for s in summary:
        print(f"{s['target']}: {s['method']:14s} {s['srcc']:.3f} ± {s['srcc_std']:.3f}")


if __name__ == "__main__":
    main()
