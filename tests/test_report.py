"""docs/results.md generation: every number comes from the run files, targets are checked."""

import json

from gennape.evaluation import report


def _rows(fam, setting, srcc):
    return [{"family": fam, "setting": setting, "method": m, "runs": 1, "srcc": s, "kendall": s / 2,
             "ndcg10": 0.5, "mae": 1.0 if m == "gennape" else None} for m, s in srcc.items()]


def _run(tmp_path, name, rows):
    d = tmp_path / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text(f"- experiment={name}\n")
    (d / "results.json").write_text(json.dumps({"rows": rows, "info": {"total_seconds": 120.0, "train_size": 9},
                                                "uncertainty": [{"family": "nb101", "n": 10,
                                                                 "srcc_uncertainty_abs_error": 0.3,
                                                                 "mae_most_certain_quarter": 1.0,
                                                                 "mae_least_certain_quarter": 3.0}]}))
    return d


def test_report_renders_runs_and_checks_targets(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "DOCS", tmp_path / "docs")
    (tmp_path / "docs").mkdir()
    # a subset's rows (listed first here) must not stand in for the family's own
    transfer = _run(tmp_path, "nb201_transfer", _rows("nb101", "zero-shot, 5 with features", {"gennape": 0.1, "flops": 0.9, "params": 0.9})
                    + _rows("nb101", "zero-shot", {"gennape": 0.75, "flops": 0.7, "params": 0.72})
                    + _rows("nb301", "zero-shot", {"gennape": 0.4, "flops": 0.5, "params": 0.45}))
    paper = _run(tmp_path, "nb101_to_nb201", _rows("nb201", "zero-shot", {"gennape": 0.81, "flops": 0.7, "params": 0.7})
                 + _rows("nb201", "fine-tuned (50)", {"gennape": 0.85, "flops": 0.7, "params": 0.7}))
    assert report.main([f"transfer={transfer}", f"paper={paper}", "--out", str(tmp_path / "r.md")]) == 0
    page = (tmp_path / "r.md").read_text()
    assert "python train.py experiment=nb201_transfer" in page
    assert "| nb101 zero-shot SRCC 0.750 vs FLOPs 0.700, params 0.720 | yes |" in page
    assert "| nb301 zero-shot SRCC 0.400 vs FLOPs 0.500, params 0.450 | **no** |" in page
    assert "| nb201 fine-tuned SRCC 0.850 (bar 0.9) | **no** |" in page
    assert "| nb101 | 10 | 0.300 | – | 1.00 | 3.00 |" in page
    out = capsys.readouterr().out
    assert "met: NB-101 → NB-201 zero-shot" in out and "NOT met: NB-201 → NB-301" in out
    # Rebuilt from the copies alone, the page is the same.
    assert report.main(["--from-docs", "--out", str(tmp_path / "again.md")]) == 0
    assert (tmp_path / "again.md").read_text() == page


def test_report_includes_the_nngp_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOCS", tmp_path / "docs")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "nngp.json").write_text(json.dumps({
        "command": "python benchmarks/nngp_report.py --cells 500", "target": "acc", "cells": 500,
        "settings": {"nngp_draws": 2, "nngp_images": 128, "image_size": 32},
        "correlations": [{"score": "nngp", "cells": 500, "spearman": 0.61, "kendall": 0.44}],
        "nngp_seconds_per_cell": {"mean": 2.5, "median": 2.4}, "nngp_over_epoch": {"mean": 0.005, "median": 0.004}}))
    assert report.main(["--out", str(tmp_path / "r.md")]) == 0
    page = (tmp_path / "r.md").read_text()
    assert "| nngp | 500 | 0.610 | 0.440 |" in page and "**0.0040** of one CIFAR-10 training epoch" in page


def test_report_includes_the_flops_factor_parts(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOCS", tmp_path / "docs")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "flops_factor.json").write_text(json.dumps({"checkpoint": "c.ckpt", "rows": [
        {"family": "nb101", "architectures": 500, "srcc_prediction": 0.688, "srcc_residual": -0.043,
         "srcc_flops": 0.715, "factor_min": 1.039, "factor_max": 2.0,
         "srcc_residual_within_flops_quintiles": [-0.809, -0.413, -0.404, 0.217, 0.388],
         "op_counts_within_flops_quintiles": [{"op": "MaxPool", "residual": -0.75, "accuracy": 0.059}]},
        {"family": "nb301", "architectures": 725, "srcc_prediction": 0.546, "srcc_residual": 0.533,
         "srcc_flops": 0.503, "factor_min": 1.08, "factor_max": 1.157,
         "op_counts_within_flops_quintiles": [{"op": "Conv", "residual": 0.3, "accuracy": 0.21}]}]}))
    assert report.main(["--out", str(tmp_path / "r.md")]) == 0
    page = (tmp_path / "r.md").read_text()
    assert "## What the GNN adds beyond FLOPs" in page
    assert "| nb101 | 500 | 0.688 | -0.043 | 0.715 | 1.04–2.00 | -0.81, -0.41, -0.40, 0.22, 0.39 |" in page
    assert "| nb301 | 725 | 0.546 | 0.533 | 0.503 | 1.08–1.16 | – |" in page
    assert "| op | nb101 residual | nb101 accuracy | nb301 residual | nb301 accuracy |" in page
    assert "| MaxPool | -0.75 | 0.06 |  |  |" in page and "| Conv |  |  | 0.30 | 0.21 |" in page


