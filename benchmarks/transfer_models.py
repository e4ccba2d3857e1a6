"""Which model transfers to a family it never saw? Nested leave-one-family-out selection over
feature rankers (linear, sign-consistent non-negative, equal-weight, LightGBM LambdaRank) on size,
zero-cost proxies, NNGP and graph statistics, and blends of a FLOPs prior with the GNN of each
LOFO fold. Every candidate's held-out SRCC and margin over the best single feature, per family,
and the candidate each outer fold chose on its training families alone.

    python benchmarks/transfer_models.py   # -> docs/transfer_models.{json,md} (about 25 minutes on 2 cores)
    python benchmarks/transfer_models.py --reuse   # the GNN rows again (new inner folds), in a minute

Needs the graph caches and feature stores (``data/``), and for the GNN rows the fold
checkpoints of ``python train.py experiment=lofo`` in ``outputs/lofo_select`` (inner folds, for
nesting the GNN blends: ``bash scripts/nested_gnn.sh`` -> ``outputs/nested_gnn``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from gennape.graph.stats import GRAPH_STATS
from gennape.evaluation.nested import Candidate, family_report, fold_gnn, nested_lofo, predict
from gennape.evaluation.transfer_table import corpus_frame

FAMILIES = ["nb201", "nb101", "nb301", "transnas_macro", "transnas_micro", "zoo"]
KEYS = ["nb201/*", "nb101", "nb301", "transnas_macro/*", "transnas_micro/*", "zoo"]
SIZE = ("log_flops", "log_params", "weight_layers", "depth")
PROXIES = ("synflow", "nwot", "jacov", "snip", "grad_norm", "zen", "nngp")
STATS = tuple(s for s in GRAPH_STATS if s not in SIZE)

FEATURE_CANDIDATES = [
    Candidate("flops", "linear", ("log_flops",)),
    Candidate("linear: size", "linear", SIZE),
    Candidate("linear: size + proxies", "linear", SIZE + PROXIES),
    Candidate("linear: size + graph stats", "linear", SIZE + STATS),
    Candidate("linear: all", "linear", SIZE + PROXIES + STATS),
    Candidate("sign-consistent nnls: size", "nnls", SIZE),
    Candidate("sign-consistent nnls: size + proxies", "nnls", SIZE + PROXIES),
    Candidate("sign-consistent nnls: all", "nnls", SIZE + PROXIES + STATS),
    Candidate("sign-consistent equal: flops + nwot", "nnls", ("log_flops", "nwot"), (("equal", True),)),
    Candidate("sign-consistent equal: all", "nnls", SIZE + PROXIES + STATS, (("equal", True),)),
    Candidate("lgbm lambdarank: size + proxies", "lgbm", SIZE + PROXIES),
    Candidate("lgbm lambdarank: all", "lgbm", SIZE + PROXIES + STATS),
]
GNN_CANDIDATES = [Candidate("gnn")] + [Candidate(f"flops + {w} gnn", "linear", ("log_flops",), gnn=w)
                                       for w in (0.1, 0.25, 0.5, 1.0)]


def _inner_gnn(frame: pd.DataFrame, gnn_dir: str, nested_dir: str) -> list[dict]:
    """The GNN rows on the inner folds whose checkpoints exist (trained without F and G)."""
    fam = frame["family"].to_numpy()
    gnn = fold_gnn(gnn_dir, nested_dir)
    rows = []
    for ckpt in sorted(Path(nested_dir).glob("*/*/model.ckpt")):
        F, G = ckpt.parent.parent.name, ckpt.parent.name
        train, test = frame[(fam != F) & (fam != G)], frame[fam == G]
        for c in GNN_CANDIDATES:
            r = family_report(test, predict(c, train, test, F, G, gnn))
            rows.append({"outer": F, "inner": G, "candidate": c.name, "srcc": r["srcc"], "margin": r["margin"],
                         "margin_against": r["margin_against"]})
    return rows


def _nested_with_gnn(nested: dict, inner_gnn: list[dict], every: dict) -> dict:
    """For each outer family whose five inner GNN folds exist: the choice among the feature and
    GNN candidates by worst inner margin (the feature candidates' inner margins from the nested run)."""
    out = {}
    for F, info in nested.items():
        rows = [r for r in inner_gnn if r["outer"] == F]
        inner_fams = {r["inner"] for r in rows}
        if len(inner_fams) < len(FAMILIES) - 1:
            continue
        worst = dict(info["inner_worst_margin"])
        for c in GNN_CANDIDATES:
            worst[c.name] = min(r["margin"] for r in rows if r["candidate"] == c.name)
        choice = max(worst, key=worst.get)
        out[F] = {"choice": choice, "inner_worst_margin": worst, "srcc": every[F][choice]["srcc"],
                  "margin": every[F][choice]["margin"]}
    return out


SHORT = {"nb201": "NB-201", "nb101": "NB-101", "nb301": "NB-301", "transnas_macro": "TransNAS macro",
         "transnas_micro": "TransNAS micro", "zoo": "zoo"}


def markdown(d: dict) -> str:
    """The tables of docs/transfer_models.md from the JSON."""
    F = d["families"]
    lines = ["<!-- written by python benchmarks/transfer_models.py; do not edit -->", "",
             "Zero-shot SRCC on each held-out family (mean over its tasks) and, in brackets, the margin over",
             "*every* single feature on the networks that have it (the smallest margin; the target is +0.02).", "",
             "| candidate | " + " | ".join(SHORT[f] for f in F) + " | worst margin | mean SRCC |",
             "|---|" + "---|" * (len(F) + 2)]
    for n in d["worst_margin"]:
        lines.append(f"| {n} | " + " | ".join(f"{d['every'][f][n]['srcc']:.3f} ({d['every'][f][n]['margin']:+.3f})"
                                                for f in F) + f" | {d['worst_margin'][n]:+.3f} | {d['mean_srcc'][n]:.3f} |")
    lines += ["", "Nested selection: each outer fold's choice among the feature candidates, by the worst margin",
              "of its inner folds (the other five families, one held out at a time):", "",
              "| held-out | best single feature | nested choice | SRCC | margin (against) |", "|---|---|---|---|---|"]
    for f in F:
        e, n = d["every"][f]["flops"], d["nested"][f]
        lines.append(f"| {SHORT[f]} | {e['best_single']} {e['best_single_srcc']:.3f} | {n['choice']} | {n['srcc']:.3f} | "
                     f"{n['margin']:+.3f} ({n['margin_against']}) |")
    if d.get("inner_gnn"):
        lines += ["", "GNN candidates on the inner folds computed so far (the GNN trained without both families):", "",
                  "| outer | inner | candidate | SRCC | margin (against) |", "|---|---|---|---|---|"]
        for r in d["inner_gnn"]:
            lines.append(f"| {SHORT[r['outer']]} | {SHORT[r['inner']]} | {r['candidate']} | {r['srcc']:.3f} | "
                         f"{r['margin']:+.3f} ({r['margin_against']}) |")
    for f, n in d.get("nested_with_gnn", {}).items():
        lines += ["", f"Held-out {SHORT[f]}, every inner GNN fold present: nested choice among all candidates "
                      f"**{n['choice']}** (SRCC {n['srcc']:.3f}, margin {n['margin']:+.3f}); inner worst margins: "
                      + ", ".join(f"{k} {v:+.3f}" for k, v in n["inner_worst_margin"].items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="outputs/transfer/table.pkl", help="the corpus table (built if absent)")
    ap.add_argument("--gnn", default="outputs/lofo_select", help="LOFO run with fold checkpoints (or '')")
    ap.add_argument("--nested-gnn", default="outputs/nested_gnn", help="inner fold checkpoints")
    ap.add_argument("--out", default="docs/transfer_models.json")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the feature candidates' results of --out (their code unchanged); recompute the GNN rows")
    args = ap.parse_args()

    table = Path(args.table)
    if table.is_file():
        frame = pd.read_pickle(table)
    else:
        frame = corpus_frame(KEYS)
        table.parent.mkdir(parents=True, exist_ok=True)
        frame.to_pickle(table)
    if args.reuse:
        old = json.loads(Path(args.out).read_text())
        nested = old["nested"]
        every = {F: {c.name: old["every"][F][c.name] | {"singles": old["singles"][F]} for c in FEATURE_CANDIDATES}
                 for F in FAMILIES}
    else:
        res = nested_lofo(frame, FEATURE_CANDIDATES, FAMILIES)
        every = {F: dict(res.every[F]) for F in FAMILIES}
        nested = {F: {"choice": res.outer[F]["choice"], "srcc": res.outer[F]["srcc"], "margin": res.outer[F]["margin"],
                      "margin_against": res.outer[F]["margin_against"],
                      "inner_worst_margin": {n: float(min(m)) for n, m in res.inner[F].items()}}
                  for F in FAMILIES}
    gnn_ok = args.gnn and all((Path(args.gnn) / F / "model.ckpt").is_file() for F in FAMILIES)
    inner_gnn = []
    if gnn_ok:
        gnn = fold_gnn(args.gnn, args.nested_gnn)
        fam = frame["family"].to_numpy()
        for F in FAMILIES:
            train, test = frame[fam != F], frame[fam == F]
            for c in GNN_CANDIDATES:
                every[F][c.name] = family_report(test, predict(c, train, test, F, None, gnn))
        inner_gnn = _inner_gnn(frame, args.gnn, args.nested_gnn)
    names = [c.name for c in FEATURE_CANDIDATES] + ([c.name for c in GNN_CANDIDATES] if gnn_ok else [])
    worst = {n: min(every[F][n]["margin"] for F in FAMILIES) for n in names}
    out = {
        "families": FAMILIES,
        "nested": nested,
        "nested_with_gnn": _nested_with_gnn(nested, inner_gnn, every),
        "every": {F: {n: {k: every[F][n][k] for k in ("srcc", "margin", "margin_against", "best_single",
                                                      "best_single_srcc")} for n in names} for F in FAMILIES},
        "singles": {F: every[F]["flops"]["singles"] for F in FAMILIES},
        "worst_margin": worst,
        "mean_srcc": {n: float(np.mean([every[F][n]["srcc"] for F in FAMILIES])) for n in names},
        "gnn_rows": "outer folds of " + args.gnn if gnn_ok else "not computed (no fold checkpoints)",
        "inner_gnn": inner_gnn,
    }
    Path(args.out).write_text(json.dumps(out, indent=1, default=float))
    Path(args.out).with_suffix(".md").write_text(markdown(json.loads(Path(args.out).read_text())))
    print(f"wrote {args.out} and its .md")
    for n in names:
        print(f"{n:40s} " + " ".join(f"{every[F][n]['srcc']:.3f}({every[F][n]['margin']:+.2f})" for F in FAMILIES)
              + f"  worst {worst[n]:+.3f}")


if __name__ == "__main__":
    main()
