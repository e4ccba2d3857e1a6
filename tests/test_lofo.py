"""Corpus training and leave-one-family-out through train.py, on synthetic graphs standing in for
the corpus's tasks (the real run: python train.py experiment=lofo)."""

import json
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gennape.evaluation import experiment as train_mod  # noqa: E402
from gennape.model.checkpoint import load_checkpoint  # noqa: E402
from gennape.model.corpus import parse_key  # noqa: E402
from gennape.model.dataset import Family  # noqa: E402
from gennape.model.synthetic import synthetic_graphs  # noqa: E402
from test_model_train import _cfg  # noqa: E402

torch.set_num_threads(1)
SEEDS = {"nb201": 0, "nb201/cifar100": 5, "nb201/imagenet16": 6, "nb101": 1, "nb301": 2}


def _fake_task(key, *_, **__):
    """A synthetic task; each task its own accuracy scale, as the real ones have."""
    family, task = parse_key(key)
    name = family if task is None else f"{family}/{task}"
    graphs = synthetic_graphs(60, seed=SEEDS[name])
    offset = {"nb201": 0.0, "nb201/cifar100": -40.0, "nb201/imagenet16": -60.0, "nb101": 5.0, "nb301": 10.0}[name]
    for g in graphs:
        g.y = g.y + offset
    table = pd.DataFrame({"spec": [f"{name}-{i}" for i in range(60)], "acc": [g.y.item() for g in graphs]})
    return Family(family, "acc", table, graphs, task)


COMMON = ("trainer=fast", "model.hidden=16", "model.num_layers=1", "model.pretrain.batch_size=32",
          "eval.fine_tune.batch_size=8", "eval.plots=false", "eval.feature_baselines=[]", "data.workers=1",
          "eval.fine_tune.epochs=2")


def test_corpus_training_normalises_each_task_and_ships_a_score_model(tmp_path, monkeypatch):
    monkeypatch.setattr(train_mod, "load_task", _fake_task)
    cfg = _cfg(tmp_path / "run", "experiment=corpus", *COMMON, "data.train=[nb201/cifar10,nb201/cifar100,nb101]",
               "data.targets=[nb301]", "eval.fine_tune.seeds=1", "eval.fine_tune.samples=[8,12]")
    res = train_mod.train(cfg)
    assert res["info"]["tasks"] == {"nb201": 48, "nb201/cifar100": 48, "nb101": 48}
    ckpt = load_checkpoint(tmp_path / "run" / "model.ckpt")
    assert ckpt.net.labels == "rank_gauss" and set(ckpt.meta["tasks"]) == {"nb201", "nb201/cifar100", "nb101"}
    assert len(ckpt.meta["tasks"]["nb201/cifar100"]) == 101
    rows = {(r["family"], r["setting"], r["method"]): r for r in res["rows"]}
    # a score, read off the task's label quantiles where it was trained on the task: an accuracy there
    in_family = rows[("nb201/cifar100", "in-family test", "gennape")]
    assert in_family["output"] == "task accuracy" and 0 < in_family["mae"] < 40  # the task's scale: ~40 below nb201
    zero = rows[("nb301", "zero-shot", "gennape")]
    assert zero["output"] == "score" and zero["mae"] is None  # an unseen task: no scale, no MAE
    assert rows[("nb301", "zero-shot", "flops")]["output"] == "ranking"
    md = (tmp_path / "run" / "results.md").read_text()
    assert "– MAE of gennape: a score model (trained on labels normalised within each task)" in md
    assert ("– MAE of flops, params, feature:synflow, feature:nwot and 5 more: a score-only method (a ranking "
            "score, not an accuracy) has no MAE.") in md
    tuned = rows[("nb301", "fine-tuned (12)", "gennape")]
    assert tuned["mae"] is not None and rows[("nb301", "fine-tuned (12)", "size_fit")]["mae"] is not None
    assert ("nb301", "fine-tuned (8)", "weight_layers") not in rows  # only the configured baselines
    assert rows[("nb301", "zero-shot", "gennape")]["srcc_within_flops"] is not None


def test_lofo_holds_out_each_family_and_resumes_finished_folds(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_mod, "load_task", _fake_task)
    overrides = ("experiment=lofo", *COMMON, "data.train=[nb201/*,nb101,nb301]", "lofo.families=[nb201,nb101]",
                 "eval.fine_tune.seeds=1", "eval.fine_tune.samples=[8]")
    res = train_mod.lofo(_cfg(tmp_path / "run", *overrides))
    fams = {(r["family"], r["setting"]) for r in res["rows"] if r["method"] == "gennape"}
    assert fams == {("nb201", "zero-shot"), ("nb201/cifar100", "zero-shot"), ("nb201/imagenet16", "zero-shot"),
                    ("nb201", "fine-tuned (8)"),
                    ("nb101", "zero-shot"), ("nb101", "fine-tuned (8)")}  # fine-tuned: the default task only
    fold = json.loads((tmp_path / "run" / "nb201" / "results.json").read_text())
    assert fold["info"]["tasks"].keys() == {"nb101", "nb301"}  # nothing of NB-201 in its own fold
    methods = {r["method"] for r in res["rows"] if r["setting"] == "zero-shot"}
    assert {"gennape", "flops", "params", "weight_layers", "depth"} <= methods
    summary = json.loads((tmp_path / "run" / "lofo.json").read_text())["summary"]
    assert set(summary) == {"nb201", "nb101"} and summary["nb201"]["tasks"] == ["nb201", "nb201/cifar100", "nb201/imagenet16"]
    assert "| nb101 | 1 |" in (tmp_path / "run" / "lofo.md").read_text()
    capsys.readouterr()
    again = train_mod.lofo(_cfg(tmp_path / "run", *overrides))  # finished folds are read back
    assert "nb201 finished earlier" in capsys.readouterr().out and again["summary"] == summary
