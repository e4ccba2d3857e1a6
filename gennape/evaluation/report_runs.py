"""The compact tables of one run for ``docs/results.md``: models against the size baselines.

A run's ``results.json`` holds every setting × method × metric; the page keeps, per task and
setting (zero-shot, the largest fine-tuning budget, in-family test), a row per model the run
trained, and beside it the SRCC of the size fit, the size baselines and the best other single
feature. Every number comes from the run's files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gennape.evaluation.evaluate import FEATURE_PREFIX, list_baselines
from gennape.evaluation.lofo import SIZE_BASELINES

SIZE_FIT = "size_fit"
FINE_TUNED = "fine-tuned"
ROW_METRICS = ("srcc", "kendall", "ndcg10", "mae", "srcc_flops")
ROW_HEADS = ("SRCC", "Kendall τ", "NDCG@10", "MAE", "ρ(FLOPs)")
SIZE_HEADS = ("FLOPs", "params", "weight layers")

Row = dict[str, Any]


def is_model(method: str) -> bool:
    """A method the run trained (GENNAPE, its variants, the k-GNN), not a baseline or a fit."""
    return not (method.startswith(FEATURE_PREFIX) or method in list_baselines() or method == SIZE_FIT)


def is_single_feature(method: str) -> bool:
    """A score-only baseline other than the size ones: a stored proxy, NNGP, depth."""
    return method.startswith(FEATURE_PREFIX) or (method in list_baselines() and method not in SIZE_BASELINES)


def budget(setting: str) -> int | None:
    """The label count of a ``fine-tuned (N)`` setting, else None."""
    if not setting.startswith(FINE_TUNED + " ("):
        return None
    return int(setting.split("(")[1].rstrip(")"))


def kept_settings(rows: list[Row], task: str) -> list[str]:
    """A task's settings on the page: all but the fine-tuned budgets below its largest."""
    settings = list(dict.fromkeys(r["setting"] for r in rows if r["family"] == task))
    budgets = [b for s in settings if (b := budget(s)) is not None]
    return [s for s in settings if budget(s) is None or budget(s) == max(budgets)]


def fmt(row: Row | None, metric: str = "srcc") -> str:
    """A metric with its std over seeds or draws where there is one; – where there is none."""
    v = None if row is None else row.get(metric)
    if v is None:
        return "–"
    digits = 2 if metric == "mae" else 3
    std = row.get(metric + "_std")
    return f"{v:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def best_single_feature(group: Iterable[Row]) -> str:
    """The best single feature of a task and setting, named, with its SRCC."""
    best = max((r for r in group if is_single_feature(r["method"])), key=lambda r: r["srcc"], default=None)
    return "–" if best is None else f"{best['method'].removeprefix(FEATURE_PREFIX)} {fmt(best)}"


def baseline_cells(group: list[Row], with_fit: bool) -> list[str]:
    """SRCC of the size fit (where the run has one), FLOPs, params, weight layers and the best single
    feature, on one task and setting."""
    by = {r["method"]: r for r in group}
    return [fmt(by.get(m)) for m in ((SIZE_FIT,) if with_fit else ()) + SIZE_BASELINES] + [best_single_feature(group)]


def group_lines(task: str, setting: str, group: list[Row], with_fit: bool) -> list[str]:
    """The table rows of one task and setting: one per model, the baselines beside the first."""
    models = [r for r in group if is_model(r["method"])]
    cells = baseline_cells(group, with_fit)
    if not models:
        return [table_row([task, setting, "–", *("–" for _ in ROW_METRICS), *cells])]
    return [table_row([task, setting, r["method"], *(fmt(r, m) for m in ROW_METRICS),
                       *(cells if i == 0 else ["" for _ in cells])]) for i, r in enumerate(models)]


def table_row(cells: Iterable[str]) -> str:
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


def compact_table(rows: list[Row]) -> list[str]:
    """The run's one table: per task and kept setting, a row per model with the baselines beside."""
    with_fit = any(r["method"] == SIZE_FIT for r in rows)
    head = ["task", "setting", "method", *ROW_HEADS, *(("size fit",) if with_fit else ()), *SIZE_HEADS,
            "best single feature"]
    out = [table_row(head), "|" + "---|" * len(head)]
    for task in dict.fromkeys(r["family"] for r in rows):
        for setting in kept_settings(rows, task):
            group = [r for r in rows if r["family"] == task and r["setting"] == setting]
            out += group_lines(task, setting, group, with_fit)
    return out


def lofo_summary_table(summary: dict[str, Any], model: str = "gennape") -> list[str]:
    """Per held-out family (mean over its tasks): zero-shot against the size baselines and the best
    single feature, and at the largest label budget the fine-tuned model against the size fit."""
    budgets = sorted({s for f in summary.values() for s in f["fine_tuned"]}, key=lambda s: budget(s) or 0)
    top = budgets[-1] if budgets else None
    head = ["held-out family", "tasks", f"{model} zero-shot", *SIZE_HEADS, "margin",
            "best single feature (the model on its architectures)"]
    head += [f"{budget(top)} labels: {model} / size fit (MAE)"] if top else []
    out = [table_row(head), "|" + "---|" * len(head)]
    for fam, s in summary.items():
        cells = [fam, str(len(s["tasks"])), _f3(s["zero_shot"].get(model)),
                 *(_f3(s["zero_shot"].get(m)) for m in SIZE_BASELINES),
                 "–" if s["margin"] is None else f"{s['margin']:+.3f}", _single_cell(s.get("single_features", {}))]
        out.append(table_row(cells + ([_tuned_cell(s["fine_tuned"].get(top), model)] if top else [])))
    return out


