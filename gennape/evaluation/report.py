"""Write ``docs/results.md`` from the run folders of the shipped experiments, and check targets.

    python -m gennape.evaluation.report transfer=outputs/A paper=outputs/B ablation=outputs/C \
        [--speed docs/predict_speed.json] [--out docs/results.md]

Each ``name=RUN_DIR`` is a ``train.py`` run folder; its ``results.json`` and command are copied to
``docs/runs/<name>/`` so the page can be rebuilt (``python -m gennape.evaluation.report --from-docs``)
without the original outputs. Numbers are never typed in: every one comes from these files. The page
is compact (:mod:`gennape.evaluation.report_runs`): the shipped configuration first, the other
leave-one-family-out runs next, the superseded single-family studies last; every row of a run
stays in its ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gennape.evaluation import report_benchmarks as bench
from gennape.evaluation.compare import run_overrides
from gennape.evaluation.lofo import targets as lofo_targets
from gennape.evaluation.report_runs import (compact_table, features_read, lofo_summary_table, lofo_timing_line,
                                            timing_line, uncertainty_table)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# In the page's order: the shipped configuration, the other leave-one-family-out runs, the superseded ones.
TITLES: dict[str, str] = {
    "corpus": "The shipped predictor: every task of the corpus (`python train.py`), in-family test splits",
    "lofo_select": "Leave one family out, the shipped configuration (`experiment=lofo`: features per network, "
                   "the sign-consistent ones of each fold): train on every task of five families, score the sixth",
    "lofo": "Leave one family out, before per-network features (FLOPs and params as quantiles within the scored "
            "set; the fold models were trained by the same command with `eval.fine_tune.seeds=0`, then loaded "
            "and evaluated again: the time below is the evaluation's)",
    "lofo_features": "Leave one family out with every feature of the corpus config (`model.aux_select=null`)",
    "lofo_gnn_alone": "Leave one family out with the GNN alone (no FLOPs or params quantiles beside it)",
    "transfer": "Train on NB-201, transfer to NB-101 and NB-301 (`experiment=nb201_transfer`)",
    "paper": "Train on NB-101 (500 cells), transfer to all 15,625 NB-201 cells (`experiment=nb101_to_nb201`; "
             "variants: with the FLOPs division, with a fitted power of it, without features)",
    "paper_seeds": "NB-101 → NB-201 zero-shot over several training seeds (the paper direction's spread)",
    "paper_seeds_finetuned": "NB-101 → NB-201 zero-shot and fine-tuned over 3 training seeds × 5 draws of 50 "
                             "labels (GENNAPE alone)",
    "features": "Auxiliary features: GENNAPE alone, with FLOPs and params, + proxies (synflow, l2_norm; "
                "and nwot), + NNGP, + both (`experiment=features`)",
    "ablation": "Ablation (the paper's Table 3, plus features): each part on the same splits, mean ± std over seeds",
    "transfer_choices": "Which target transform and features transfer from NB-201 (`experiment=transfer_choices`: "
                        "2,000-cell subset, 3 seeds, zero-shot)",
}
# The single-family studies the leave-one-family-out runs replaced, in the order the page lists them.
SUPERSEDED = ("transfer", "paper", "paper_seeds", "paper_seeds_finetuned", "features", "ablation", "transfer_choices")


def _row(rows: list[dict[str, Any]], family: str, setting: str, method: str) -> dict[str, Any] | None:
    # "fine-tuned" matches "fine-tuned (50)"; "zero-shot" does not match "zero-shot, 3000 with features"
    return next((r for r in rows if r["family"] == family
                 and (r["setting"] == setting or r["setting"].startswith(setting + " ("))
                 and r["method"] == method), None)


def _single_feature(row: dict[str, Any]) -> bool:
    """A row scoring one feature alone (FLOPs and params count as features, as in the proxy registry)."""
    return row["method"].startswith("feature:") or row["method"] in ("flops", "params")


def _check_min(run: str, family: str, setting: str, bar: float) -> Callable[[dict[str, dict]], tuple[str, bool | None]]:
    def check(runs: dict[str, dict]) -> tuple[str, bool | None]:
        r = _row(runs[run]["rows"], family, setting, "gennape") if run in runs else None
        if r is None:
            return f"{run}: no {family} {setting} row", None
        return f"{family} {setting} SRCC {r['srcc']:.3f} (bar {bar})", r["srcc"] >= bar
    return check


def _check_beats(run: str, family: str) -> Callable[[dict[str, dict]], tuple[str, bool | None]]:
    def check(runs: dict[str, dict]) -> tuple[str, bool | None]:
        rows = runs[run]["rows"] if run in runs else []
        g, f, p = (_row(rows, family, "zero-shot", m) for m in ("gennape", "flops", "params"))
        if None in (g, f, p):
            return f"{run}: no {family} zero-shot rows", None
        return (f"{family} zero-shot SRCC {g['srcc']:.3f} vs FLOPs {f['srcc']:.3f}, params {p['srcc']:.3f}",
                g["srcc"] > max(f["srcc"], p["srcc"]))
    return check


def _check_beats_features(run: str, family: str, method: str = "gennape") -> Callable[[dict[str, dict]], tuple[str, bool | None]]:
    """``method`` of ``run`` against every single feature any run scored on ``family`` zero-shot (those
    rows score every architecture of the family, so they are the same in every run that has them)."""
    def check(runs: dict[str, dict]) -> tuple[str, bool | None]:
        g = _row(runs[run]["rows"], family, "zero-shot", method) if run in runs else None
        single = [(name, r) for name, data in runs.items() for r in data["rows"]
                  if r["family"] == family and r["setting"] == "zero-shot"
                  and _single_feature(r)]
        if g is None or not single:
            return f"{run}: no {family} zero-shot rows with features", None
        where, best = max(single, key=lambda nr: nr[1]["srcc"])
        return (f"{family} zero-shot SRCC {g['srcc']:.3f} ({method}) vs best single feature {best['method']} "
                f"{best['srcc']:.3f} ({where} run)", g["srcc"] > best["srcc"])
    return check


def _check_beats_features_on_part(run: str, family: str) -> Callable[[dict[str, dict]], tuple[str, bool | None]]:
    """GENNAPE of ``run`` against every single feature on the part of ``family`` that has them all
    (its ``zero-shot, N with features`` rows: the same architectures for every method)."""
    def check(runs: dict[str, dict]) -> tuple[str, bool | None]:
        rows = [r for r in (runs[run]["rows"] if run in runs else [])
                if r["family"] == family and r["setting"].startswith("zero-shot, ") and r["setting"].endswith("with features")]
        g = next((r for r in rows if r["method"] == "gennape"), None)
        single = [r for r in rows if _single_feature(r)]
        if g is None or not single:
            return f"{run}: no {family} zero-shot rows on the part with features", None
        best = max(single, key=lambda r: r["srcc"])
        return (f"{family} {g['setting']}: SRCC {g['srcc']:.3f} vs best single feature {best['method']} "
                f"{best['srcc']:.3f} (of {len(single)})", g["srcc"] > best["srcc"])
    return check


TARGETS: dict[str, Callable[[dict[str, dict]], tuple[str, bool | None]]] = {
    "NB-101 → NB-201 zero-shot ≥ 0.80": _check_min("paper", "nb201", "zero-shot", 0.80),
    "NB-101 → NB-201 zero-shot ≥ 0.80, mean over training seeds": _check_min("paper_seeds", "nb201", "zero-shot", 0.80),
    "NB-101 → NB-201 fine-tuned (50) ≥ 0.90": _check_min("paper", "nb201", "fine-tuned", 0.90),
    "NB-101 → NB-201 fine-tuned (50) ≥ 0.90, mean over training seeds":
        _check_min("paper_seeds_finetuned", "nb201", "fine-tuned", 0.90),
    "NB-101 → NB-201 zero-shot above every single feature, on the cells that have them all":
        _check_beats_features_on_part("paper_seeds_finetuned", "nb201"),
    "NB-201 → NB-101 zero-shot above FLOPs and params": _check_beats("transfer", "nb101"),
    "NB-201 → NB-301 zero-shot above FLOPs and params": _check_beats("transfer", "nb301"),
    "with features, NB-201 → NB-101 zero-shot above every single feature": _check_beats_features("features", "nb101"),
    "with features, NB-201 → NB-301 zero-shot above every single feature": _check_beats_features("features", "nb301"),
    "full model (proxies + NNGP), NB-201 → NB-101 zero-shot above every single feature":
        _check_beats_features("features", "nb101", "gennape+both"),
    "full model (proxies + NNGP), NB-201 → NB-301 zero-shot above every single feature":
        _check_beats_features("features", "nb301", "gennape+both"),
}


def collect(name: str, run_dir: Path) -> Path:
    """Copy a run's results and command into ``docs/runs/<name>/``."""
    src = run_dir / "results.json"
    if not src.is_file():
        raise FileNotFoundError(f"{run_dir}: no results.json (not a finished train.py run)")
    dst = DOCS / "runs" / name
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst / "results.json")
    overrides = run_overrides(src)
    if overrides is None:
        raise FileNotFoundError(f"{run_dir}: no .hydra/overrides.yaml, so its command is unknown")
    (dst / "command.txt").write_text(" ".join(["python train.py", *overrides]) + "\n")
    for png in run_dir.glob("*.png"):
        shutil.copy(png, dst / png.name)
    if (run_dir / "lofo.json").is_file():  # a leave-one-family-out run: its summary too
        shutil.copy(run_dir / "lofo.json", dst / "lofo.json")
    return dst


