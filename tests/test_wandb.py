"""train.py logger=wandb: a sweep of two offline runs (the real Hydra entry, synthetic graphs), read
back by gennape.evaluation.compare; the record-log reader; the summary key scheme. No network."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gennape.evaluation import compare
from gennape.evaluation.metric_keys import ROWS_KEY, row_metrics, rows_from_metrics, slug
from gennape.evaluation.wandb_read import read_run

ROOT = Path(__file__).resolve().parents[1]
FAST = ["experiment=nb201_transfer", "trainer=fast", "model.hidden=16", "model.num_layers=1", "baseline.hidden=16",
        "baseline.num_layers=1", "model.pretrain.batch_size=32", "eval.fine_tune.samples=10",
        "eval.fine_tune.batch_size=10", "eval.fine_tune.seeds=2", "eval.feature_baselines=[]", "data.workers=1"]
# train.py's own main, its task loader standing in synthetic graphs (tests/test_model_train.py)
SCRIPT = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from test_model_train import _fake_load_task
from gennape.evaluation import experiment
experiment.load_task = _fake_load_task
import runpy
sys.argv = [{train!r}, *{argv!r}]
runpy.run_path({train!r}, run_name="__main__")
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """``python train.py -m logger=wandb model.heads=1,2 ...``: two offline runs, and what it printed."""
    tmp = tmp_path_factory.mktemp("sweep")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp), "WANDB_CONFIG_DIR": str(tmp / "config"),
           "WANDB_CACHE_DIR": str(tmp / "cache"), "WANDB_DATA_DIR": str(tmp / "data")}
    for name in ("WANDB_SILENT", "WANDB_API_KEY", "WANDB_QUIET"):
        env.pop(name, None)
    argv = ["-m", *FAST, "logger=wandb", "model.heads=1,2", f"hydra.sweep.dir={tmp / 'multi'}"]
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), train=str(ROOT / "train.py"), argv=argv)],
                          env=env, cwd=tmp, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "multi", proc.stdout + proc.stderr


def _wandb_dir(job: Path) -> Path:
    (run,) = (job / "wandb").glob("offline-run-*")
    return run


def test_sweep_logs_config_group_tags_and_every_result_without_warnings(sweep):
    multi, printed = sweep
    assert "WARNING" not in printed and "anonymous" not in printed  # wandb's banners off, no warnings
    assert "Tracking run" not in printed and printed.count("(offline): ") == 2  # one line a run instead
    for job, heads in ((multi / "0", 1), (multi / "1", 2)):
        run = read_run(_wandb_dir(job))
        results = json.loads((job / "results.json").read_text())
        assert run.group == "nb201_transfer" and f"model.heads={heads}" in run.tags and "logger=wandb" in run.tags
        assert run.config["model"]["heads"] == heads and run.config["output_dir"] == str(job)  # resolved config
        assert run.summary[ROWS_KEY] == [{k: r[k] for k in ("family", "setting", "method", "output")}
                                         for r in results["rows"]]
        logged = {k: v for k, v in run.summary.items() if k.count("/") == 3}
        assert logged == pytest.approx(row_metrics(results["rows"]), rel=1e-12)
        assert logged["zero_shot/nb101/gennape/srcc"] == next(
            r["srcc"] for r in results["rows"] if (r["family"], r["setting"], r["method"]) == ("nb101", "zero-shot", "gennape"))
        assert "fine_tuned_10/nb301/kgnn/mae_std" in logged
        assert run.summary["info/train_size"] == results["info"]["train_size"]
        assert run.summary["results"]["_type"] == "table-file"
        assert {"plots/embedding", "plots/pred_vs_true_nb101"} <= set(run.summary)


def test_compare_reads_wandb_runs_as_their_results(sweep, capsys):
    multi, _ = sweep
    runs = [_wandb_dir(multi / "0"), _wandb_dir(multi / "1")]
    for metric in ("srcc", "mae", "kendall"):
        w_header, w_rows = compare.compare(runs, metric)
        r_header, r_rows = compare.compare([multi], metric)  # the results.json of the same runs
        assert w_rows == r_rows and len(w_rows) > 10
        assert r_header[3:] == w_header[3:] == ["model.heads=1", "model.heads=2"]  # what differs
    mixed = compare.compare([multi / "0" / "wandb", multi / "1"], "srcc")  # a wandb/ folder, a run folder
    assert mixed == compare.compare([multi], "srcc")
    assert compare.main([str(r) for r in runs] + ["--metric", "mae"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"metric: mae; every run: {' '.join(FAST)} logger=wandb\n")
    assert "| nb101 | zero-shot | flops | – | – |" in out and "± " in out
    assert "– mae of flops, params: a score-only method (a ranking score, not an accuracy) has no MAE." in out


def test_reader_stops_at_a_cut_tail_and_names_a_corrupt_file(sweep, tmp_path, capsys):
    multi, _ = sweep
    src = _wandb_dir(multi / "0")
    (log,) = src.glob("run-*.wandb")
    data = log.read_bytes()
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / log.name).write_bytes(data[:len(data) // 2])  # a run killed mid-write: its first records
    assert read_run(cut).group == "nb201_transfer"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / log.name).write_bytes(data[:200] + bytes([data[200] ^ 0xFF]) + data[201:])
    with pytest.raises(ValueError, match=r"bad/run-.*\.wandb: corrupt record at byte \d+"):
        read_run(bad)
    (bad / log.name).write_bytes(b"not a log")
    assert compare.main([str(bad)]) == 1
    assert "not a W&B run log" in capsys.readouterr().err
    with pytest.raises(ValueError, match="holds one run-<id>.wandb file, found none"):
        read_run(tmp_path)


def test_keys_have_four_parts_and_read_back_without_an_index():
    rows = [{"family": "nb201/cifar100", "setting": "fine-tuned (50)", "method": "feature:synflow", "output": "ranking",
             "runs": 5, "srcc": 0.5, "srcc_std": 0.1, "mae": None},
            {"family": "nb101", "setting": "zero-shot, 37 with features", "method": "gennape", "output": "score",
             "runs": 1, "srcc": 0.25}]
    keys = row_metrics(rows)
    assert keys == {"fine_tuned_50/nb201.cifar100/feature:synflow/srcc": 0.5,
                    "fine_tuned_50/nb201.cifar100/feature:synflow/srcc_std": 0.1,
                    "zero_shot_37_with_features/nb101/gennape/srcc": 0.25}
    assert slug("ImageNet16-120") == "imagenet16_120"
    back = rows_from_metrics({**keys, "train/loss": 1.0, "plots/x": {"path": "a.png"}})  # slugs only
    assert back[0] == {"setting": "fine_tuned_50", "family": "nb201.cifar100", "method": "feature:synflow",
                       "srcc": 0.5, "srcc_std": 0.1}
    named = rows_from_metrics(keys, [{k: r[k] for k in ("family", "setting", "method", "output")} for r in rows])
    assert named[1] == {"family": "nb101", "setting": "zero-shot, 37 with features", "method": "gennape",
                        "output": "score", "srcc": 0.25}
    with pytest.raises(ValueError, match="two rows log zero_shot/nb101/gennape/srcc"):
        row_metrics([{**rows[1], "setting": "zero-shot"}, {**rows[1], "setting": "zero shot"}])
