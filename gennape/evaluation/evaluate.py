"""Evaluation protocol: zero-shot and fine-tuned transfer, baselines on the same architectures,
and the tables (markdown + JSON) that report them.

Every row of a table is one (family, setting, method) with SRCC, Kendall tau, NDCG@10 and MAE,
and what the method outputs (``output``, :mod:`gennape.evaluation.footnotes`); fine-tuned rows are
mean and std over seeds, each seed drawing its own labelled sample and scoring every method
(baselines included) on the same remaining architectures. Score-only baselines (FLOPs, params,
proxies) have no MAE, nor has a score model on a task it was not trained on; on one it was, its
score is read off the task's label quantiles and has one. A line under each table says why a
cell shows "–".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch_geometric.data import Data

from gennape.inference.adapt import adapt_net
from gennape.evaluation.finetune_cache import FinetuneCache, entry_key, graphs_fingerprint, inputs_fingerprint
from gennape.evaluation.footnotes import footnotes
from gennape.model.corpus import normalise_labels
from gennape.model.dataset import Family
from gennape.model.metrics import RANKING_METRICS, get_metric, list_metrics, score
from gennape.model.pipeline import FinetuneConfig, predict
from gennape.model.predictor import GennapeNet
from gennape.model.size import SIZE_FEATURES, size_features, size_fit
from gennape.core.registry import Registry
from gennape.runtime.scales import score_to_accuracy

Baseline = Callable[[Sequence[Data]], np.ndarray]
_BASELINES: Registry[Baseline] = Registry("baseline")
register_baseline = _BASELINES.register  # decorator adding ``fn(graphs) -> scores`` (higher = better)
list_baselines = _BASELINES.names
FEATURE_PREFIX = "feature:"


def feature_scores(name: str, graphs: Sequence[Data]) -> np.ndarray:
    """One auxiliary feature as a score-only baseline (``feature:<name>``); a graph missing it
    ranks last. Needs graphs with features attached (``gennape.runtime.auxiliary``)."""
    out = []
    for g in graphs:
        names = list(getattr(g, "aux_names", ()))
        if name not in names:
            raise KeyError(f"baseline {FEATURE_PREFIX}{name}: the graphs carry no feature {name!r} ({names})")
        j = names.index(name)
        out.append(float(g.aux[0, j]) if bool(g.aux_mask[0, j]) else np.nan)
    scores = np.asarray(out)
    return np.where(np.isnan(scores), np.nanmin(scores) - 1.0 if np.isfinite(scores).any() else 0.0, scores)


def get_baseline(name: str) -> Baseline:
    """A registered baseline, or ``feature:<name>`` for a single auxiliary feature."""
    if name.startswith(FEATURE_PREFIX):
        return lambda graphs: feature_scores(name[len(FEATURE_PREFIX):], graphs)
    return _BASELINES.get(name)


register_baseline("flops")(lambda graphs: np.array([float(d.flops) for d in graphs]))
register_baseline("params")(lambda graphs: np.array([float(d.params) for d in graphs]))
register_baseline("weight_layers")(lambda graphs: size_features(graphs)[:, SIZE_FEATURES.index("weight_layers")])
register_baseline("depth")(lambda graphs: size_features(graphs)[:, SIZE_FEATURES.index("depth")])

# Baselines fitted on the fine-tuning labels: ``fn(train graphs, train labels, test graphs) -> predictions``
# (in the labels' unit, so they have an MAE), reported beside the fine-tuned models.
FittedBaseline = Callable[[Sequence[Data], np.ndarray, Sequence[Data]], np.ndarray]
_FITTED: Registry[FittedBaseline] = Registry("fitted baseline")
register_fitted_baseline = _FITTED.register
register_fitted_baseline("size_fit")(size_fit)


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random train / val / test positions of ``n`` items (sorted within each part)."""
    if not 0 <= val_fraction + test_fraction < 1:
        raise ValueError(f"val_fraction + test_fraction must be in [0, 1), got {val_fraction + test_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    return np.sort(perm[n_val + n_test:]), np.sort(perm[:n_val]), np.sort(perm[n_val:n_val + n_test])


# Not a quality metric: Spearman of a method's scores with FLOPs on the same architectures. Near 1
# means the method ranks like a FLOPs counter, whatever its accuracy metrics say.
FLOPS_AGREEMENT = "srcc_flops"
# What a method knows beyond compute: Spearman within each FLOPs quintile of the scored set, averaged.
WITHIN_FLOPS = "srcc_within_flops"


def within_flops_srcc(y: np.ndarray, pred: np.ndarray, flops: np.ndarray, bins: int = 5) -> float | None:
    """Mean Spearman of ``pred`` with ``y`` within each of ``bins`` FLOPs quantile bins (ties in
    FLOPs kept in one bin; bins with fewer than 3 architectures or one label skipped)."""
    order = np.argsort(flops, kind="stable")
    edges = np.quantile(flops, np.linspace(0, 1, bins + 1)[1:-1])
    which = np.searchsorted(edges, flops[order], side="right")
    vals = []
    for b in range(bins):
        idx = order[which == b]
        if len(idx) >= 3 and np.ptp(y[idx]) > 0 and np.ptp(pred[idx]) > 0:
            vals.append(score(y[idx], pred[idx], ("srcc",))["srcc"])
    return float(np.mean(vals)) if vals else None


def _columns() -> list[str]:
    return [*list_metrics(), FLOPS_AGREEMENT, WITHIN_FLOPS]


def calibrated(net: GennapeNet) -> bool:
    """Whether ``net`` predicts accuracies (trained or fine-tuned on published labels) rather than
    a score (trained on labels normalised within each task: ``net.labels``)."""
    return getattr(net, "labels", "raw") == "raw"


def _row(family: str, setting: str, method: str, runs: list[dict[str, float]], output: str) -> dict[str, Any]:
    """One table row: mean (and std over runs when there are several) of every metric, and what
    the method outputs (``output``: a kind of :data:`gennape.evaluation.footnotes.NO_MAE`)."""
    row: dict[str, Any] = {"family": family, "setting": setting, "method": method, "output": output,
                           "runs": len(runs)}
    for m in _columns():
        vals = [r[m] for r in runs if r.get(m) is not None]
        row[m] = float(np.mean(vals)) if vals else None
        if len(runs) > 1:
            row[m + "_std"] = float(np.std(vals)) if vals else None
    return row


def model_output(net: GennapeNet, quantiles: Sequence[float] | None) -> str:
    """What ``net`` outputs on a task (``quantiles``: the task's label quantiles, None for a task
    the net was not trained on): a footnotes output kind."""
    if calibrated(net):
        return "accuracy"
    return "score" if quantiles is None else "task accuracy"


def task_scale(net: GennapeNet, pred: np.ndarray, quantiles: Sequence[float] | None) -> tuple[np.ndarray, str]:
    """``net``'s predictions on the task's scale where there is one, and what they are: an
    ``accuracy``; a score read off the task's label ``quantiles`` (``task accuracy``); else the
    score itself, named by the labels' normalisation (``rank_gauss``, ``quantile``)."""
    if calibrated(net):
        return pred, "accuracy"
    if quantiles is None:
        return pred, net.labels
    return score_to_accuracy(pred, quantiles, net.labels), "task accuracy"


def _score_all(models: dict[str, GennapeNet], baselines: Sequence[str], graphs: Sequence[Data],
               y: np.ndarray, fitted: dict[str, np.ndarray] | None = None,
               quantiles: Sequence[float] | None = None) -> dict[str, dict[str, float]]:
    """Every model's, baseline's and ``fitted`` prediction's metrics on ``graphs`` (labels ``y``).
    A model that predicts a score, not an accuracy, has an MAE only given its task's label
    ``quantiles``: of its score read off them (its ranking metrics are of the score itself)."""
    flops = get_baseline("flops")(graphs)

    def scored(pred: np.ndarray, metrics: tuple[str, ...] | None = None) -> dict[str, float]:
        return score(y, pred, metrics) | {FLOPS_AGREEMENT: score(flops, pred, ("srcc",))["srcc"],
                                          WITHIN_FLOPS: within_flops_srcc(y, pred, flops)}

    def model_scores(net: GennapeNet) -> dict[str, float]:
        pred = predict(net, graphs)
        if calibrated(net):
            return scored(pred)
        out = scored(pred, RANKING_METRICS)  # of the score itself; the MAE on the task's scale
        values, kind = task_scale(net, pred, quantiles)
        if kind == "task accuracy":
            out["mae"] = get_metric("mae")(y, values)
        return out

    out = {name: model_scores(net) for name, net in models.items()}
    for b in baselines:
        out[b] = scored(get_baseline(b)(graphs), RANKING_METRICS)
    for name, pred in (fitted or {}).items():
        out[name] = scored(pred)
    return out


def zero_shot(models: dict[str, GennapeNet], family: Family, baselines: Sequence[str] = ("flops", "params"),
              setting: str = "zero-shot", quantiles: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Rows scoring every model and baseline on every architecture of ``family``; ``quantiles``:
    the label quantiles of its task where the models were trained on it (their scores then have
    an MAE on its scale), else None."""
    scores = _score_all(models, baselines, family.graphs, family.y, quantiles=quantiles)
    outputs = {name: model_output(net, quantiles) for name, net in models.items()}
    return [_row(family.key, setting, name, [s], outputs.get(name, "ranking")) for name, s in scores.items()]


def fine_tuned(models: dict[str, GennapeNet], family: Family, cfg: FinetuneConfig,
               baselines: Sequence[str] = ("flops", "params"), trainer_kwargs: dict[str, Any] | None = None,
               caches: dict[str, FinetuneCache] | None = None,
               fitted: Sequence[str] = ("size_fit",)) -> list[dict[str, Any]]:
    """Rows for ``cfg.seeds`` fine-tuning runs on ``cfg.samples`` random labelled architectures,
    each scored (with the baselines, and the ``fitted`` baselines trained on the same labels) on
    the family's remaining architectures.

    ``caches`` (per model name) keep each fine-tuned model's scores: a model whose scores for this
    family, setting and seed are stored is not fine-tuned again (see ``gennape.evaluation.finetune_cache``).
    """
    if cfg.samples >= len(family):
        raise ValueError(f"{family.key}: cannot fine-tune on {cfg.samples} of {len(family)} architectures")
    caches = caches or {}
    structure = graphs_fingerprint(family.graphs) if caches else None
    inputs_fp = {name: inputs_fingerprint(net, family.graphs, structure) for name, net in models.items() if name in caches}
    per_method: dict[str, list[dict[str, float]]] = {}
    for seed in range(cfg.seeds):
        perm = np.random.default_rng(1000 + seed).permutation(len(family))
        tune, rest = family.subset(np.sort(perm[:cfg.samples])), family.subset(np.sort(perm[cfg.samples:]))
        fits = {f: _FITTED.get(f)(tune.graphs, tune.y, rest.graphs) for f in fitted}
        scores = _score_all({}, baselines, rest.graphs, rest.y, fits)
        for name, net in models.items():
            cache = caches.get(name)
            key = entry_key(inputs_fp[name], cfg, trainer_kwargs, seed) if cache is not None else ""
            stored = cache.get(key) if cache is not None else None
            if stored is None:
                tuned = adapt_net(net, tune.graphs, tune.y, cfg, seed, trainer_kwargs)  # predict.py --labels' path
                stored = _score_all({name: tuned}, (), rest.graphs, rest.y)[name]
                if cache is not None:
                    cache.put(key, stored, f"{family.key}, fine-tuned ({cfg.samples}), seed {seed}")
            scores[name] = stored
        for name in [*models, *fits, *baselines]:  # models first, as in every other table
            per_method.setdefault(name, []).append(scores[name])
    # fine-tuned models predict accuracies (adapt_net refits them on the labels), as do fitted baselines
    outputs = {name: "accuracy" for name in [*models, *fitted]}
    return [_row(family.key, f"fine-tuned ({cfg.samples})", name, runs, outputs.get(name, "ranking"))
            for name, runs in per_method.items()]


def uncertainty_check(net: GennapeNet, family: Family) -> dict[str, Any]:
    """Does the uncertainty (head spread) flag the large errors? On every architecture of
    ``family``: Spearman of uncertainty with |error|, and the MAE of the most and least certain
    quarters of the predictions.
    """
    res = predict(net, family.graphs, details=True)
    # A score model's errors are measured against the labels normalised as it was trained.
    y = family.y if calibrated(net) else normalise_labels(family.y, net.labels)
    err, unc = np.abs(res["accuracy"] - y), res["uncertainty"]
    u = np.clip(res["memberships"], 1e-12, 1.0)
    entropy = -(u * np.log(u)).sum(1)
    order = np.argsort(unc)
    q = max(1, len(order) // 4)

    def rho(x: np.ndarray) -> float | None:
        return score(err, x, ("srcc",))["srcc"] if np.ptp(x) > 0 else None

    return {"family": family.key, "n": len(order), "srcc_uncertainty_abs_error": rho(unc),
            "srcc_entropy_abs_error": rho(entropy),
            "mae_most_certain_quarter": float(err[order[:q]].mean()),
            "mae_least_certain_quarter": float(err[order[-q:]].mean()),
            "mean_uncertainty": float(unc.mean())}


def aggregate_seeds(tables: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Merge the same rows of several seeds' tables into mean (and std) rows."""
    groups: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    outputs: dict[tuple[str, str, str], str] = {}
    for table in tables:
        for r in table:
            key = (r["family"], r["setting"], r["method"])
            groups.setdefault(key, []).append({m: r.get(m) for m in _columns()})
            outputs[key] = r["output"]
    return [_row(*key, runs, outputs[key]) for key, runs in groups.items()]


def _fmt(row: dict[str, Any], metric: str) -> str:
    v = row.get(metric)
    if v is None:
        return "–"
    std = row.get(metric + "_std")
    digits = 2 if metric == "mae" else 3
    return f"{v:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


# metric -> column header, in the tables' order
COLUMNS = {"srcc": "SRCC", "kendall": "Kendall τ", "ndcg10": "NDCG@10", "mae": "MAE",
           WITHIN_FLOPS: "SRCC in FLOPs quintiles", FLOPS_AGREEMENT: "ρ(FLOPs)"}


def markdown_tables(rows: list[dict[str, Any]]) -> str:
    """One markdown table per family (rows grouped by setting), a line under it for each reason a
    cell shows "–". SRCC in FLOPs quintiles: what a method ranks right among networks of like
    compute. ρ(FLOPs): Spearman of the method's scores with FLOPs, a diagnostic, not a quality metric."""
    header = ("| setting | method | " + " | ".join(COLUMNS.values()) + " |\n"
              "|---|---|" + "---|" * len(COLUMNS))
    parts = []
    for fam in dict.fromkeys(r["family"] for r in rows):
        lines = [f"### {fam}", "", header]
        table = [r for r in rows if r["family"] == fam]
        for r in table:
            lines.append(f"| {r['setting']} | {r['method']} | " + " | ".join(_fmt(r, m) for m in COLUMNS) + " |")
        for note in footnotes(table, COLUMNS):
            lines += ["", note]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def save_results(rows: list[dict[str, Any]], out_dir: str | Path, extra: dict[str, Any] | None = None,
                 name: str = "results") -> tuple[Path, Path]:
    """Write ``<name>.md`` and ``<name>.json`` (rows plus ``extra`` info such as timings)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{name}.md", out / f"{name}.json"
    md.write_text(markdown_tables(rows))
    js.write_text(json.dumps({"rows": rows, **(extra or {})}, indent=2, default=float))
    return md, js