def _lofo_summary(name: str) -> dict[str, Any] | None:
    path = DOCS / "runs" / name / "lofo.json"
    return json.loads(path.read_text())["summary"] if path.is_file() else None


def _lofo_targets(name: str) -> list[tuple[str, bool | None]]:
    summary = _lofo_summary(name)
    return lofo_targets(summary) if summary is not None else []


INTRO = (
    "Generated by `python -m gennape.evaluation.report --from-docs` from the run folders in `docs/runs/` (each has "
    "the `command.txt` that produced it) and the benchmarks' JSON files in `docs/`; no number is typed in. "
    "SRCC = Spearman, NDCG@10 on the true top-10, MAE in accuracy points (score-only baselines have none). "
    "ρ(FLOPs) is a diagnostic, not a quality metric: the Spearman of the method's scores with FLOPs on the same "
    "architectures (near 1: it ranks like a FLOPs counter). Each run has one table: per task and setting "
    "(zero-shot; fine-tuned at the largest label budget, mean ± std over the draws of labels, each draw scoring "
    "every method on the rest; in-family test), a row per model the run trained, and beside the first the SRCC "
    "of the least-squares size fit on the same labels (where the run has one), of FLOPs, params and weight "
    "layers, and of the best other single feature (a stored proxy, NNGP or depth) on the same architectures. "
    "`zero-shot, N with features` scores every method again on the N architectures that have every feature "
    "stored for part of the family. The smaller label budgets, every single feature and the SRCC within FLOPs "
    "quintiles stay in each run's `results.json`: `python -m gennape.evaluation.compare docs/runs/<name> "
    "--metric srcc` prints them. Wall times are on 2 CPU cores, with other runs beside them.")


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


