"""The sections of ``docs/results.md`` that come from the benchmarks' JSON files in ``docs/``.

Each function takes the file's path and returns its markdown section, or '' when that benchmark
has not been run. Every number comes from the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path) -> dict[str, Any] | None:
    """A benchmark's JSON output, or None when that benchmark has not been run."""
    return json.loads(path.read_text()) if path.is_file() else None


def speed(path: Path) -> str:
    """`benchmarks/predict_speed.py`: graphs per second of the runtime, and one ResNet-50 file."""
    if (s := read_json(path)) is None:
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


def adapt_speed(path: Path) -> str:
    """`benchmarks/adapt_speed.py`: `predict.py --labels` against zero-shot and the size fit."""
    if (d := read_json(path)) is None:
        return ""
    rows = [[name, *(f"{d[key][m]:.3f}" for m in ("srcc", "kendall", "ndcg10")),
             f"{d[key]['mae']:.2f}" if "mae" in d[key] else "–"]
            for name, key in (("after --labels", "adapted"), ("zero-shot (same checkpoint)", "zero_shot"),
                              ("size fit on the same labels", "size_fit"), ("FLOPs", "flops"), ("params", "params"))]
    return "\n".join(section(
        "The user's adaptation path (`predict.py --labels`)",
        f"`python benchmarks/adapt_speed.py --checkpoint {d['checkpoint']}`: {d['files']} NB-201 ONNX files, "
        f"{d['labels']} of them labelled with their CIFAR-10 accuracy; scored on the {d['unlabelled']} others. "
        + adapt_timing(d),
        ["method", "SRCC", "Kendall τ", "NDCG@10", "MAE"], rows))


def adapt_timing(d: dict[str, Any]) -> str:
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


def cli_speed(path: Path) -> str:
    """`benchmarks/cli_speed.py`: wall time and peak memory of the command line."""
    if (d := read_json(path)) is None:
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


def section(title: str, intro: str, columns: list[str], rows: list[list[str]]) -> list[str]:
    """A ``##`` section: a sentence, then a table."""
    return [f"## {title}", "", intro, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(r) + " |" for r in rows)]


def finetune_settings(path: Path) -> str:
    """`benchmarks/finetune_settings.py`: SRCC of each fine-tuning setting."""
    if (d := read_json(path)) is None:
        return ""
    return "\n".join(section(
        "Fine-tuning settings",
        f"`python benchmarks/finetune_settings.py` on `{d['checkpoint']}`: {d['samples']} labelled "
        "architectures per seed (the same draws as `train.py`), SRCC on the rest, mean ± std over "
        f"{d['rows'][0]['seeds'] if d['rows'] else 0} seeds.",
        ["family", "setting", "SRCC", "Kendall τ", "MAE"],
        [[r["family"], r["setting"], f"{r['srcc']:.3f} ± {r['srcc_std'] or 0:.3f}", f"{r['kendall']:.3f}",
          f"{r['mae']:.2f}"] for r in d["rows"]]))


def flops_factor(path: Path) -> str:
    """`benchmarks/flops_factor.py`: the prediction taken apart into the GNN residual and the FLOPs factor."""
    if (d := read_json(path)) is None:
        return ""
    return "\n".join(section(
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
         for r in d["rows"]]) + op_counts(d["rows"]))


def second_source(path: Path) -> str:
    """`benchmarks/second_source.py`: NB-201 alone against NB-201 plus a second labelled family."""
    if (d := read_json(path)) is None:
        return ""
    return "\n".join(section(
        "A second labelled source family",
        f"`{d['command']}`: GENNAPE trained on {d['limit']} NB-201 cells alone, and on the same cells plus "
        "every architecture of a second family (its accuracies mapped onto NB-201's mean and spread), "
        "scored zero-shot on the family neither saw; FLOPs and params on the same architectures; mean ± std "
        f"over {d['summary'][0]['seeds'] if d['summary'] else 0} training seeds ({d['minutes']:.0f} min on 2 CPU cores "
        "shared with other jobs).",
        ["target", "second source", "method", "SRCC"],
        [[s["target"], s["second"], s["method"] if s["method"] in ("flops", "params") else f"GENNAPE trained on {s['method']}",
          f"{s['srcc']:.3f} ± {s['srcc_std']:.3f}"] for s in d["summary"]]))


def compute_prior(path: Path) -> str:
    """`benchmarks/compute_prior.py`: linear size priors chosen without the target's labels."""
    if (d := read_json(path)) is None:
        return ""
    stats = lambda names: " + ".join(n.replace("_", " ") for n in names)
    return "\n".join(section(
        "Compute-and-depth priors, chosen without the target's labels",
        f"`{d['command']}`: linear models on the quantiles (within each family) of FLOPs, params, weight "
        f"layers, nodes and depth, every subset of them, fitted on {d['source_size']} NB-201 cells; a model is "
        "chosen by its zero-shot SRCC on the other unseen family, and scored on the target. In hindsight: the "
        "subset best on the target itself, a ceiling of these priors, not a result.",
        ["target", "chosen on", "chosen prior", "SRCC", "best in hindsight", "SRCC", "FLOPs", "params"],
        [[r["target"], r["chosen_on"], stats(r["chosen"]), f"{r['chosen_srcc']:.3f}", stats(r["hindsight"]),
          f"{r['hindsight_srcc']:.3f}", f"{r['flops']:.3f}", f"{r['params']:.3f}"] for r in d["rows"]]))


def op_counts(rows: list[dict[str, Any]]) -> list[str]:
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
