import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gennape.evaluation import experiment as train_mod  # noqa: E402
from gennape.evaluation import compare  # noqa: E402
from gennape.model.checkpoint import load_checkpoint  # noqa: E402
from gennape.model.dataset import Family  # noqa: E402
from gennape.model.synthetic import synthetic_graphs  # noqa: E402

# Tiny graphs: one thread avoids OpenMP stalls on a loaded machine (25x here).
torch.set_num_threads(1)


def _fake_load_task(family, *_, **__):
    n = {"nb201": 90, "nb101": 40, "nb301": 40}[family]
    graphs = synthetic_graphs(n, seed={"nb201": 0, "nb101": 1, "nb301": 2}[family])
    table = pd.DataFrame({"spec": [f"{family}-{i}" for i in range(n)], "acc": [g.y.item() for g in graphs]})
    return Family(family, "acc", table, graphs)


def _cfg(tmp_path, *overrides):
    if not any(o.startswith("experiment=") for o in overrides):  # the single-family protocol
        overrides = ("experiment=nb201_transfer", *overrides)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[
            "trainer=fast", f"output_dir={tmp_path}", "model.hidden=16", "model.num_layers=1",
            "baseline.hidden=16", "baseline.num_layers=1", "model.pretrain.batch_size=32",
            "eval.fine_tune.samples=10", "eval.fine_tune.batch_size=10", *overrides])


@pytest.mark.parametrize("experiment", ["nb201_transfer", "ablation", "features", "transfer_choices"])
def test_experiments_compose(experiment, tmp_path):
    cfg = _cfg(tmp_path, f"experiment={experiment}")
    assert cfg.model.name == "gennape" and cfg.baseline.name == "kgnn"
    names = set(train_mod.model_configs(cfg))
    assert "gennape" in names and ("kgnn" in names) == cfg.eval.kgnn_baseline
    if experiment == "ablation":  # group values must win over conf/config.yaml's own
        assert names == {"gennape", "kgnn", "kgnn+contrastive", "kgnn+contrastive+fuzzy",
                         "kgnn+contrastive+fuzzy+transform", "gennape-absolute-shapes",
                         "gennape-random-unseen-ops"}
        assert list(cfg.seeds) == [0, 1, 2, 3, 4] and cfg.eval.fine_tune.seeds == 0


def test_resume_refuses_another_experiment(tmp_path):
    """ckpt_path= does not bring back the run's overrides: resuming with other ones is refused."""
    from omegaconf import OmegaConf

    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(_cfg(tmp_path, "experiment=nb101_to_nb201"), run / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(["experiment=nb101_to_nb201"]), run / ".hydra" / "overrides.yaml")
    with pytest.raises(SystemExit, match="experiment=nb101_to_nb201 ckpt_path="):
        train_mod.train(_cfg(tmp_path, f"ckpt_path={run}"))
    train_mod.check_same_run(_cfg(tmp_path, "experiment=nb101_to_nb201", f"ckpt_path={run}"), run)  # same: fine
    # what is only reported beside the models may change: the run is evaluated again
    train_mod.check_same_run(_cfg(tmp_path, "experiment=nb101_to_nb201", f"ckpt_path={run}", "eval.plots=false",
                                  "eval.feature_baselines=[snip]", "eval.baselines=[flops]"), run)
    with pytest.raises(SystemExit, match=r"eval differ from the run's \(eval.fine_tune.samples: run 10, now 12\)"):
        train_mod.check_same_run(_cfg(tmp_path, "experiment=nb101_to_nb201", f"ckpt_path={run}",
                                      "eval.fine_tune.samples=12"), run)


def _finished_run(tmp_path, monkeypatch, *overrides):
    """A finished run in ``tmp_path/run`` (with its saved config, as Hydra writes it) and its result."""
    monkeypatch.setattr(train_mod, "load_task", _fake_load_task)
    run = tmp_path / "run"
    first = _cfg(run, *overrides)
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(first, run / ".hydra" / "config.yaml")
    return run, train_mod.train(first)


