"""Leave-one-family-out: the folds, their summary and the targets they are held to.

``python train.py experiment=lofo`` trains, for every family F, on every task of the other
families, and scores every task of F zero-shot and fine-tuned with K labels of F's default task
(each fold is a ``train.py`` run in ``<run>/<F>/``, resumed or skipped once finished). This module
turns the folds' rows into one table per held-out family (each metric averaged over F's tasks)
and checks the targets of the product: above FLOPs, params and weight-layer count zero-shot, and
above a least-squares size fit with 50 labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gennape.model.corpus import family_of

SIZE_BASELINES = ("flops", "params", "weight_layers")
ZERO_SHOT = "zero-shot"


def fold_rows(rows: Sequence[dict[str, Any]], family: str, setting: str, method: str) -> list[dict[str, Any]]:
    """The rows of ``family``'s tasks for one setting and method."""
    return [r for r in rows if family_of(r["family"]) == family and r["setting"] == setting and r["method"] == method]


def task_mean(rows: Sequence[dict[str, Any]], family: str, setting: str, method: str,
              metric: str = "srcc") -> float | None:
    """``metric`` of ``method`` averaged over ``family``'s tasks (None if no task has it)."""
    vals = [r[metric] for r in fold_rows(rows, family, setting, method) if r.get(metric) is not None]
    return float(np.mean(vals)) if vals else None


def summarise(rows: Sequence[dict[str, Any]], families: Sequence[str], model: str = "gennape") -> dict[str, Any]:
    """Per held-out family: zero-shot SRCC of the model and of the size baselines (over its tasks),
    the margin over the best of them, and per fine-tuning budget the model against the size fit."""
    out: dict[str, Any] = {}
    for fam in families:
        zs = {m: task_mean(rows, fam, ZERO_SHOT, m) for m in (model, *SIZE_BASELINES)}
        base = [v for m, v in zs.items() if m != model and v is not None]
        tuned = {}
        for s in sorted({r["setting"] for r in rows if family_of(r["family"]) == fam and r["setting"].startswith("fine-tuned")},
                        key=lambda s: int(s.split("(")[1].rstrip(")"))):
            tuned[s] = {m: task_mean(rows, fam, s, m) for m in (model, "size_fit")}
            tuned[s]["mae"] = {m: task_mean(rows, fam, s, m, "mae") for m in (model, "size_fit")}
        out[fam] = {"tasks": sorted({r["family"] for r in rows if family_of(r["family"]) == fam}),
                    "zero_shot": zs, "best_size_baseline": max(base) if base else None,
                    "margin": zs[model] - max(base) if zs[model] is not None and base else None,
                    "single_features": single_features(rows, fam, model),
                    "fine_tuned": tuned}
    return out