def test_the_features_target_counts_single_features_of_every_run():
    def row(method, srcc):
        return {"family": "nb301", "setting": "zero-shot", "method": method, "srcc": srcc}

    runs = {"features": {"rows": [row("gennape", 0.60), row("feature:a", 0.50), row("flops", 0.40)]},
            "transfer": {"rows": [row("gennape", 0.55), row("feature:b", 0.70)]}}
    text, ok = report._check_beats_features("features", "nb301")(runs)
    assert ok is False and "feature:b 0.700 (transfer run)" in text and "SRCC 0.600" in text
    runs["transfer"]["rows"][1]["srcc"] = 0.58
    assert report._check_beats_features("features", "nb301")(runs)[1] is True
    assert report._check_beats_features("features", "nb101")(runs)[1] is None


def test_the_part_with_features_target_compares_rows_of_that_part_only():
    def row(setting, method, srcc):
        return {"family": "nb201", "setting": setting, "method": method, "srcc": srcc}

    part = "zero-shot, 100 with features"
    runs = {"paper": {"rows": [row("zero-shot", "gennape", 0.70), row("zero-shot", "flops", 0.90),
                               row(part, "gennape", 0.80), row(part, "flops", 0.75), row(part, "feature:zen", 0.78)]}}
    text, ok = report._check_beats_features_on_part("paper", "nb201")(runs)
    assert ok is True and "feature:zen 0.780 (of 2)" in text and "SRCC 0.800" in text
    runs["paper"]["rows"][-1]["srcc"] = 0.85
    assert report._check_beats_features_on_part("paper", "nb201")(runs)[1] is False
    assert report._check_beats_features_on_part("paper", "nb101")(runs)[1] is None


def test_the_feature_ablation_lists_each_model_with_what_it_reads():
    rows = (_rows("nb101", "zero-shot", {"gennape": 0.70, "gennape-no-features": 0.65, "flops": 0.71,
                                          "feature:nwot": 0.40})
            + _rows("nb101", "fine-tuned (50)", {"gennape": 0.90, "gennape-no-features": 0.88, "flops": 0.70}))
    data = {"rows": rows, "config": {"model": {"name": "gennape", "aux_features": ["flops", "synflow"]},
                                     "eval": {"variants": {"gennape-no-features": {"aux_features": []},
                                                           "not-run": {"aux_features": ["nngp"]}}}}}
    table = "\n".join(report._feature_ablation(data))
    assert "| model | features it reads | nb101 zero-shot | nb101 fine-tuned (50) |" in table
    lines = table.splitlines()
    no_feat = next(i for i, line in enumerate(lines) if line.startswith("| gennape-no-features |"))
    assert lines[no_feat] == "| gennape-no-features | none (the GNN alone) | 0.650 | 0.880 |"
    assert lines[no_feat + 1] == "| gennape | flops, synflow | 0.700 | 0.900 |"  # fewer features first
    assert "| best single feature | one alone | 0.710 (flops) | 0.700 (flops) |" in table
    assert "not-run" not in table  # a configured model without rows is left out
    assert report._feature_ablation({"rows": _rows("nb101", "zero-shot", {"flops": 0.7}), "config": {}}) == []


def test_a_run_evaluated_again_names_its_command_and_the_code_that_trained_it():
    info = {"total_seconds": 60.0, "first_total_seconds": 600.0, "code": "bbb", "first_code": "aaa",
            "evaluated_with": ["python train.py", "experiment=features", "ckpt_path=outputs/x"]}
    text = report._timing(info)
    assert "total 10.0 min" in text and "(1.0 min)" in text
    assert "evaluated again from its saved stages by `python train.py experiment=features ckpt_path=outputs/x`" in text
    assert "its models were trained by code `aaa`" in text and "code `bbb`" in text
