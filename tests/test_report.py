"""docs/results.md generation: every number comes from the run files, targets are checked."""

import json
import re
from pathlib import Path

from gennape.evaluation import report, report_runs

ROOT = Path(__file__).resolve().parents[1]


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
    corpus = _run(tmp_path, "corpus", _rows("nb201", "in-family test", {"gennape": 0.95, "flops": 0.75, "params": 0.74}))
    args = [f"transfer={transfer}", f"paper={paper}", f"corpus={corpus}", "--out", str(tmp_path / "r.md")]
    assert report.main(args) == 0
    page = (tmp_path / "r.md").read_text()
    assert "python train.py experiment=nb201_transfer" in page
    assert "| nb101 zero-shot SRCC 0.750 vs FLOPs 0.700, params 0.720 | yes |" in page
    assert "| nb301 zero-shot SRCC 0.400 vs FLOPs 0.500, params 0.450 | **no** |" in page
    assert "| nb201 fine-tuned SRCC 0.850 (bar 0.9) | **no** |" in page
    # the current run first, the superseded studies after, under their own heading
    assert page.index("## The shipped predictor") < page.index("## Earlier runs (superseded)") \
        < page.index("### Train on NB-201, transfer to NB-101")
    assert "| nb101 | zero-shot | gennape | 0.750 | 0.375 | 0.500 | 1.00 | – | 0.700 | 0.720 | – | – |" in page
    # the uncertainty table of the current run only
    assert page.count("| nb101 | 10 | 0.300 | – | 1.00 | 3.00 |") == 1
    out = capsys.readouterr().out
    assert "met: NB-101 → NB-201 zero-shot" in out and "NOT met: NB-201 → NB-301" in out
    # Rebuilt from the copies alone, the page is the same.
    assert report.main(["--from-docs", "--out", str(tmp_path / "again.md")]) == 0
    assert (tmp_path / "again.md").read_text() == page
    # A note under the command in command.txt is a note on the page, not a heading.
    with (tmp_path / "docs" / "runs" / "corpus" / "command.txt").open("a") as f:
        f.write("# trained while another run shared the cores\n")
    assert report.main(["--from-docs", "--out", str(tmp_path / "noted.md")]) == 0
    noted = (tmp_path / "noted.md").read_text()
    assert "Note: trained while another run shared the cores." in noted and "\n# trained" not in noted


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


def test_a_run_table_keeps_the_models_the_largest_budget_and_the_best_single_feature():
    zero_shot = {"gennape": 0.80, "gennape-nb201": 0.90, "flops": 0.77, "params": 0.76, "weight_layers": 0.75,
                 "depth": 0.70, "feature:nwot": 0.78, "feature:zen": 0.66}
    rows = (_rows("nb201", "zero-shot", zero_shot)
            + [r for b in (8, 16, 32, 50) for r in _rows("nb201", f"fine-tuned ({b})", {
                "gennape": 0.80 + b / 1000, "size_fit": 0.70 + b / 1000, "flops": 0.771, "feature:nwot": 0.781})]
            + _rows("nb201/cifar100", "zero-shot", {"gennape": 0.82, "flops": 0.79, "depth": 0.71}))
    table = "\n".join(report_runs.compact_table(rows))
    assert "| MAE | ρ(FLOPs) | size fit | FLOPs | params | weight layers | best single feature |" in table
    assert "| nb201 | zero-shot | gennape | 0.800 | 0.400 | 0.500 | 1.00 | – | – | 0.770 | 0.760 | 0.750 | nwot 0.780 |" \
        in table
    assert "| nb201 | zero-shot | gennape-nb201 | 0.900 | 0.450 | 0.500 | – | – |  |  |  |  |  |" in table
    assert "| nb201 | fine-tuned (50) | gennape | 0.850 |" in table and "| 0.750 | 0.771 | – | – | nwot 0.781 |" in table
    assert "| nb201/cifar100 | zero-shot | gennape | 0.820 |" in table and "| depth 0.710 |" in table
    assert not re.search(r"fine-tuned \((8|16|32)\)", table)  # the smaller budgets stay in results.json
    assert "zen" not in table and "| size_fit |" not in table  # other single features; the fit is a column
    assert len(table.splitlines()) == 2 + 4


