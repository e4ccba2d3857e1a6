"""Write ``docs/results.md`` from the run folders of the shipped experiments, and check targets.

    python -m gennape.evaluation.report transfer=outputs/A paper=outputs/B ablation=outputs/C \
        [--speed docs/predict_speed.json] [--out docs/results.md]

Each ``name=RUN_DIR`` is a ``train.py`` run folder; its ``results.json`` and command are copied to
``docs/runs/<name>/`` so the page can be rebuilt (``python -m gennape.evaluation.report --from-docs``)
without the original outputs. Numbers are never typed in: every one comes from these files.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gennape.evaluation.compare import run_overrides
from gennape.evaluation.evaluate import markdown_tables
from gennape.evaluation.lofo import markdown as lofo_markdown
from gennape.evaluation.lofo import targets as lofo_targets

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

TITLES: dict[str, str] = {
    "lofo": "Leave one family out (`experiment=lofo`, the shipped configuration): train on every task of five "
            "families, score the sixth (the fold models were trained by the same command with "
            "`eval.fine_tune.seeds=0`, then loaded and evaluated again: the time below is the evaluation's)",
    "corpus": "The shipped predictor: every task of the corpus (`python train.py`), in-family test splits",
    "lofo_gnn_alone": "Leave one family out with the GNN alone (no FLOPs or params quantiles beside it), "
                      "zero-shot and fine-tuned",
    "transfer": "Train on NB-201, transfer to NB-101 and NB-301 (`experiment=nb201_transfer`)",
    "paper": "Train on NB-101 (500 cells), transfer to all 15,625 NB-201 cells (`experiment=nb101_to_nb201`; "
             "variants: with the FLOPs division, with a fitted power of it, without features)",
    "paper_seeds": "NB-101 → NB-201 zero-shot over several training seeds (the paper direction's spread)",
    "paper_seeds_finetuned": "NB-101 → NB-201 zero-shot and fine-tuned over 3 training seeds × 5 draws of 50 "
                             "labels (GENNAPE alone)",
    "ablation": "Ablation (the paper's Table 3, plus features): each part on the same splits, mean ± std over seeds",
    "transfer_choices": "Which target transform and features transfer from NB-201 (`experiment=transfer_choices`: "
                        "2,000-cell subset, 3 seeds, zero-shot)",
    "features": "Auxiliary features: GENNAPE alone, with FLOPs and params, + proxies (synflow, l2_norm; "
                "and nwot), + NNGP, + both; every feature alone beside (`experiment=features`)",
}


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


def _lofo_timing(info: dict[str, Any]) -> str:
    """Wall time of a leave-one-family-out run: its folds' (``info`` per held-out family)."""
    secs = [i.get("total_seconds") for i in info.values() if isinstance(i, dict) and i.get("total_seconds")]
    return f"{len(secs)} folds, {sum(secs) / 60:.1f} min in all" if secs else "timing not recorded"


def _timing(info: dict[str, Any]) -> str:
    first = info.get("first_total_seconds")
    cmd = info.get("evaluated_with")  # the exact command of the last evaluation (runs since it was kept)
    how = f" by `{' '.join(cmd)}`" if cmd else None
    if info.get("extended_with"):
        again = (f"extended with {', '.join(f'`{v}`' for v in info['extended_with'])} from its saved stages"
                 f"{how or ' with `ckpt_path=`'} (the others loaded, every model evaluated again)")
    else:
        again = f"evaluated again from its saved stages{how or ' with the same command and `ckpt_path=`'}"
    if info.get("first_code"):
        again += f"; its models were trained by code `{info['first_code']}`"
    total = (f"total {first / 60:.1f} min wall time on 2 CPU cores (the shipped runs ran side by side, so each "
             f"alone is faster); {again} ({info['total_seconds'] / 60:.1f} min)" if first is not None else
             f"total {info.get('total_seconds', 0) / 60:.1f} min wall time on 2 CPU cores (the shipped runs ran "
             "side by side, so each alone is faster)")
    parts = [total, f"code `{info['code']}`" if info.get("code") else "code commit not recorded (run made before runs recorded it)",
             f"{info.get('train_size')} training / {info.get('val_size')} validation / "
             f"{info.get('test_size')} test architectures"]
    for key, v in info.items():
        if isinstance(v, dict) and v.get("regress_s_per_epoch"):
            pre = v.get("pretrain_s_per_epoch")
            parts.append(f"`{key}`: " + (f"pretraining {pre:.1f} s/epoch × {v['pretrain_epochs']}, " if pre else "")
                         + f"regression {v['regress_s_per_epoch']:.1f} s/epoch × {v['regress_epochs']}")
    return "; ".join(parts)