def _subset_or_full(rows: Sequence[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """A task's zero-shot rows on the architectures that have every stored feature (its
    ``zero-shot, N with features`` rows, where a feature is stored for part of it), else all."""
    part = [r for r in rows if r["family"] == task and r["setting"].startswith(ZERO_SHOT + ", ")
            and r["setting"].endswith("with features")]
    return part or [r for r in rows if r["family"] == task and r["setting"] == ZERO_SHOT]


def single_features(rows: Sequence[dict[str, Any]], family: str, model: str = "gennape") -> dict[str, Any]:
    """The model against every single feature (``feature:*`` rows: each proxy, NNGP) on ``family``
    zero-shot, on the same architectures: per task, the part that has every stored feature where
    one is stored for part of the task, else all of it; averaged over the tasks where the feature
    ranks anything (a feature not stored for a task scores every network alike there and is left
    out of that task's mean). Returns the model's mean, each feature's and the best."""
    tasks = sorted({r["family"] for r in rows if family_of(r["family"]) == family})
    per: dict[str, list[float]] = {}
    ours: list[float] = []
    for t in tasks:
        rs = _subset_or_full(rows, t)
        g = next((r for r in rs if r["method"] == model), None)
        if g is None:
            continue
        ours.append(g["srcc"])
        for r in rs:
            if r["method"].startswith("feature:") and r.get("srcc") not in (None, 0.0):
                per.setdefault(r["method"].removeprefix("feature:"), []).append(r["srcc"])
    means = {f: float(np.mean(v)) for f, v in per.items()}
    best = max(means, key=means.get) if means else None
    return {"model": float(np.mean(ours)) if ours else None, "features": means, "best": best,
            "best_srcc": means.get(best) if best else None}


def targets(summary: dict[str, Any], model: str = "gennape") -> list[tuple[str, bool | None]]:
    """The issue's targets on a summary: each a sentence with the numbers and whether it is met."""
    margins = {f: s["margin"] for f, s in summary.items() if s["margin"] is not None}
    beats = [f for f, m in margins.items() if m > 0]
    out = [(f"zero-shot above FLOPs, params and weight layers on {len(beats)} of {len(margins)} held-out families "
            f"({', '.join(beats) or 'none'}; target 5 of 6)", len(beats) >= 5 if len(margins) == 6 else None)]
    if margins:
        mean_model = np.mean([summary[f]["zero_shot"][model] for f in margins])
        mean_best = np.mean([summary[f]["best_size_baseline"] for f in margins])
        out.append((f"mean zero-shot SRCC {mean_model:.3f} against the mean best size baseline {mean_best:.3f} "
                    f"(margin {mean_model - mean_best:+.3f}; target +0.05)", bool(mean_model - mean_best >= 0.05)))
    single = {f: s["single_features"] for f, s in summary.items() if s.get("single_features", {}).get("best")}
    above = [f for f, v in single.items() if v["model"] >= v["best_srcc"]]
    if single:
        out.append((f"zero-shot at or above the best single proxy or NNGP on {len(above)} of {len(single)} held-out "
                    f"families ({', '.join(above) or 'none'}; target 4 of 6)",
                    len(above) >= 4 if len(single) == 6 else None))
    for fam, bar in (("nb101", 0.75), ("nb301", 0.60)):
        if fam in summary and summary[fam]["zero_shot"][model] is not None:
            v = summary[fam]["zero_shot"][model]
            out.append((f"{fam} zero-shot SRCC {v:.3f} (target {bar})", bool(v >= bar)))
    for fam, s in summary.items():
        t50 = s["fine_tuned"].get("fine-tuned (50)")
        if t50 and t50[model] is not None and t50["size_fit"] is not None:
            out.append((f"{fam} fine-tuned (50) SRCC {t50[model]:.3f} against the size fit {t50['size_fit']:.3f}",
                        bool(t50[model] > t50["size_fit"])))
    return out


def markdown(summary: dict[str, Any], model: str = "gennape") -> str:
    """The summary table and the targets, as markdown."""
    budgets = sorted({s for f in summary.values() for s in f["fine_tuned"]}, key=lambda s: int(s.split("(")[1].rstrip(")")))

    def f3(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    head = ["held-out family", "tasks", model, *SIZE_BASELINES, "margin",
            *[f"{b.split('(')[1].rstrip(')')} labels: {model} / size fit" for b in budgets]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for fam, s in summary.items():
        cells = [fam, str(len(s["tasks"])), f3(s["zero_shot"][model]), *[f3(s["zero_shot"][m]) for m in SIZE_BASELINES],
                 "–" if s["margin"] is None else f"{s['margin']:+.3f}"]
        for b in budgets:
            t = s["fine_tuned"].get(b)
            cells.append(f"{f3(t[model])} / {f3(t['size_fit'])}" if t else "–")
        lines.append("| " + " | ".join(cells) + " |")
    if any(s.get("single_features", {}).get("best") for s in summary.values()):
        lines += ["", "Against each single feature (proxies, NNGP) on the same architectures (per task, the part "
                  "with every stored feature where one is stored for part of it):", "",
                  f"| held-out family | {model} | best single feature | its SRCC |", "|---|---|---|---|"]
        for fam, s in summary.items():
            sf = s.get("single_features", {})
            if sf.get("best"):
                lines.append(f"| {fam} | {f3(sf['model'])} | {sf['best']} | {f3(sf['best_srcc'])} |")
    lines += ["", *[f"- {'met' if ok else 'missed' if ok is False else 'not checked'}: {text}"
                    for text, ok in targets(summary, model)]]
    return "\n".join(lines) + "\n"


def uncertainty_markdown(items: Sequence[dict[str, Any]]) -> str:
    """Does the head spread flag the large errors on each held-out task? (``uncertainty_check``
    rows: the model's zero-shot errors against its own normalised labels.)"""
    if not items:
        return ""

    def f(v: float | None, d: int = 3) -> str:
        return "–" if v is None else f"{v:.{d}f}"

    lines = ["| held-out task | Spearman(spread, abs. error) | abs. error, most / least certain quarter |",
             "|---|---|---|"]
    for u in items:
        lines.append(f"| {u['family']} | {f(u['srcc_uncertainty_abs_error'])} | "
                     f"{f(u['mae_most_certain_quarter'], 2)} / {f(u['mae_least_certain_quarter'], 2)} |")
    return "\n".join(lines) + "\n"
