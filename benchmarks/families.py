"""The corpus at a glance: every (family, task), its networks, its labels, and the baselines.

For each registered task (``gennape.data.tasks``) with a search space or a graph cache, one row:
labelled architectures, distinct graphs, the canonical ops present, FLOPs, params and label
ranges, the seed-to-seed noise of the label where the benchmark publishes seeds, and the Spearman
correlation with the label of FLOPs, params, the weight-layer count (Conv, DepthwiseConv, Linear
nodes) and every zero-cost proxy stored for that task's networks (``data/features/<variant>.sqlite``),
each on the architectures that have it (the count is given when it is not all of them). These are
the baselines every predictor is held against.

Graphs come from the graph caches (``data/cache``; built here when missing, in parallel, resumable).
NB-201 is reported on the 3,000 cells stratified by accuracy decile that its feature tables hold
(``--nb201-limit``), the other families on every architecture.

    python benchmarks/families.py [--workers 2]     # writes docs/families.md and docs/families.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gennape.data.loaders import list_families, load_family, resolve_task
from gennape.data.tasks import list_tasks
from gennape.features.store import FeatureStore, default_path
from gennape.graph.ops import list_ops
from gennape.model.corpus import task_table
from gennape.model.dataset import encode_specs
from gennape.model.size import WEIGHT_OPS
from gennape.model.metrics import srcc
from gennape.data.families import FAMILY_SPACES, graph_variant

REPO = Path(__file__).resolve().parents[1]
NB201_SEED_COLUMNS = {"nb201/cifar10": "cifar10", "nb201/cifar100": "cifar100", "nb201/imagenet16": "imagenet"}


def nb201_seed_noise() -> dict[str, dict[str, float]]:
    """Spearman and Kendall between two training seeds of NB-201 (200 epochs), per task, over the
    cells trained with at least two seeds (from the pinned ``metric_vals.pkl``)."""
    from scipy.stats import kendalltau

    from gennape.data.derive import load_pickle, nb201_arch_groups
    from gennape.data.loaders import DEFAULT_DATA_DIR
    from gennape.core.paths import data_root
    from gennape.data.sources import UPSTREAM

    rel = UPSTREAM["nb201_metric_vals"].relpath
    path = next((b / rel for b in (data_root(), DEFAULT_DATA_DIR) if (b / rel).is_file()), None)
    if path is None:
        return {}
    vals = load_pickle(path)
    out = {}
    for task, key in NB201_SEED_COLUMNS.items():
        group = nb201_arch_groups(vals[key]["runtime"], vals[key]["size_in_mb"])
        frame = pd.DataFrame({"g": group, "acc": 100 - np.asarray(vals[key]["loss"])})
        frame["seed"] = frame.groupby("g").cumcount()
        wide = frame.pivot(index="g", columns="seed", values="acc")[[0, 1]].dropna()
        out[task] = {"cells": len(wide), "srcc": srcc(wide[0], wide[1]),
                     "kendall": float(kendalltau(wide[0], wide[1]).statistic)}
    return out


def task_rows(family: str, task: str, nb201_limit: int) -> pd.DataFrame:
    """The labelled architectures of ``task`` the report covers (the corpus's: NB-201's stratified
    cells, the zoo's built architectures)."""
    return task_table(family, task, nb201_limit or None)[["spec", resolve_task(family, task).target]]


def proxies_of(family: str, task: str, specs: list[str]) -> pd.DataFrame:
    """Wide table spec -> stored feature values for the task's networks (empty when no store)."""
    path = default_path(graph_variant(family, task))
    if not path.is_file():
        return pd.DataFrame({"spec": specs})
    with FeatureStore(path) as store:
        keys = pd.DataFrame([(k, h) for k, (h, _) in store.archs(specs).items() if h], columns=["spec", "hash"])
        wide = store.rows().pivot_table(index="hash", columns="feature", values="value", aggfunc="first")
    return pd.DataFrame({"spec": specs}).merge(keys.merge(wide, left_on="hash", right_index=True, how="left"),
                                               on="spec", how="left")


def summarise(family: str, task: str, workers: int, nb201_limit: int, noise: dict) -> tuple[dict, dict]:
    """One report row and the Spearman of every baseline for ``family/task``."""
    t = resolve_task(family, task)
    rows = task_rows(family, task, nb201_limit)
    start = time.perf_counter()
    recs = encode_specs(family, rows["spec"].tolist(), workers=workers, task=task)
    build_s = time.perf_counter() - start
    vocab = list_ops()
    weight_ids = [vocab.index(o) for o in WEIGHT_OPS if o in vocab]
    ops = sorted({vocab[i] for r in recs for i in r["op"].unique().tolist()} - {"Input", "Output"})
    y = rows[t.target].to_numpy(float)
    base = {
        "flops": np.array([r["flops"] for r in recs]),
        "params": np.array([r["params"] for r in recs]),
        "weight_layers": np.array([int(np.isin(r["op"].numpy(), weight_ids).sum()) for r in recs], float),
    }
    stored = proxies_of(family, task, rows["spec"].tolist())
    for name in sorted(set(stored.columns) - {"spec", "hash", "flops", "params"}):
        base[name] = stored[name].to_numpy(float)
    corr = {}
    for name, x in base.items():
        ok = np.isfinite(x)
        if ok.sum() > 2:
            corr[name] = {"srcc": srcc(y[ok], x[ok]), "n": int(ok.sum())}
    row = {
        "task": t.name, "metric": t.metric, "archs": len(rows),
        "of": len(load_family(family, task=task).drop_duplicates("spec")),
        "graphs": len({r["hash"] for r in recs}), "ops": ops,
        "flops_g": [float(base["flops"].min() / 1e9), float(base["flops"].max() / 1e9)],
        "params_m": [float(base["params"].min() / 1e6), float(base["params"].max() / 1e6)],
        "label": [float(y.min()), float(y.max())], "seed_noise": noise.get(t.name),
        "graph_seconds": round(build_s, 1),
    }
    return row, corr


def _fmt_corr(c: dict | None, archs: int) -> str:
    if c is None:
        return "–"
    return f"{c['srcc']:.3f}" + ("" if c["n"] == archs else f" ({c['n']})")


def markdown(rows: list[dict], corrs: list[dict]) -> str:
    """The two tables of docs/families.md: what each task is, and its baselines."""
    out = ["| task | label | archs | graphs | GFLOPs | params (M) | label range | seed noise (SRCC) | ops |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        noise = f"{r['seed_noise']['srcc']:.3f} ({r['seed_noise']['cells']} cells)" if r["seed_noise"] else "not published"
        archs = str(r["archs"]) + ("" if r["archs"] == r["of"] or r["task"].startswith("nb201/") else f" of {r['of']}")
        out.append(f"| {r['task']} | {r['metric']} | {archs} | {r['graphs']} | "
                   f"{r['flops_g'][0]:.3g}–{r['flops_g'][1]:.3g} | {r['params_m'][0]:.3g}–{r['params_m'][1]:.3g} | "
                   f"{r['label'][0]:.2f}–{r['label'][1]:.2f} | {noise} | {', '.join(r['ops'])} |")
    names = ["flops", "params", "weight_layers"]
    names += sorted({n for c in corrs for n in c} - set(names))
    out += ["", "Spearman of each baseline with the label (the number of architectures in brackets where "
            "the store holds it for only part of the task; – where it holds none):", "",
            "| task | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for r, c in zip(rows, corrs):
        out.append(f"| {r['task']} | " + " | ".join(_fmt_corr(c.get(n), r["archs"]) for n in names) + " |")
    out += ["", "How the shipped predictor ranks each family when it was left out of training, against the "
            "best of these baselines on the same networks: docs/transfer.md and docs/transfer_models.md "
            "(`python benchmarks/transfer_models.py`); in-family, docs/results.md (`docs/runs/corpus`)."]
    return "\n".join(out) + "\n"


def reportable_tasks() -> list[tuple[str, str]]:
    """(family, task) pairs whose networks can be had: a search space, or the zoo's graph cache."""
    return [(n.split("/")[0], n) for n in list_tasks() if n.split("/")[0] in FAMILY_SPACES
            and n.split("/")[0] in list_families()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", help="tasks to report (default: every task with networks)")
    ap.add_argument("--workers", type=int, default=2, help="processes building missing graphs")
    ap.add_argument("--nb201-limit", type=int, default=3000, help="NB-201 cells (stratified); 0 = all")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "families.md")
    args = ap.parse_args(argv)
    todo = reportable_tasks()
    if args.tasks:
        known = {n for _, n in todo}
        bad = [n for n in args.tasks if n not in known]
        if bad:
            print(f"error: unknown task(s) {bad}; known: {', '.join(sorted(known))}", file=sys.stderr)
            return 2
        todo = [(f, n) for f, n in todo if n in args.tasks]
    noise = nb201_seed_noise()
    rows, corrs = [], []
    for family, task in todo:
        print(f"{task} ...", file=sys.stderr, flush=True)
        row, corr = summarise(family, task, args.workers, args.nb201_limit, noise)
        rows.append(row)
        corrs.append(corr)
    cmd = "python benchmarks/families.py" + (" " + " ".join(argv) if argv else "")
    text = ("# Families and tasks of the corpus\n\nProduced by `" + cmd + "` (see its docstring). "
            "NB-201 rows cover the 3,000 cells stratified by CIFAR-10 accuracy decile that its feature "
            "tables hold; every other row covers every labelled architecture. GFLOPs are 2 x MACs at "
            "batch 1 at the task's resolution; params are counted on the BatchNorm-folded graph. "
            "Seed noise: Spearman between two training seeds, where the benchmark publishes them.\n\n"
            + markdown(rows, corrs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(
        [r | {"baselines": c} for r, c in zip(rows, corrs)], indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