def _uncertainty(items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    lines = ["Uncertainty of the zero-shot predictions against their error: the spread of the fuzzy heads "
             "(what `predict.py` reports) and, for comparison, the entropy of the memberships:", "",
             "| family | architectures | Spearman(spread, abs. error) | Spearman(entropy, abs. error) | "
             "MAE, 25% lowest spread | MAE, 25% highest spread |", "|---|---|---|---|---|---|"]
    for u in items:
        lines.append(f"| {u['family']} | {u['n']} | {fmt(u['srcc_uncertainty_abs_error'])} | "
                     f"{fmt(u.get('srcc_entropy_abs_error'))} | {u['mae_most_certain_quarter']:.2f} | "
                     f"{u['mae_least_certain_quarter']:.2f} |")
    return "\n".join(lines)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A benchmark's JSON output, or None when that benchmark has not been run."""
    return json.loads(path.read_text()) if path.is_file() else None


def _speed(path: Path) -> str:
    if (s := _read_json(path)) is None:
        return ""
    t, r = s["nb201_throughput"], s["resnet50_onnx"]
    return "\n".join([
        "## Prediction speed", "", f"`python benchmarks/predict_speed.py` ({s['threads']} thread, "
        f"checkpoint `{s['checkpoint']}`):", "",
        f"- Scoring {t['graphs']:,} encoded NB-201 graphs with the numpy runtime prediction uses: {t['seconds']} s, "
        f"**{t['graphs_per_s']:,} graphs/s**"
        + (f" (the torch network on the same graphs: {t['torch_graphs_per_s']:,} graphs/s)." if "torch_graphs_per_s" in t
           else ".")
        + (f" Ranking them as `predict_files` does, each of the {t['ranking']['distinct']:,} distinct networks "
           f"(graph hashes) predicted once: {t['ranking']['seconds']} s, {t['ranking']['graphs_per_s']:,} graphs/s."
           if "ranking" in t else ""),
        f"- One ResNet-50 ONNX file ({r['file_mb']} MB): building its graph {r['cg_seconds']} s, graph + "
        f"prediction {r['predict_seconds']} s (**{r['ratio_to_cg']}× the graph alone**); the whole "
        f"`python predict.py resnet50.onnx` command, interpreter start and imports included: "
        f"{r['cli_wall_seconds']} s."])


def _adapt_speed(path: Path) -> str:
    if (d := _read_json(path)) is None:
        return ""
    rows = [[name, *(f"{d[key][m]:.3f}" for m in ("srcc", "kendall", "ndcg10")),
             f"{d[key]['mae']:.2f}" if "mae" in d[key] else "–"]
            for name, key in (("after --labels", "adapted"), ("zero-shot (same checkpoint)", "zero_shot"),
                              ("size fit on the same labels", "size_fit"), ("FLOPs", "flops"), ("params", "params"))]
    return "\n".join(_section(
        "The user's adaptation path (`predict.py --labels`)",
        f"`python benchmarks/adapt_speed.py --checkpoint {d['checkpoint']}`: {d['files']} NB-201 ONNX files, "
        f"{d['labels']} of them labelled with their CIFAR-10 accuracy; scored on the {d['unlabelled']} others. "
        + _adapt_timing(d),
        ["method", "SRCC", "Kendall τ", "NDCG@10", "MAE"], rows))


def _adapt_timing(d: dict) -> str:
    """The wall times (and, where measured, peak memory) of the runs of benchmarks/adapt_speed.py."""
    runs = d.get("with_labels")
    if not runs:  # a file written before the cold and warm runs were measured
        return (f"`predict.py --labels` took {d['predict_with_labels_wall_s']} s wall (interpreter, graphs, "
                f"fine-tuning, prediction), {d['predict_without_labels_wall_s']} s without labels.")
    cold, warm, zero = runs["cold"], runs["warm"], d["without_labels"]
    return (f"`predict.py --labels` (interpreter, graphs, features, fine-tuning, prediction) took "
            f"{cold['wall_s']} s wall and {cold['peak_rss_mb']:.0f} MB peak on its first run (an empty feature "
            f"cache), {warm['wall_s']} s and {warm['peak_rss_mb']:.0f} MB on the second; without labels "
            f"{zero['wall_s']} s and {zero['peak_rss_mb']:.0f} MB ({d['cpus']} CPUs, load average "
            f"{d['load_average_1min']} at the start).")


def _cli_speed(path: Path) -> str:
    if (d := _read_json(path)) is None:
        return ""
    f = d["folder"]
    return "\n".join([
        "## The command line's own speed", "", "`python benchmarks/cli_speed.py` (median wall, peak RSS):", "",
        f"- `predict.py --help` (imports alone): {d['import_help']['wall_seconds']} s, "
        f"{d['import_help']['peak_rss_mb']} MB.",
        f"- `predict.py resnet50.onnx` ({d['resnet50_file']['file_mb']} MB): {d['resnet50_file']['wall_seconds']} s, "
        f"{d['resnet50_file']['peak_rss_mb']} MB.",
        f"- `predict.py FOLDER` ({f['files']} files, {f['gb']} GB): {f['predict']['wall_seconds']} s, "
        f"{f['predict']['peak_rss_mb']} MB peak; building the same graphs alone {f['graphs_alone']['wall_seconds']} s "
        f"({f['wall_ratio_to_graphs_alone']}×)."])


def _section(title: str, intro: str, columns: list[str], rows: list[list[str]]) -> list[str]:
    """A ``##`` section: a sentence, then a table."""
    return [f"## {title}", "", intro, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(r) + " |" for r in rows)]