def targets_table(runs: dict[str, dict[str, Any]]) -> list[str]:
    """The targets, each with what was measured and whether it is met: the page's summary."""
    out = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    out += [f"| {name} | {text} | {_verdict(ok)} |" for name, (text, ok) in
            ((name, check(runs)) for name, check in TARGETS.items())]
    return out + [f"| leave-one-family-out ({name}) | {text} | {_verdict(ok)} |"
                  for name in runs for text, ok in _lofo_targets(name)]


def _command(name: str) -> tuple[str, list[str]]:
    """A run's command (the first line of its ``command.txt``) and the notes (``#`` lines) after it."""
    lines = [line.strip() for line in (DOCS / "runs" / name / "command.txt").read_text().splitlines() if line.strip()]
    return lines[0], [line.lstrip("# ") for line in lines[1:] if line.startswith("#")]


def _plots(name: str) -> list[str]:
    """One line linking the run's plots, if it has any."""
    pngs = sorted((DOCS / "runs" / name).glob("*.png"))
    return ["", "Plots: " + ", ".join(f"[{p.stem}](runs/{name}/{p.name})" for p in pngs) + "."] if pngs else []


def run_section(name: str, data: dict[str, Any], level: int = 2, uncertainty: bool = True) -> list[str]:
    """A run: title, command and timing on one line, its summary where it has one, its compact table,
    and (``uncertainty``) how its head spread follows the error."""
    cmd, notes = _command(name)
    summary = _lofo_summary(name)
    info = data.get("info", {})
    timing = timing_line(info) if summary is None else lofo_timing_line(info)
    out = ["", f"{'#' * level} {TITLES.get(name, name)}", "", f"`{cmd}` — {timing}."]
    out += ["", *(f"Note: {n}." for n in notes)] if notes else []
    out += ["", reads] if (reads := features_read(data)) else []
    if summary is not None:
        out += ["", "Per held-out family, mean over its tasks: zero-shot SRCC against the size baselines and the best "
                "single proxy or NNGP (on the architectures that have them all; the model's SRCC there in "
                "brackets); margin = over the best size baseline; then the fine-tuned model against the size fit "
                "on the same labels (the family's default task, mean over the draws).", "",
                *lofo_summary_table(summary), "", f"Per task (`docs/runs/{name}/lofo.json` has every budget):"]
    out += ["", *compact_table(data["rows"])]
    out += ["", *unc] if uncertainty and (unc := uncertainty_table(data.get("uncertainty", []))) else []
    return out + _plots(name)