def test_a_lofo_summary_shows_the_largest_budget_and_the_best_single_feature():
    tuned = {"fine-tuned (8)": {"gennape": 0.66, "size_fit": 0.60, "mae": {"gennape": 2.3, "size_fit": 5.6}},
             "fine-tuned (50)": {"gennape": 0.895, "size_fit": 0.784, "mae": {"gennape": 1.0, "size_fit": 2.15}}}
    fam = {"tasks": ["nb101"], "zero_shot": {"gennape": 0.56, "flops": 0.715, "params": 0.716, "weight_layers": 0.563},
           "margin": -0.153, "single_features": {"model": 0.56, "best": "synflow", "best_srcc": 0.655},
           "fine_tuned": tuned}
    table = "\n".join(report_runs.lofo_summary_table({"nb101": fam}))
    assert "| 50 labels: gennape / size fit (MAE) |" in table and "8 labels" not in table
    assert ("| nb101 | 1 | 0.560 | 0.715 | 0.716 | 0.563 | -0.153 | synflow 0.655 (0.560) | "
            "0.895 / 0.784 (1.00 / 2.15) |") in table


def test_features_read_names_each_models_features_where_they_differ():
    data = {"rows": _rows("nb101", "zero-shot", {"gennape": 0.7, "gennape-no-features": 0.65, "gennape-shapes": 0.6}),
            "config": {"model": {"name": "gennape", "aux_features": ["flops", "synflow"]},
                       "eval": {"variants": {"gennape-no-features": {"aux_features": []},
                                             "gennape-shapes": {"relative_shapes": False},  # reads the model's
                                             "not-run": {"aux_features": ["nngp"]}}}}}
    assert report_runs.features_read(data) == ("Features each model reads: `gennape-no-features` none (the GNN alone); "
                                               "`gennape` flops, synflow; `gennape-shapes` flops, synflow.")
    del data["config"]["eval"]["variants"]["gennape-no-features"]
    assert report_runs.features_read(data) == ""  # every model reads the same


def test_a_run_evaluated_again_names_its_command_and_the_code_that_trained_it():
    info = {"total_seconds": 60.0, "first_total_seconds": 600.0, "code": "bbb", "first_code": "aaa",
            "train_size": 9, "val_size": 1, "test_size": 1,
            "evaluated_with": ["python train.py", "experiment=features", "ckpt_path=outputs/x"],
            "gennape/seed0": {"regress_s_per_epoch": 2.0, "regress_epochs": 25},
            "gennape/seed1": {"regress_s_per_epoch": 3.0, "regress_epochs": 25}}
    text = report_runs.timing_line(info)
    assert text.startswith("10.0 min, then evaluated again from its saved stages by "
                           "`python train.py experiment=features ckpt_path=outputs/x` in 1.0 min")
    assert "code `bbb` (its models trained by code `aaa`)" in text and "9 training / 1 validation / 1 test" in text
    assert "`gennape/seed0`: regression 2.0 s/epoch × 25" in text and "seed1" not in text
    lofo = {"nb101": {"total_seconds": 120.0, "code": "c1"}, "zoo": {"total_seconds": 60.0, "code": "c1"}}
    assert report_runs.lofo_timing_line(lofo) == "2 folds, 3.0 min in all; code `c1`"


def _cited_runs() -> set[str]:
    """Run folders README.md and docs/*.md name (``docs/runs/<name>``)."""
    texts = [(ROOT / "README.md").read_text()] + [p.read_text() for p in (ROOT / "docs").glob("*.md")
                                                  if p.name != "results.md"]
    return {m for t in texts for m in re.findall(r"docs/runs/(\w+)", t)}


def test_the_committed_page_is_compact_current_and_keeps_every_cited_run():
    runs = {n: json.loads((report.DOCS / "runs" / n / "results.json").read_text()) for n in report.run_names()}
    page = report.render(runs, report.DOCS / "predict_speed.json")
    assert (report.DOCS / "results.md").read_text() == page, "run python -m gennape.evaluation.report --from-docs"
    lines = page.splitlines()
    assert len(lines) < 700, "the page grew back towards full tables"
    assert not re.search(r"fine-tuned \((8|16|32)\)|SRCC in FLOPs quintiles", page)
    for name in _cited_runs():
        command = (report.DOCS / "runs" / name / "command.txt").read_text().splitlines()[0]
        assert f"`{command}` — " in page, f"docs cite docs/runs/{name}; its section is gone"
    for cited in ("## Targets", "| op | nb201 residual |", "## Fine-tuning settings", "## A second labelled source",
                  "## Compute-and-depth priors", "best single feature", "Earlier runs (superseded)"):
        assert cited in page