def _finetune_settings(path: Path) -> str:
    if (d := _read_json(path)) is None:
        return ""
    return "\n".join(_section(
        "Fine-tuning settings",
        f"`python benchmarks/finetune_settings.py` on `{d['checkpoint']}`: {d['samples']} labelled "
        "architectures per seed (the same draws as `train.py`), SRCC on the rest, mean ± std over "
        f"{d['rows'][0]['seeds'] if d['rows'] else 0} seeds.",
        ["family", "setting", "SRCC", "Kendall τ", "MAE"],
        [[r["family"], r["setting"], f"{r['srcc']:.3f} ± {r['srcc_std'] or 0:.3f}", f"{r['kendall']:.3f}",
          f"{r['mae']:.2f}"] for r in d["rows"]]))


def _flops_factor(path: Path) -> str:
    if (d := _read_json(path)) is None:
        return ""
    return "\n".join(_section(
        "What the GNN adds beyond FLOPs",
        f"`python benchmarks/flops_factor.py` on `{d['checkpoint']}`, zero-shot on every architecture: "
        "the prediction is the heads' residual times the factor log10(GFLOPs + 1) + 1; each part's "
        "SRCC with the accuracy alone, and the residual's within each fifth of the family by FLOPs "
        "(lowest first: what the GNN adds at equal compute). Where the factor spans far more than on "
        "NB-201 and the residual does not rank architectures of similar FLOPs, the prediction ranks like FLOPs.",
        ["family", "architectures", "SRCC prediction", "SRCC residual alone", "SRCC FLOPs", "factor range",
         "residual SRCC within FLOPs quintiles"],
        [[r["family"], str(r["architectures"]), f"{r['srcc_prediction']:.3f}", f"{r['srcc_residual']:.3f}",
          f"{r['srcc_flops']:.3f}", f"{r['factor_min']:.2f}–{r['factor_max']:.2f}",
          ", ".join(f"{v:.2f}" for v in r.get("srcc_residual_within_flops_quintiles", [])) or "–"]
         for r in d["rows"]]) + _op_counts(d["rows"]))


def _second_source(path: Path) -> str:
    if (d := _read_json(path)) is None:
        return ""
    return "\n".join(_section(
        "A second labelled source family",
        f"`{d['command']}`: GENNAPE trained on {d['limit']} NB-201 cells alone, and on the same cells plus "
        "every architecture of a second family (its accuracies mapped onto NB-201's mean and spread), "
        "scored zero-shot on the family neither saw; FLOPs and params on the same architectures; mean ± std "
        f"over {d['summary'][0]['seeds'] if d['summary'] else 0} training seeds ({d['minutes']:.0f} min on 2 CPU cores "
        "shared with other jobs).",
        ["target", "second source", "method", "SRCC"],
        [[s["target"], s["second"], s["method"] if s["method"] in ("flops", "params") else f"GENNAPE trained on {s['method']}",
          f"{s['srcc']:.3f} ± {s['srcc_std']:.3f}"] for s in d["summary"]]))