def test_finished_run_is_extended_with_a_new_variant(tmp_path, monkeypatch):
    """ckpt_path= with one more eval.variants entry trains only the new model: the others' stages
    are loaded untouched and every model is in the table; changing an existing variant is refused."""
    base = ("eval.kgnn_baseline=false", "eval.fine_tune.seeds=0", "eval.plots=false", "model.heads=2")
    run, _ = _finished_run(tmp_path, monkeypatch, *base)
    stage = next((run / "gennape_seed0").rglob("regress.pt"))
    before = stage.stat().st_mtime_ns, stage.read_bytes()
    res = train_mod.train(_cfg(tmp_path / "new", *base, f"ckpt_path={run}", "+eval.variants.two-heads.heads=1"))
    assert (stage.stat().st_mtime_ns, stage.read_bytes()) == before
    assert {"gennape", "two-heads"} <= {r["method"] for r in res["rows"]}
    assert res["info"]["extended_with"] == ["two-heads"]
    assert any((run / "two-heads_seed0").rglob("regress.pt"))
    OmegaConf.save(_cfg(run, *base, "+eval.variants.two-heads.heads=1"), run / ".hydra" / "config.yaml")
    with pytest.raises(SystemExit, match="differ from the run"):  # an existing variant changed
        train_mod.check_same_run(_cfg(tmp_path, *base, f"ckpt_path={run}", "+eval.variants.two-heads.heads=3"), run)
    with pytest.raises(SystemExit, match="differ from the run"):  # a variant added, but more changed too
        train_mod.check_same_run(_cfg(tmp_path, *base, "model.heads=3", f"ckpt_path={run}",
                                      "+eval.variants.two-heads.heads=1", "+eval.variants.x.heads=1"), run)


def test_resumed_and_extended_runs_do_not_fine_tune_twice(tmp_path, monkeypatch):
    """Fine-tuned scores are kept beside each model: evaluating a finished run again fine-tunes
    nothing and gives the same rows; an added variant is the only model fine-tuned."""
    import gennape.evaluation.evaluate as evaluate_mod

    base = ("eval.kgnn_baseline=false", "eval.fine_tune.seeds=2", "eval.plots=false", "model.heads=2")
    run, first = _finished_run(tmp_path, monkeypatch, *base)
    rows = first["rows"]
    assert (run / "gennape_seed0" / "fine_tuned_scores.json").is_file()
    calls = []
    real = evaluate_mod.adapt_net

    def counted(net, *args, **kwargs):
        calls.append(net)
        return real(net, *args, **kwargs)

    monkeypatch.setattr(evaluate_mod, "adapt_net", counted)
    again = train_mod.train(_cfg(tmp_path / "new", *base, f"ckpt_path={run}"))
    assert calls == [] and again["rows"] == rows
    # the evaluation's own command is kept, and the first call's wall time and code
    info = again["info"]
    assert info["evaluated_with"][0] == "python train.py"
    assert info["first_total_seconds"] == first["info"]["total_seconds"] and info["first_code"] == first["info"]["code"]
    extended = train_mod.train(_cfg(tmp_path / "new2", *base, f"ckpt_path={run}", "+eval.variants.one-head.heads=1"))
    assert len(calls) == 2 * 2  # the new variant only: 2 target families x 2 fine-tuning seeds
    assert [r for r in extended["rows"] if r["method"] != "one-head"] == rows


def test_fast_trainer_overrides_eval(tmp_path):
    cfg = _cfg(tmp_path)
    assert cfg.trainer.max_epochs == 2 and cfg.eval.fine_tune.seeds == 1 and cfg.data.limit == 300


