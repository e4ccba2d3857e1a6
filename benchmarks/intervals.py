"""Does the printed interval cover what it claims, on families the predictor never saw?

- Zero-shot: the shipped configuration's score (FLOPs prior + 0.1 x GNN) of each held-out family,
  against the normal quantile of each network's accuracy within its task; the 80 % quantile of
  the absolute error on the other five held-out families (split conformal, never the family
  itself) is the interval. Its coverage shows whether a zero-shot interval can be printed.
- After 50 labels: each LOFO fold checkpoint (never trained on the family) adapted to 50 labelled
  networks as ``predict.py --labels --interval`` does: fine-tuned on 40, the interval calibrated on
  the other 10, which fine-tuning never sees (``gennape.runtime.interval``), then checked on every
  other network. Two alternatives beside it: every label fine-tuned on (``--labels`` without
  ``--interval``: its SRCC) with an interval calibrated on the fifth early stopping held out, and
  an interval calibrated across the other held-out families in units of the labels' spread.

Per family: coverage, median width beside the median absolute error, Spearman(width, |error|),
and the adapted model's SRCC on the networks not labelled.

    python benchmarks/intervals.py          # -> docs/intervals.json (about 25 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

FAMILIES = ["nb201", "nb101", "nb301", "transnas_macro", "transnas_micro", "zoo"]
LEVEL = 0.8


def _summary(err: np.ndarray, half: np.ndarray) -> dict[str, float | None]:
    varies = np.ptp(half) > 0
    return {"coverage": float(np.mean(err <= half)), "median_width": float(np.median(2 * half)),
            "median_abs_error": float(np.median(err)),
            "srcc_width_abs_error": float(spearmanr(half, err)[0]) if varies else None, "n": int(len(err))}


def zero_shot(table: str, gnn_dir: str) -> dict[str, dict]:
    from gennape.evaluation.nested import Candidate, fold_gnn, predict
    from gennape.model.rankers import rank_gauss

    frame = pd.read_pickle(table)
    fam = frame["family"].to_numpy()
    shipped = Candidate("flops + 0.1 gnn", "linear", ("log_flops",), gnn=0.1)
    err = {}
    for F in FAMILIES:
        train, test = frame[fam != F], frame[fam == F]
        s = predict(shipped, train, test, F, None, fold_gnn(gnn_dir, ""))
        z = np.empty(len(test))
        for idx in test.groupby("task").indices.values():
            z[idx] = rank_gauss(test["y"].to_numpy()[idx])
        err[F] = np.abs(s - z)
    out = {}
    for F in FAMILIES:
        q = float(np.quantile(np.concatenate([err[G] for G in FAMILIES if G != F]), LEVEL))
        out[F] = _summary(err[F], np.full(len(err[F]), q))
    return out


class _Runs:
    """Errors, half-widths and SRCCs of one way of adapting, over seeds."""

    def __init__(self) -> None:
        self.err: list[np.ndarray] = []
        self.half: list[np.ndarray] = []
        self.srcc: list[float] = []

    def add(self, pred: np.ndarray, y: np.ndarray, half: np.ndarray) -> None:
        self.err.append(np.abs(pred - y))
        self.half.append(half)
        self.srcc.append(float(spearmanr(pred, y)[0]))

    def summary(self) -> dict:
        return _summary(np.concatenate(self.err), np.concatenate(self.half)) | {"srcc": float(np.mean(self.srcc))}


def adapted(gnn_dir: str, labels: int, seeds: int) -> dict[str, dict]:
    import torch

    from gennape.inference.adapt import DEFAULT_FINETUNE, adapt, adapt_net
    from gennape.model.checkpoint import load_checkpoint
    from gennape.model.corpus import load_task
    from gennape.model.pipeline import split_labels
    from gennape.model.prediction import predict
    from gennape.runtime.auxiliary import attach_features
    from gennape.runtime.interval import Interval, calibrate

    torch.set_num_threads(1)
    out, pooled = {}, {}
    for F in FAMILIES:
        fam = load_task(F)
        shipped, replaced, spreads = _Runs(), _Runs(), []
        for seed in range(seeds):
            ckpt = load_checkpoint(Path(gnn_dir) / F / "model.ckpt")
            if ckpt.aux_features:
                attach_features(fam.graphs, fam.variant, ckpt.aux_features, ckpt.aux_scaling, require_store=False)
            perm = np.random.default_rng(1000 + seed).permutation(len(fam))  # the LOFO protocol's draws
            tune, rest = perm[:labels], perm[labels:]
            rest_graphs = [fam.graphs[i] for i in rest]
            tuned = adapt(ckpt, [fam.graphs[i] for i in tune], fam.y[tune], seed=seed, interval=True)  # --labels --interval
            res = predict(tuned.net, rest_graphs, details=True)
            shipped.add(res["accuracy"], fam.y[rest], Interval.from_meta(tuned.meta["interval"]).half_width(res["uncertainty"]))
            spreads.append(np.full(len(rest), np.std(fam.y[tune])))
            # The design it replaced: every label fine-tuned on, the interval calibrated on the
            # fifth early stopping held out (which picks the epoch that fits them best).
            whole = adapt_net(ckpt.net, [fam.graphs[i] for i in tune], fam.y[tune], seed=seed)
            _, val = split_labels(list(range(labels)), DEFAULT_FINETUNE, seed)
            v = predict(whole, [fam.graphs[tune[i]] for i in val], details=True)
            w = predict(whole, rest_graphs, details=True)
            replaced.add(w["accuracy"], fam.y[rest],
                         calibrate(fam.y[tune[val]], v["accuracy"], v["uncertainty"]).half_width(w["uncertainty"]))
            print(f"{F} seed {seed}: coverage {np.mean(shipped.err[-1] <= shipped.half[-1]):.2f}", flush=True)
        out[F] = shipped.summary() | {"labels": labels, "seeds": seeds, "calibration_labels": labels // 5,
                                      "early_stopping_fifth": replaced.summary()}
        pooled[F] = (np.concatenate(shipped.err), np.concatenate(spreads))
    # Calibrated on the other families' adapted errors in units of the labels' spread
    # (leave-one-family-out, never the family itself): half-width = q x std(labels).
    for F in FAMILIES:
        q = float(np.quantile(np.concatenate([e / s for G, (e, s) in pooled.items() if G != F]), LEVEL))
        e, s = pooled[F]
        out[F]["lofo_label_spread"] = _summary(e, q * s) | {"q": q}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="outputs/transfer/table.pkl", help="benchmarks/transfer_models.py's table")
    ap.add_argument("--gnn", default="outputs/lofo_select", help="LOFO run with fold checkpoints")
    ap.add_argument("--labels", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="docs/intervals.json")
    args = ap.parse_args()
    res = {"level": LEVEL, "zero_shot": zero_shot(args.table, args.gnn),
           "adapted": adapted(args.gnn, args.labels, args.seeds)}
    Path(args.out).write_text(json.dumps(res, indent=1))
    for setting in ("zero_shot", "adapted"):
        for F, r in res[setting].items():
            extra = [("  lofo", r["lofo_label_spread"]), ("  es-fifth", r["early_stopping_fifth"])] \
                if "lofo_label_spread" in r else []
            for name, x in [(setting, r), *extra]:
                print(f"{name:9s} {F:15s} coverage {x['coverage']:.2f}  width {x['median_width']:.2f}  "
                      f"|err| {x['median_abs_error']:.2f}  srcc(width,|err|) {x['srcc_width_abs_error']}"
                      + (f"  SRCC {x['srcc']:.3f}" if "srcc" in x else ""))


if __name__ == "__main__":
    main()