def _compute_prior(path: Path) -> str:
    if (d := _read_json(path)) is None:
        return ""
    stats = lambda names: " + ".join(n.replace("_", " ") for n in names)
    return "\n".join(_section(
        "Compute-and-depth priors, chosen without the target's labels",
        f"`{d['command']}`: linear models on the quantiles (within each family) of FLOPs, params, weight "
        f"layers, nodes and depth, every subset of them, fitted on {d['source_size']} NB-201 cells; a model is "
        "chosen by its zero-shot SRCC on the other unseen family, and scored on the target. In hindsight: the "
        "subset best on the target itself, a ceiling of these priors, not a result.",
        ["target", "chosen on", "chosen prior", "SRCC", "best in hindsight", "SRCC", "FLOPs", "params"],
        [[r["target"], r["chosen_on"], stats(r["chosen"]), f"{r['chosen_srcc']:.3f}", stats(r["hindsight"]),
          f"{r['hindsight_srcc']:.3f}", f"{r['flops']:.3f}", f"{r['params']:.3f}"] for r in d["rows"]]))


def _op_counts(rows: list[dict[str, Any]]) -> list[str]:
    """Per op, how the residual and the accuracy follow its count at equal FLOPs, per family."""
    fams = [r for r in rows if r.get("op_counts_within_flops_quintiles")]
    if not fams:
        return []
    by = {r["family"]: {o["op"]: o for o in r["op_counts_within_flops_quintiles"]} for r in fams}
    ops = list(dict.fromkeys(o for r in fams for o in by[r["family"]]))
    cell = lambda f, op, k: f"{by[f][op][k]:.2f}" if op in by[f] else ""
    head = ["op"] + [f"{r['family']} {k}" for r in fams for k in ("residual", "accuracy")]
    return ["", "Spearman of the residual and of the accuracy with the count of each op, within FLOPs "
            "quintiles (mean of the five): at equal compute, does the GNN reward an op the way the accuracy does?",
            "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join([op] + [cell(r["family"], op, k) for r in fams for k in ("residual", "accuracy")]) + " |"
              for op in ops)]


def _feature_ablation(data: dict[str, Any]) -> list[str]:
    """The features run in brief: each model's SRCC per target family and setting, with the features
    it reads (from the run's config) and the best single feature of the same rows beside."""
    cfg, rows = data.get("config", {}), data["rows"]
    reads = {cfg.get("model", {}).get("name", "gennape"): cfg.get("model", {}).get("aux_features", [])}
    reads |= {n: v.get("aux_features", []) for n, v in (cfg.get("eval", {}).get("variants") or {}).items()}
    reads = dict(sorted(reads.items(), key=lambda kv: len(kv[1])))
    cols = list(dict.fromkeys((r["family"], r["setting"]) for r in rows if r["setting"] != "in-family test"))
    if not cols or not any(_row(rows, f, s, m) for m in reads for f, s in cols):
        return []

    def cell(r: dict[str, Any] | None) -> str:
        return "–" if r is None else f"{r['srcc']:.3f}" + (f" ± {r['srcc_std']:.3f}" if r.get("srcc_std") is not None else "")

    def best_single(f: str, s: str) -> str:
        single = [r for r in rows if r["family"] == f and r["setting"] == s
                  and _single_feature(r)]
        b = max(single, key=lambda r: r["srcc"], default=None)
        return "–" if b is None else f"{cell(b)} ({b['method'].removeprefix('feature:')})"

    head = ["model", "features it reads"] + [f"{f} {s}" for f, s in cols]
    body = [[m, ", ".join(v) or "none (the GNN alone)"] + [cell(_row(rows, f, s, m)) for f, s in cols]
            for m, v in reads.items() if any(_row(rows, f, s, m) for f, s in cols)]
    body.append(["best single feature", "one alone"] + [best_single(f, s) for f, s in cols])
    return ["", "In brief: SRCC of each model on the target families, and the best single feature on the same "
            "architectures:", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(r) + " |" for r in body)]


def _nngp(path: Path) -> str:
    if (d := _read_json(path)) is None:
        return ""
    st, ratio = d["settings"], d["nngp_over_epoch"]
    lines = ["## NNGP score", "", f"`{d['command'].strip()}` ({st['nngp_draws']} initialisations, "
             f"{st['nngp_images']} + {st['nngp_images']} CIFAR-10 images at {st['image_size']}x{st['image_size']}; "
             f"details in [nngp.md](nngp.md)): correlation with `{d['target']}` on the same NB-201 cells.", "",
             "| score | cells | Spearman | Kendall |", "|---|---|---|---|"]
    lines += [f"| {r['score']} | {r['cells']} | {r['spearman']:.3f} | {r['kendall']:.3f} |" for r in d["correlations"]]
    lines += ["", f"Cost: {d['nngp_seconds_per_cell']['mean']:.2f} s per cell on one CPU thread, "
                  f"**{ratio['median']:.4f}** of one CIFAR-10 training epoch of the same cell (median ratio)."]
    if (o := d.get("structure", {}).get("overall")) is not None:
        within = [f"{r['conv_edges']} conv edges {r['spearman_nngp_accuracy']:.2f}" for r in d["structure"]["strata"]
                  if not math.isnan(r["spearman_nngp_accuracy"])]
        lines += ["", f"What it follows: Spearman with the number of conv edges {o['nngp_vs_conv']:.3f}, skip edges "
                      f"{o['nngp_vs_skip']:.3f} (the accuracy's with conv edges: {o['accuracy_vs_conv']:.3f}); "
                      f"with the accuracy within one conv count: {', '.join(within)}."]
    return "\n".join(lines)


