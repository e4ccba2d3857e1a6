"""NNGP score on NB-201: how well it ranks the 200-epoch accuracy, and what it costs per cell.

1. Featurises ``--cells`` NB-201 cells (stratified by accuracy, as ``limit=`` does) with ``nngp`` and
   ``nngp_loss`` into the family's feature store, through ``python -m gennape.features``'s own
   machinery: a killed run resumes where it stopped, and the store keeps the seconds per cell.
2. Spearman and Kendall with the accuracy, on the same cells, of the NNGP score (held-out accuracy
   of the kernel regression), of its negated loss, and of FLOPs, params and any other stored feature.
3. Why (a test of the README's reading): the NNGP score against the cell's number of conv, skip
   and pooling edges, and its Spearman with the accuracy within each conv-edge count.
4. Cost: NNGP seconds per cell (as measured during step 1) against one training epoch of that cell
   on CIFAR-10 (50,000 images, 32x32, batch 64, SGD), timed here over ``--steps`` steps of the cell's
   network on ``--timing-cells`` of the cells and scaled to the epoch, with the same torch threads.

Run (one CPU core: about 2.5 s per cell at the defaults, so ~20 min for 500 cells):
    python benchmarks/nngp_report.py --cells 500
Writes ``docs/nngp.md`` and ``docs/nngp.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import kendalltau, spearmanr
from torch import nn

from gennape.data.loaders import TARGETS, load_family
from gennape.features.batch import cifar10_images
from gennape.features.extract import ExtractConfig, extract, select_archs
from gennape.features.store import FeatureStore, default_path
from gennape.data.families import FAMILY_SPACES
from gennape.spaces import get_space

REPO = Path(__file__).resolve().parents[1]
FAMILY = "nb201"
EPOCH_IMAGES = 50_000  # CIFAR-10 training set


def correlations(table: pd.DataFrame, target: str, scores: dict[str, pd.Series]) -> pd.DataFrame:
    """Spearman / Kendall of each score with ``table[target]`` on the rows where it is present."""
    rows = []
    for name, s in scores.items():
        ok = s.notna() & table[target].notna()
        rho = spearmanr(s[ok], table.loc[ok, target]).statistic
        tau = kendalltau(s[ok], table.loc[ok, target]).statistic
        rows.append({"score": name, "cells": int(ok.sum()), "spearman": float(rho), "kendall": float(tau)})
    return pd.DataFrame(rows)


def edge_counts(spec: str) -> dict[str, int]:
    """Operations on the six edges of an NB-201 cell spec (``|nor_conv_3x3~0|+|...``)."""
    ops = [tok.split("~")[0] for tok in spec.replace("+", "").split("|") if tok]
    return {"conv": sum("conv" in o for o in ops), "skip": ops.count("skip_connect"),
            "pool": ops.count("avg_pool_3x3")}


def by_structure(cells: pd.DataFrame, target: str) -> dict:
    """Spearman of the NNGP score with each edge count, and with the accuracy within each conv count."""
    ok = cells[cells["nngp"].notna()]
    counts = pd.DataFrame([edge_counts(s) for s in ok.index], index=ok.index)
    overall = {f"nngp_vs_{k}": float(spearmanr(ok["nngp"], counts[k]).statistic) for k in counts.columns}
    overall["accuracy_vs_conv"] = float(spearmanr(ok[target], counts["conv"]).statistic)
    strata = []
    for k, g in ok.groupby(counts["conv"]):
        rho = spearmanr(g["nngp"], g[target]).statistic if len(g) >= 10 else float("nan")
        strata.append({"conv_edges": int(k), "cells": len(g), "mean_nngp": float(g["nngp"].mean()),
                       "mean_accuracy": float(g[target].mean()), "spearman_nngp_accuracy": float(rho)})
    return {"overall": overall, "strata": strata}


def epoch_seconds(spec: str, steps: int, batch_size: int, seed: int) -> float:
    """Seconds one CIFAR-10 epoch of SGD on ``spec``'s network would take (``steps`` timed)."""
    space = get_space(FAMILY_SPACES[FAMILY])
    torch.manual_seed(seed)
    net = space.build(space.parse(spec)).train()
    x, y = cifar10_images(batch_size, seed=seed, split="train")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        out = net(x)
        loss_fn(out[-1] if isinstance(out, tuple) else out, y).backward()
        opt.step()

    step()  # warm-up: first-call allocations
    start = time.perf_counter()
    for _ in range(steps):
        step()
    per_image = (time.perf_counter() - start) / (steps * batch_size)
    return per_image * EPOCH_IMAGES


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=500, help="stratified NB-201 cells")
    ap.add_argument("--workers", type=int, default=1, help="feature worker processes")
    ap.add_argument("--timing-cells", type=int, default=20, help="cells whose training epoch is timed")
    ap.add_argument("--steps", type=int, default=5, help="SGD steps timed per cell")
    ap.add_argument("--images", type=int, default=128, help="NNGP training and held-out images (each)")
    ap.add_argument("--draws", type=int, default=2, help="NNGP random initialisations")
    ap.add_argument("--store", type=Path, default=None,
                    help="feature store (default: the family's; other --images/--draws need another)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "nngp")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = ExtractConfig(family=FAMILY, features=["nngp", "nngp_loss"], limit=args.cells, workers=args.workers,
                        nngp_images=args.images, nngp_draws=args.draws,
                        store=str(args.store) if args.store else None)
    print(extract(cfg))

    target = TARGETS[FAMILY]
    table = load_family(FAMILY).drop_duplicates("spec").set_index("spec")
    store_path = args.store or default_path(FAMILY)
    with FeatureStore(store_path) as fs:
        values = fs.frame(by="key")
        cost = fs.rows(["nngp"]).set_index("hash")["seconds"]
    keys = [a.key for a in select_archs(cfg)[1]]  # the stratified cells themselves, not their isomorphs
    cells = values.reindex(keys).join(table[[target]], how="inner")
    scores = {"nngp": cells["nngp"], "-nngp_loss": -cells["nngp_loss"]}
    scores |= {c: cells[c] for c in values.columns if c not in ("hash", "nngp", "nngp_loss")}
    corr = correlations(cells, target, scores)

    rng = np.random.default_rng(0)
    timed = rng.choice(cells.index.to_numpy(), min(args.timing_cells, len(cells)), replace=False)
    ratios, epochs = [], []
    for spec in timed:
        ep = epoch_seconds(spec, args.steps, 64, seed=0)
        epochs.append(ep)
        ratios.append(float(cost[cells.loc[spec, "hash"]]) / ep)
    nngp_s = cost.reindex(cells["hash"].unique())
    summary = {
        "cells": len(cells), "distinct_networks": int(cells["hash"].nunique()), "target": target,
        "settings": {"nngp_images": cfg.nngp_images, "nngp_draws": cfg.nngp_draws, "image_size": 32},
        "correlations": corr.to_dict("records"),
        "structure": by_structure(cells, target),
        "nngp_seconds_per_cell": {"mean": float(nngp_s.mean()), "median": float(nngp_s.median())},
        "epoch_seconds_per_cell": {"mean": float(np.mean(epochs)), "median": float(np.median(epochs)),
                                   "cells_timed": len(epochs), "steps": args.steps},
        "nngp_over_epoch": {"mean": float(np.mean(ratios)), "median": float(np.median(ratios))},
        "command": "python benchmarks/nngp_report.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    args.out.with_suffix(".md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


def markdown(s: dict) -> str:
    """The report as markdown."""
    rows = "".join(f"| {r['score']} | {r['cells']} | {r['spearman']:.3f} | {r['kendall']:.3f} |\n"
                   for r in s["correlations"])
    st, ep, ratio = s["settings"], s["epoch_seconds_per_cell"], s["nngp_over_epoch"]
    o = s["structure"]["overall"]
    def rho(v: float) -> str:
        return "–" if math.isnan(v) else f"{v:.3f}"

    strata = "".join(f"| {r['conv_edges']} | {r['cells']} | {r['mean_nngp']:.3f} | {r['mean_accuracy']:.1f} | "
                     f"{rho(r['spearman_nngp_accuracy'])} |\n" for r in s["structure"]["strata"])
    return (
        "# NNGP score on NAS-Bench-201 (CIFAR-10)\n\n"
        f"Produced by `{s['command'].strip()}` (one CPU thread per process, 2-core machine).\n\n"
        f"Monte-Carlo NNGP (`gennape/features/nngp.py`): {st['nngp_draws']} initialisations, "
        f"{st['nngp_images']} training and {st['nngp_images']} held-out CIFAR-10 images at "
        f"{st['image_size']}x{st['image_size']}. Correlation with `{s['target']}` on {s['cells']} NB-201 "
        f"cells stratified by accuracy ({s['distinct_networks']} distinct networks: isomorphic cells share "
        "their values); the other rows are the stored features on the same cells, where present.\n\n"
        "| score | cells | Spearman | Kendall |\n|---|---|---|---|\n" + rows +
        f"\nCost per cell: NNGP {s['nngp_seconds_per_cell']['mean']:.2f} s (median "
        f"{s['nngp_seconds_per_cell']['median']:.2f} s); one training epoch of the same cell on CIFAR-10 "
        f"(50,000 images, batch 64, SGD, timed over {ep['steps']} steps on {ep['cells_timed']} cells) "
        f"{ep['mean']:.0f} s (median {ep['median']:.0f} s): the NNGP score costs "
        f"{ratio['median']:.4f} of an epoch (median ratio; mean {ratio['mean']:.4f}).\n\n"
        "## What the score follows\n\n"
        f"Spearman of the NNGP score with the cell's number of conv edges {o['nngp_vs_conv']:.3f}, skip edges "
        f"{o['nngp_vs_skip']:.3f}, pooling edges {o['nngp_vs_pool']:.3f}; of the accuracy with conv edges "
        f"{o['accuracy_vs_conv']:.3f}. Within each conv-edge count (Spearman only where a count has 10 "
        "cells or more):\n\n"
        "| conv edges | cells | mean NNGP score | mean accuracy | Spearman NNGP vs accuracy |\n|---|---|---|---|---|\n"
        + strata
    )


if __name__ == "__main__":
    raise SystemExit(main())