def _f3(v: float | None) -> str:
    """Three decimals, or – for a missing value."""
    return "–" if v is None else f"{v:.3f}"


def _single_cell(single: dict[str, Any]) -> str:
    """``best feature SRCC (the model's SRCC on the same architectures)``, or – where not stored."""
    return f"{single['best']} {_f3(single['best_srcc'])} ({_f3(single['model'])})" if single.get("best") else "–"


def _tuned_cell(tuned: dict[str, Any] | None, model: str) -> str:
    """``model / size fit (MAE model / MAE fit)`` at one budget."""
    if not tuned:
        return "–"
    mae = tuned.get("mae", {})
    return (f"{_f3(tuned.get(model))} / {_f3(tuned.get(SIZE_FIT))} "
            f"({_f2(mae.get(model))} / {_f2(mae.get(SIZE_FIT))})")


def _f2(v: float | None) -> str:
    """Two decimals (accuracy points), or – for a missing value."""
    return "–" if v is None else f"{v:.2f}"


def uncertainty_table(items: list[dict[str, Any]]) -> list[str]:
    """The zero-shot head spread (and membership entropy) against the absolute error, per task."""
    if not items:
        return []
    out = ["Zero-shot uncertainty against the error: the spread of the fuzzy heads (it scales the interval of "
           "`predict.py --labels ... --interval`) and the entropy of the memberships:", "",
           "| task | architectures | Spearman(spread, abs. error) | Spearman(entropy, abs. error) | "
           "MAE, 25% lowest spread | MAE, 25% highest spread |", "|---|---|---|---|---|---|"]
    return out + [table_row([u["family"], str(u["n"]), _f3(u["srcc_uncertainty_abs_error"]),
                             _f3(u.get("srcc_entropy_abs_error")), f"{u['mae_most_certain_quarter']:.2f}",
                             f"{u['mae_least_certain_quarter']:.2f}"]) for u in items]


def features_read(data: dict[str, Any]) -> str:
    """Which features each model of the run reads (from its config; a variant without its own list
    reads the main model's), fewest first; '' where every model reads the same."""
    cfg = data.get("config", {})
    model = cfg.get("model", {})
    main = model.get("aux_features") or []
    reads = {model.get("name", "gennape"): main}
    reads |= {n: v.get("aux_features", main) or [] for n, v in (cfg.get("eval", {}).get("variants") or {}).items()}
    ran = {r["method"] for r in data["rows"]}
    reads = {m: v for m, v in reads.items() if m in ran}
    if len({tuple(v) for v in reads.values()}) < 2:
        return ""
    fewest_first = sorted(reads.items(), key=lambda kv: len(kv[1]))
    return "Features each model reads: " + "; ".join(
        f"`{m}` {', '.join(v) or 'none (the GNN alone)'}" for m, v in fewest_first) + "."


def timing_line(info: dict[str, Any]) -> str:
    """One line: wall time, how it was evaluated, code, split sizes, seed 0's seconds per epoch."""
    sizes = (f"{info.get('train_size')} training / {info.get('val_size')} validation / "
             f"{info.get('test_size')} test architectures")
    return "; ".join([_wall(info), _code(info), sizes, *_epochs(info)])


def lofo_timing_line(info: dict[str, Any]) -> str:
    """One line for a leave-one-family-out run: its folds' wall time and code (``info`` per held-out family)."""
    folds = [i for i in info.values() if isinstance(i, dict)]
    secs = [i["total_seconds"] for i in folds if i.get("total_seconds")]
    codes = list(dict.fromkeys(i["code"] for i in folds if i.get("code")))
    wall = f"{len(secs)} folds, {sum(secs) / 60:.1f} min in all" if secs else "timing not recorded"
    return wall + (f"; code {', '.join(f'`{c}`' for c in codes)}" if codes else "")


def _wall(info: dict[str, Any]) -> str:
    """Wall time; for a run trained once and evaluated (or extended) again later, both and how."""
    total = info.get("total_seconds", 0) / 60
    first = info.get("first_total_seconds")
    if first is None:
        return f"{total:.1f} min"
    cmd = info.get("evaluated_with")  # the exact command of the last evaluation
    how = f"`{' '.join(cmd)}`" if cmd else "the same command with `ckpt_path=`"
    extended = info.get("extended_with")
    again = (f"extended with {', '.join(f'`{v}`' for v in extended)} by {how} (the other models loaded)"
             if extended else f"evaluated again from its saved stages by {how}")
    return f"{first / 60:.1f} min, then {again} in {total:.1f} min"


def _code(info: dict[str, Any]) -> str:
    """The commit of the code that evaluated the run (and of the one that trained it, if another)."""
    if not info.get("code"):
        return "code not recorded (a run made before runs recorded it)"
    trained = f" (its models trained by code `{info['first_code']}`)" if info.get("first_code") else ""
    return f"code `{info['code']}`{trained}"


def _epochs(info: dict[str, Any]) -> list[str]:
    """Seconds per epoch of each model's first seed (``<model>/seed0`` entries)."""
    out = []
    for key, v in info.items():
        if isinstance(v, dict) and v.get("regress_s_per_epoch") and key.split("/")[-1] in ("seed0", key):
            pre = v.get("pretrain_s_per_epoch")
            out.append(f"`{key}`: " + (f"pretraining {pre:.1f} s/epoch × {v['pretrain_epochs']}, " if pre else "")
                       + f"regression {v['regress_s_per_epoch']:.1f} s/epoch × {v['regress_epochs']}")
    return out