def render(runs: dict[str, dict[str, Any]], speed: Path) -> str:
    """The markdown page."""
    out = ["# Results", "",
           "Generated by `python -m gennape.evaluation.report` from the run folders in `docs/runs/` (each has the "
           "`command.txt` that produced it). SRCC = Spearman, NDCG@10 on the true top-10; MAE in accuracy "
           "points; score-only baselines (FLOPs, params) have no MAE. ρ(FLOPs) is not a quality metric but "
           "a diagnostic: the Spearman of the method's scores with FLOPs on the same architectures (near 1: "
           "it ranks like a FLOPs counter; – in runs made before the column existed). "
           "Each run names the commit of its code; a run without one was made with earlier code (before "
           "ops unseen in training got the embedding of their kind), so its numbers may differ from today's. "
           "Fine-tuned rows: mean ± std over "
           "seeds, each seed drawing its own labelled sample and scoring every method on the rest. "
           "`zero-shot, N with features` rows score every method again on the N architectures of the family "
           "that have every feature its table holds for part of the family only (features are stored per "
           "distinct graph, so N counts every architecture whose graph has them).", "",
           "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, check in TARGETS.items():
        text, ok = check(runs)
        out.append(f"| {name} | {text} | {'–' if ok is None else ('yes' if ok else '**no**')} |")
    for name in runs:
        for text, ok in _lofo_targets(name):
            out.append(f"| leave-one-family-out ({name}) | {text} | {'–' if ok is None else ('yes' if ok else '**no**')} |")
    for name, data in runs.items():
        cmd = (DOCS / "runs" / name / "command.txt").read_text().strip()
        summary = _lofo_summary(name)
        timing = _timing(data.get("info", {})) if summary is None else _lofo_timing(data.get("info", {}))
        out += ["", f"## {TITLES.get(name, name)}", "", f"`{cmd}` — {timing}.", ""]
        if summary is not None:
            out += ["Zero-shot SRCC per held-out family (mean over its tasks) against the size baselines "
                    "computed on the same architectures; margin = over the best of them; then, per label "
                    "budget, the fine-tuned model against the least-squares size fit on the same labels "
                    "(mean over 5 draws, the family's default task).", "", lofo_markdown(summary)]
        out += [markdown_tables(data["rows"]).replace("### ", "#### "), _uncertainty(data.get("uncertainty", []))]
        if name == "features":
            out += _feature_ablation(data)
        for png in sorted((DOCS / "runs" / name).glob("*.png")):
            out.append(f"![{png.stem}](runs/{name}/{png.name})")
    out += ["", _flops_factor(DOCS / "flops_factor.json"), "", _finetune_settings(DOCS / "finetune_settings.json"),
            "", _second_source(DOCS / "second_source.json"), "", _compute_prior(DOCS / "compute_prior.json"),
            "", _nngp(DOCS / "nngp.json"),
            "", _speed(speed), "", _cli_speed(DOCS / "cli_speed.json"), "", _adapt_speed(DOCS / "adapt_speed.json")]
    return "\n".join(out).rstrip() + "\n"


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
    names = [n for n in TITLES if (DOCS / "runs" / n).is_dir()]
    names += sorted(p.name for p in (DOCS / "runs").glob("*") if p.is_dir() and p.name not in TITLES) \
        if (DOCS / "runs").is_dir() else []
    runs = {n: json.loads((DOCS / "runs" / n / "results.json").read_text()) for n in names}
    args.out.write_text(render(runs, args.speed))
    print(f"wrote {args.out} ({len(runs)} runs)")
    for name, check in TARGETS.items():
        text, ok = check(runs)
        print(f"{'–' if ok is None else ('met' if ok else 'NOT met')}: {name}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
