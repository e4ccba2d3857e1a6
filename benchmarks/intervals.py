"""Does the printed interval cover what it claims, on families the predictor never saw?

- Zero-shot: the shipped configuration's score (FLOPs prior + 0.1 x GNN) of each held-out family,
  against the normal quantile of each network's accuracy within its task; the 80 % quantile of
  the absolute error on the other five held-out families (split conformal, never the family
  itself) is the interval. Its coverage shows whether a zero-shot interval can be printed.
- After 50 labels: each LOFO fold checkpoint (never trained on the family) adapted to 50 labelled
  networks as ``predict.py --labels`` does; the interval is calibrated on the fifth of the labels
  held out for early stopping (``gennape.runtime.interval``), then checked on every other network.
  Two alternatives beside it: calibrated on a fifth that fine-tuning never sees (fitted on the
  other 40), and calibrated across the other held-out families in units of the labels' spread.

Per family: coverage, median width beside the median absolute error, and Spearman(width, |error|).

    python benchmarks/intervals.py          # -> docs/intervals.json (about 10 minutes on 2 cores)
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


def adapted(gnn_dir: str, labels: int, seeds: int) -> dict[str, dict]:
    import torch

    from gennape.inference.adapt import adapt
    from gennape.model.checkpoint import load_checkpoint
    from gennape.model.corpus import load_task
    from gennape.model.prediction import predict
    from gennape.runtime.auxiliary import attach_features
    from gennape.runtime.interval import Interval, calibrate

    torch.set_num_threads(1)
    out, pooled = {}, {}
    for F in FAMILIES:
        fam = load_task(F)
        errs, halves, sds, sep_err, sep_half, srcc_all, srcc_sep = [], [], [], [], [], [], []
        for seed in range(seeds):
            ckpt = load_checkpoint(Path(gnn_dir) / F / "model.ckpt")
            if ckpt.aux_features:
                attach_features(fam.graphs, fam.variant, ckpt.aux_features, ckpt.aux_scaling, require_store=False)
            perm = np.random.default_rng(1000 + seed).permutation(len(fam))  # the LOFO protocol's draws
            tune, rest = perm[:labels], perm[labels:]
            tuned = adapt(ckpt, [fam.graphs[i] for i in tune], fam.y[tune], seed=seed)
            res = predict(tuned.net, [fam.graphs[i] for i in rest], details=True)
            interval = Interval.from_meta(tuned.meta["interval"])
            errs.append(np.abs(res["accuracy"] - fam.y[rest]))
            halves.append(interval.half_width(res["uncertainty"]))
            sds.append(np.full(len(rest), np.std(fam.y[tune])))
            # A calibration fifth that fine-tuning never sees (its early stopping picks the epoch
            # that fits its own held-out labels best, so their errors run small): fit on the rest.
            cut = np.random.default_rng(seed + 7).permutation(labels)
            cal, fit_on = tune[cut[:labels // 5]], tune[cut[labels // 5:]]
            sep = adapt(ckpt, [fam.graphs[i] for i in fit_on], fam.y[fit_on], seed=seed)
            c = predict(sep.net, [fam.graphs[i] for i in cal], details=True)
            sep_interval = calibrate(fam.y[cal], c["accuracy"], c["uncertainty"])
            r2 = predict(sep.net, [fam.graphs[i] for i in rest], details=True)
            sep_err.append(np.abs(r2["accuracy"] - fam.y[rest]))
            sep_half.append(sep_interval.half_width(r2["uncertainty"]))
            srcc_all.append(spearmanr(res["accuracy"], fam.y[rest])[0])
            srcc_sep.append(spearmanr(r2["accuracy"], fam.y[rest])[0])
            print(f"{F} seed {seed}: coverage {np.mean(errs[-1] <= halves[-1]):.2f}", flush=True)
        out[F] = _summary(np.concatenate(errs), np.concatenate(halves)) | {"labels": labels, "seeds": seeds,
                                                                            "srcc": float(np.mean(srcc_all))}
        out[F]["separate_calibration"] = _summary(np.concatenate(sep_err), np.concatenate(sep_half)) | {
            "srcc": float(np.mean(srcc_sep)), "calibration_labels": labels // 5}
        pooled[F] = (np.concatenate(errs), np.concatenate(sds))
    # The alternative: calibrated on the other families' adapted errors in units of the labels'
    # spread (leave-one-family-out, never the family itself): half-width = q x std(labels).
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
            extra = [("  lofo", r["lofo_label_spread"]), ("  separate", r["separate_calibration"])] \
                if "lofo_label_spread" in r else []
            for name, x in [(setting, r), *extra]:
                print(f"{name:9s} {F:15s} coverage {x['coverage']:.2f}  width {x['median_width']:.2f}  "
                      f"|err| {x['median_abs_error']:.2f}  srcc {x['srcc_width_abs_error']}")


if __name__ == "__main__":
    main()