def test_train_writes_tables_and_compare_reads_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_mod, "load_task", _fake_load_task)
    res = train_mod.train(_cfg(tmp_path / "run", "model.heads=2"))
    methods = {(r["family"], r["setting"], r["method"]) for r in res["rows"]}
    for fam in ("nb101", "nb301"):
        for m in ("gennape", "kgnn", "flops", "params"):
            assert (fam, "zero-shot", m) in methods and (fam, "fine-tuned (10)", m) in methods
    assert ("nb201", "in-family test", "gennape") in methods
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    assert data["rows"] and "gennape/seed0" in data["info"]
    assert (tmp_path / "run" / "results.md").read_text().startswith("### nb201")
    assert (tmp_path / "run" / "embedding.png").is_file()
    assert (tmp_path / "run" / "pred_vs_true_nb101.png").is_file()
    ckpt = load_checkpoint(tmp_path / "run" / "model.ckpt")  # what predict.py --checkpoint reads
    assert ckpt.model["heads"] == 2 and ckpt.meta["family"] == "nb201" and ckpt.meta["train_size"] > 0
    flops = next(r for r in res["rows"] if r["method"] == "flops" and r["setting"] == "zero-shot")
    assert flops["mae"] is None
    # rho(FLOPs), Spearman of each method's scores with FLOPs: 1 for FLOPs itself, below for the rest
    assert flops["srcc_flops"] == pytest.approx(1.0)
    rows = {(r["family"], r["setting"], r["method"]): r for r in res["rows"]}
    for fam in ("nb101", "nb301"):
        for m in ("gennape", "kgnn", "params"):
            assert -1.0 <= rows[fam, "zero-shot", m]["srcc_flops"] < 1.0
    assert "| ρ(FLOPs) |" in (tmp_path / "run" / "results.md").read_text()
    assert compare.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| nb101 | zero-shot | gennape |" in out
    assert compare.main([str(tmp_path / "missing")]) == 1


def test_wandb_logger_runs_offline_and_keeps_tables_and_plots(tmp_path, monkeypatch):
    """logger=wandb writes an offline run (config, metrics, results table, plots); no network."""
    monkeypatch.setattr(train_mod, "load_task", _fake_load_task)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    run_dir = tmp_path / "run"
    train_mod.train(_cfg(run_dir, "logger=wandb", "eval.fine_tune.seeds=0"))
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = {p.name for p in runs[0].rglob("*")}
    assert any(f.endswith(".wandb") for f in files)  # the event log `wandb sync` uploads (config, metrics)
    assert any(f.startswith("results_") and f.endswith(".table.json") for f in files)
    assert any(f.startswith("embedding") and f.endswith(".png") for f in files)
    assert any(f.startswith("pred_vs_true_nb101") for f in files)


def test_a_prior_is_fitted_on_training_tasks_shipped_and_dropped_by_fine_tuning(tmp_path, monkeypatch):
    """``model.prior``: fitted on the training split, blended into every zero-shot score (FLOPs
    alone at weight 0: the run's gennape row ranks exactly like FLOPs), written to the checkpoint,
    and dropped by fine-tuning, whose rows are the adapted GNN's."""
    monkeypatch.setattr(train_mod, "load_task", _fake_load_task)
    res = train_mod.train(_cfg(tmp_path / "run", "+model.prior={name: flops, kind: linear, columns: [log_flops], "
                                                 "gnn_weight: 0.0}", "eval.fine_tune.seeds=1", "eval.plots=false"))
    rows = {(r["family"], r["setting"], r["method"]): r for r in res["rows"]}
    for fam in ("nb101", "nb301"):
        assert rows[fam, "zero-shot", "gennape"]["srcc"] == pytest.approx(rows[fam, "zero-shot", "flops"]["srcc"])
        assert rows[fam, "fine-tuned (10)", "gennape"]["srcc_flops"] < 0.999  # the GNN, not the prior
    ckpt = load_checkpoint(tmp_path / "run" / "model.ckpt")
    prior = ckpt.meta["prior"]
    assert prior["name"] == "flops" and prior["columns"] == ["log_flops"] and prior["coef"][0] > 0
    assert prior["info"]["tasks"] == ["nb201"]