def benchmark_sections(speed: Path) -> list[str]:
    """The sections written from the benchmarks' JSON files (each '' when not run)."""
    parts = [bench.flops_factor(DOCS / "flops_factor.json"), bench.finetune_settings(DOCS / "finetune_settings.json"),
             bench.second_source(DOCS / "second_source.json"), bench.compute_prior(DOCS / "compute_prior.json"),
             bench.speed(speed), bench.cli_speed(DOCS / "cli_speed.json"), bench.adapt_speed(DOCS / "adapt_speed.json")]
    return [line for part in parts if part for line in ("", part)]


def render(runs: dict[str, dict[str, Any]], speed: Path) -> str:
    """The markdown page: targets, the current runs, the superseded ones, the benchmarks."""
    out = ["# Results", "", INTRO, "", *targets_table(runs)]
    for name in (n for n in runs if n not in SUPERSEDED):
        out += run_section(name, runs[name])
    if earlier := [n for n in runs if n in SUPERSEDED]:
        out += ["", "## Earlier runs (superseded)", "",
                "Single-family studies made before the corpus and the leave-one-family-out protocol; "
                "docs/guide.md and docs/transfer.md still quote them (their uncertainty tables are in their "
                "`results.json`)."]
        for name in earlier:
            out += run_section(name, runs[name], level=3, uncertainty=False)
    return "\n".join(out + benchmark_sections(speed)).rstrip() + "\n"


def run_names() -> list[str]:
    """The runs in ``docs/runs/``, in the page's order (``TITLES``), then any other by name."""
    found = {p.name for p in (DOCS / "runs").glob("*") if p.is_dir()} if (DOCS / "runs").is_dir() else set()
    return [n for n in TITLES if n in found] + sorted(found - set(TITLES))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gennape.evaluation.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="name=RUN_DIR (names: transfer, paper, ablation, or any)")
    ap.add_argument("--from-docs", action="store_true", help="rebuild from docs/runs/ only")
    ap.add_argument("--speed", type=Path, default=DOCS / "predict_speed.json")
    ap.add_argument("--out", type=Path, default=DOCS / "results.md")
    args = ap.parse_args(argv)
    for item in args.runs:
        name, sep, path = item.partition("=")
        if not sep:
            ap.error(f"{item!r}: expected name=RUN_DIR")
        collect(name, Path(path))
    runs = {n: json.loads((DOCS / "runs" / n / "results.json").read_text()) for n in run_names()}
    args.out.write_text(render(runs, args.speed))
    print(f"wrote {args.out} ({len(runs)} runs)")
    for name, check in TARGETS.items():
        text, ok = check(runs)
        print(f"{'–' if ok is None else ('met' if ok else 'NOT met')}: {name}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
