"""The experiments ``train.py`` runs, one function a protocol (``cfg.protocol``, registry in
:mod:`gennape.evaluation.protocol`): ``transfer`` (the default: train every configured model on
``data.train``, score ``data.targets`` zero-shot and fine-tuned) and ``lofo`` (one ``transfer`` run
per held-out family). Each writes ``results.md`` / ``results.json``, plots and ``model.ckpt`` to the
run folder and returns its rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch_geometric.data import Data

from gennape.core.paths import PROJECT_ROOT
from gennape.evaluation import lofo as lofo_report
from gennape.evaluation.evaluate import (aggregate_seeds, fine_tuned, markdown_tables, save_results, split_indices,
                                         task_scale, uncertainty_check, zero_shot)
from gennape.evaluation.finetune_cache import FinetuneCache
from gennape.evaluation.metric_keys import info_metrics, row_metrics
from gennape.evaluation.protocol import DEFAULT, get_protocol, register_protocol
from gennape.evaluation.provenance import code_version, overrides, previous_info
from gennape.evaluation.resume import check_same_run
from gennape.features.store import default_path as default_store
from gennape.model.checkpoint import Checkpoint, build_kwargs, load_checkpoint, save_checkpoint
from gennape.model.corpus import expand_keys, family_of, load_task, mark_task, sample_weights, task_weights
from gennape.model.dataset import Family
from gennape.model.feature_select import select as select_features
from gennape.model.pipeline import FinetuneConfig, PretrainConfig, RegressConfig, fit, predict
from gennape.model.prediction import without_prior
from gennape.model.predictor import GennapeNet, build_net
from gennape.model.rankers import training_prior
from gennape.runtime.auxiliary import GRAPH_FEATURES, attach_features, stored_coverage


def model_configs(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """Named model configs to train: ``model``, the k-GNN ``baseline`` and ``eval.variants``."""
    main = OmegaConf.to_container(cfg.model, resolve=True)
    out = {main["name"]: main}
    for name, over in (cfg.eval.get("variants") or {}).items():
        merged = OmegaConf.merge(cfg.model, over, {"name": name})
        out[name] = OmegaConf.to_container(merged, resolve=True)
    if cfg.eval.kgnn_baseline and cfg.get("baseline") is not None:
        base = OmegaConf.to_container(cfg.baseline, resolve=True)
        out[base["name"]] = base
    for mc in out.values():
        mc["aux_features"] = list(mc.get("aux_features") or [])
        mc["aux_dim"] = len(mc["aux_features"])
        mc.setdefault("aux_scaling", "train")
    return out


def aux_features(configs: dict[str, dict[str, Any]]) -> tuple[list[str], str]:
    """The features to attach for the run: every model's, in first-seen order, and their one
    scaling (``([], "train")`` if no model takes features). Each model then reads its own columns."""
    users = [mc for mc in configs.values() if mc["aux_features"]]
    scalings = {mc["aux_scaling"] for mc in users}
    if len(scalings) > 1:
        raise ValueError(f"models of one run must share one auxiliary-feature scaling, got {sorted(scalings)}")
    names = list(dict.fromkeys(n for mc in users for n in mc["aux_features"]))
    return names, scalings.pop() if scalings else "train"


@dataclass(frozen=True)
class StoredBaselines:
    """Which single-feature baselines a set of architectures can be scored with.

    Args:
        full: stored for every architecture (reported beside the models).
        partial: stored for only part of them (reported on ``subset``).
        subset: positions of the architectures that have every partial one.
    """

    full: list[str]
    partial: list[str]
    subset: list[int]


def stored_baselines(family: Family, names: list[str]) -> StoredBaselines:
    """Sort ``names`` by how much of ``family`` its feature store covers; a line names those it
    covers only in part, and those it lacks."""
    cover = stored_coverage(family.graphs, family.variant, names)
    full = [n for n in names if cover[n].all()]
    partial = [n for n in names if cover[n].any() and not cover[n].all()]
    subset = np.flatnonzero(np.logical_and.reduce([cover[n] for n in partial])) if partial else np.array([], int)
    if partial:
        print(f"{family.key}: single-feature baselines {', '.join(partial)} stored for part of the family only: "
              f"scored on the {len(subset)} of {len(family)} architectures that have them all")
    if absent := [n for n in names if not cover[n].any()]:
        task = f" task={family.task}" if family.task else ""
        print(f"{family.key}: single-feature baselines skipped, not stored: {', '.join(absent)} "
              f"(python -m gennape.features family={family.name}{task} features=[{','.join(absent)}])")
    return StoredBaselines(full, partial, subset.tolist())


def zero_shot_rows(nets: dict[str, GennapeNet], family: Family, baselines: list[str], stored: StoredBaselines,
                   setting: str = "zero-shot", quantiles: list[float] | None = None) -> list[dict[str, Any]]:
    """Zero-shot rows on every architecture of ``family`` (with the fully stored features alone),
    then, when some features are stored for part of it, on that part with those features too.
    ``quantiles``: the family's label quantiles where the nets were trained on its task (a score
    model's MAE is then of its score on that scale), else None."""
    full = [f"feature:{n}" for n in stored.full]
    rows = zero_shot(nets, family, baselines + full, setting, quantiles)
    if stored.subset:
        part = [f"feature:{n}" for n in stored.partial]
        rows += zero_shot(nets, family.subset(stored.subset), baselines + full + part,
                          f"{setting}, {len(stored.subset)} with features", quantiles)
    return rows


def build_and_fit(mc: dict[str, Any], train: list[Data], val: list[Data], trainer_kwargs: dict[str, Any],
                  logger: Any, root_dir: Path, seed: int, resume: bool = False,
                  attached: list[str] | None = None, labels: str = "raw",
                  weights: np.ndarray | None = None, draws: int | None = None) -> tuple[GennapeNet, dict[str, Any]]:
    """A fresh net from model config ``mc``, fitted on ``train`` with early stopping on ``val``
    (``resume``: pick up the stages kept in ``root_dir``; ``attached``: the features the graphs
    carry, of which the net reads its own; ``labels``: how the graphs' labels were normalised;
    ``weights``: per-graph draw weights, ``draws`` of them an epoch)."""
    net = build_net(**build_kwargs(mc), seed=seed)
    net.labels = labels
    attached = list(attached or [])
    if mc["aux_features"] and list(mc["aux_features"]) != attached:
        net.aux_columns = [attached.index(n) for n in mc["aux_features"]]
    info = fit(net, train, val or None, PretrainConfig(**mc["pretrain"]),
               RegressConfig(**mc["regress"]), trainer_kwargs, logger, root_dir, seed, resume,
               fill_unseen=mc.get("fill_unseen_ops", True), weights=weights, draws=draws)
    return net, info


def _reference(ckpt: Checkpoint, attached: list[str]) -> GennapeNet:
    """A shipped checkpoint's net, scored beside the run's models (``eval.reference_models``),
    reading its own features among the ``attached`` ones."""
    if ckpt.aux_features:
        ckpt.net.aux_columns = [attached.index(n) for n in ckpt.aux_features]
    return ckpt.net


def _load(key: str, limit: int | None, d: DictConfig) -> Family:
    """Task ``key``'s family, a random ``limit`` of it (reproducible with ``data.split_seed``)."""
    fam = load_task(key, d.get("nb201_cells"), d.workers)
    if limit is not None and limit < len(fam):
        fam = fam.subset(np.sort(np.random.default_rng(d.split_seed).choice(len(fam), size=limit, replace=False)))
    return fam


def _split(fam: Family, index: int, d: DictConfig, own: list[int]) -> tuple[Family, Family, Family]:
    """A training task's train / val / test parts; train and val get task ``index`` and their
    labels normalised (``data.labels``) within each part. With ``data.featured_only``, only
    architectures with all of the main model's features (``own`` columns) are kept (not the
    variants': adding a variant to a run must not change everyone's split)."""
    if own and d.get("featured_only"):
        fam = fam.subset([i for i, g in enumerate(fam.graphs) if bool(g.aux_mask[0, own].all())])
    tr, va, te = (fam.subset(ix) for ix in split_indices(len(fam), d.val_fraction, d.test_fraction, d.split_seed))
    return mark_task(tr, index, d.labels), mark_task(va, index, d.labels), te


def label_quantiles(fam: Family, n: int = 101) -> list[float]:
    """The task's label distribution, as ``n`` quantiles: what a score model's output (a normal
    quantile within the task) maps back to on the task's own scale."""
    return np.quantile(fam.y, np.linspace(0, 1, n)).round(4).tolist()


def _log(logger: Any, rows: list[dict[str, Any]], info: dict[str, Any], out_dir: Path) -> None:
    """The results into the run's logger: its own way where it has one (``log_results``:
    :class:`gennape.evaluation.wandb_log.RunLogger`), else every metric once, under the keys of
    :mod:`gennape.evaluation.metric_keys`."""
    if logger is None:
        return
    if hasattr(logger, "log_results"):
        logger.log_results(rows, info, out_dir)
        return
    logger.log_metrics({**row_metrics(rows), **info_metrics(info)})
    logger.save()


@register_protocol("transfer")
def train(cfg: DictConfig) -> dict[str, Any]:
    """Train every configured model, evaluate the transfer protocol, save and return the results.

    Args:
        cfg: the composed config (see ``conf/config.yaml``).

    Returns:
        ``{"rows": table rows, "info": timings per model and seed, "output_dir": str}``.
    """
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    resume = cfg.get("ckpt_path") is not None
    out_dir = Path(cfg.ckpt_path if resume else cfg.output_dir)
    if resume and not out_dir.is_dir():
        raise SystemExit(f"ckpt_path={out_dir}: no such run folder")
    added = check_same_run(cfg, out_dir) if resume else []
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    logger = instantiate(cfg.logger) if cfg.get("logger") else None
    if logger is not None:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    d = cfg.data
    t0 = time.perf_counter()
    train_keys = expand_keys(d.train)
    sources = [_load(k, d.limit, d) for k in train_keys]
    targets = [_load(k, d.target_limit, d) for k in expand_keys(d.targets) if k not in train_keys]
    configs = model_configs(cfg)
    # Shipped checkpoints scored beside the models, never trained; their features are attached too.
    ref_ckpts = {name: load_checkpoint(PROJECT_ROOT / path)  # relative to the project
                 for name, path in (cfg.eval.get("reference_models") or {}).items()}
    features, scaling = aux_features({**configs, **{f"reference {n}": {"aux_features": c.aux_features,
                                                                        "aux_scaling": c.aux_scaling}
                                                     for n, c in ref_ckpts.items()}})
    # Features no model reads, attached after the models' own columns where a family's store holds
    # them (for every architecture, or for part: then on that part), only to be reported alone.
    extra = [n for n in cfg.eval.get("feature_baselines") or [] if n not in features]
    attached = features + extra  # the nets read their columns by position among the first ones
    # A column a family's store lacks is simply missing, and so is every stored column of a family
    # without a store (TransNAS scene networks, whose classifier differs): one line names them.
    needs_store = any(n not in GRAPH_FEATURES for n in features)
    storeless = []
    for fam in (*sources, *targets):
        if features or extra:
            attach_features(fam.graphs, fam.variant, features + extra, scaling, require_store=False)
            if needs_store and not default_store(fam.variant).is_file():
                storeless.append(fam.key)
    if storeless:
        print(f"no feature table for {', '.join(storeless)}: their proxies and NNGP count as missing")
    stored_of = {fam.key: stored_baselines(fam, extra) for fam in targets}
    references = {name: _reference(ckpt, attached) for name, ckpt in ref_ckpts.items()}
    selection: dict[str, Any] = {}
    for name, mc in configs.items():  # a feature selection made on the training tasks alone
        if mc.get("aux_select") and mc["aux_features"]:
            kept, corr = select_features(mc["aux_select"], sources, mc["aux_features"],
                                         [features.index(n) for n in mc["aux_features"]])
            dropped = [n for n in mc["aux_features"] if n not in kept]
            print(f"{name}: features kept by {mc['aux_select']} over the training tasks: {', '.join(kept) or 'none'}"
                  + (f"; dropped: " + "; ".join(f"{n} (" + ", ".join(f"{t} {v:+.2f}" for t, v in corr[n].items())
                                                 + ")" for n in dropped) if dropped else ""))
            mc["aux_features"], mc["aux_dim"] = kept, len(kept)
            selection[name] = {"method": mc["aux_select"], "kept": kept, "task_srcc": corr}
    own = [features.index(n) for n in configs[cfg.model.name]["aux_features"]]
    parts = [_split(fam, i, d, own) for i, fam in enumerate(sources)]
    train_g = [g for tr, _, _ in parts for g in tr.graphs]
    val_g = [g for _, va, _ in parts for g in va.graphs]
    tests = [te for _, _, te in parts if len(te)]
    # each training task's scale, from its training part alone: what a score model's MAE is read on
    scales = {tr.key: label_quantiles(tr) for tr, _, _ in parts}
    weights = None
    if len(sources) > 1 and d.get("task_alpha") is not None:  # every task its share of the draws
        shares = task_weights({fam.key: len(tr) for fam, (tr, _, _) in zip(sources, parts)}, float(d.task_alpha))
        weights = sample_weights([int(g.task) for g in train_g], [shares[fam.key] for fam in sources])
    info: dict[str, Any] = {"graph_load_seconds": time.perf_counter() - t0, "train_size": len(train_g),
                            "val_size": len(val_g), "test_size": sum(len(te) for te in tests),
                            "tasks": {fam.key: len(tr) for fam, (tr, _, _) in zip(sources, parts)},
                            "code": code_version(), "aux_selection": selection}
    ft = FinetuneConfig(**{**cfg.eval.fine_tune, "samples": 0})
    samples = cfg.eval.fine_tune.samples
    samples = list(samples) if OmegaConf.is_list(samples) or isinstance(samples, list) else [int(samples)]
    # Every feature alone as a baseline on the same architectures (FLOPs and params are there already).
    baselines = list(cfg.eval.baselines) + [f"feature:{n}" for n in features if n not in cfg.eval.baselines]
    for te in tests:
        stored_of[te.key] = stored_baselines(te, extra)
    tables, nets, uncertainty = [], {}, []
    for seed in cfg.seeds:
        nets = {}
        for name, mc in configs.items():
            nets[name], info[f"{name}/seed{seed}"] = build_and_fit(
                mc, train_g, val_g, trainer_kwargs, logger, out_dir / f"{name}_seed{seed}", seed, resume, attached,
                d.labels, weights, d.get("draws_per_epoch"))
        main_cfg = configs[cfg.model.name]
        if main_cfg.get("prior"):  # the zero-shot prior, fitted on the training split alone
            nets[cfg.model.name].prior = training_prior(main_cfg["prior"], [(fam.key, tr.graphs, tr.y)
                                                                            for fam, (tr, _, _) in zip(sources, parts)])
        nets |= references
        if seed == cfg.seeds[0]:
            ckpt = save_checkpoint(out_dir / "model.ckpt", nets[cfg.model.name], main_cfg,
                                   aux_features=main_cfg["aux_features"], aux_scaling=main_cfg["aux_scaling"],
                                   meta={"family": ", ".join(fam.key for fam in sources),
                                         "target": ", ".join(fam.target for fam in sources), "seed": seed,
                                         "train_size": len(train_g), "labels": d.labels,
                                         "aux_selection": selection.get(cfg.model.name),
                                         **({"prior": nets[cfg.model.name].prior.to_meta()}
                                            if getattr(nets[cfg.model.name], "prior", None) else {}),
                                         "tasks": {fam.key: label_quantiles(fam) for fam in sources},
                                         "overrides": overrides()})
            print(f"checkpoint: {ckpt}")
        with without_prior(nets[cfg.model.name]):  # a family it trained on: the GNN alone, as --task does
            rows = [r for te in tests
                    for r in zero_shot_rows(nets, te, baselines, stored_of[te.key], "in-family test", scales[te.key])]
        for fam in targets:
            stored = stored_of[fam.key]
            rows += zero_shot_rows(nets, fam, baselines, stored)
            if seed == cfg.seeds[0]:
                uncertainty.append(uncertainty_check(nets[cfg.model.name], fam))
            if ft.seeds > 0 and (cfg.eval.get("fine_tune_tasks", "all") == "all" or fam.task is None):
                tuned = {n: net for n, net in nets.items() if n not in (cfg.eval.get("reference_models") or {})}
                caches = {name: FinetuneCache(out_dir / f"{name}_seed{seed}") for name in tuned}
                for k in samples:
                    rows += fine_tuned(tuned, fam, replace(ft, samples=k),
                                       baselines + [f"feature:{n}" for n in stored.full], trainer_kwargs, caches)
        tables.append(rows)
    rows = tables[0] if len(tables) == 1 else aggregate_seeds(tables)
    info["total_seconds"] = time.perf_counter() - t0
    if resume and (prev := previous_info(out_dir)) is not None:  # a finished run, evaluated again
        info["first_total_seconds"] = prev.get("first_total_seconds", prev.get("total_seconds"))
        if code := prev.get("first_code", prev.get("code")):
            info["first_code"] = code
        info["evaluated_with"] = ["python train.py", *overrides()]
    if added:
        info["extended_with"] = added
    save_results(rows, out_dir, {"info": info, "uncertainty": uncertainty,
                                 "config": OmegaConf.to_container(cfg, resolve=True)})
    print(markdown_tables(rows))
    for u in uncertainty:
        print(f"uncertainty on {u['family']} (zero-shot, {cfg.model.name}): Spearman with |error| "
              f"{u['srcc_uncertainty_abs_error']}, MAE most/least certain quarter "
              f"{u['mae_most_certain_quarter']:.2f} / {u['mae_least_certain_quarter']:.2f}")
    if cfg.eval.plots:
        _plots(nets, cfg.model.name, [*tests, *targets], {te.key for te in tests}, scales, out_dir)
    _log(logger, rows, info, out_dir)
    return {"rows": rows, "info": info, "output_dir": str(out_dir)}


@register_protocol("lofo")
def lofo(cfg: DictConfig) -> dict[str, Any]:
    """Leave-one-family-out (``experiment=lofo``): one ``train`` run per held-out family F of
    ``lofo.families`` in ``<run>/<F>/``, trained on every other task of ``data.train`` and scored on
    F's; a finished fold is read back, an interrupted one resumed. Writes ``lofo.md`` / ``lofo.json``
    (:mod:`gennape.evaluation.lofo`) and ``results.md`` / ``results.json`` (every fold's rows)."""
    out_dir = Path(cfg.ckpt_path if cfg.get("ckpt_path") else cfg.output_dir)
    if cfg.get("ckpt_path"):
        check_same_run(cfg, out_dir)
    keys = expand_keys(cfg.data.train)
    families = list(cfg.lofo.families)
    rows, info, uncertainty = [], {}, []
    for fam in families:
        fold_dir = out_dir / fam
        done = fold_dir / "results.json"
        if done.is_file():
            res = json.loads(done.read_text())
            print(f"lofo: {fam} finished earlier ({done})")
        else:
            fold_dir.mkdir(parents=True, exist_ok=True)
            held = [k for k in keys if family_of(k) == fam]
            if not held:
                raise SystemExit(f"lofo.families: {fam} has no task in data.train ({', '.join(keys)})")
            fold = OmegaConf.merge(cfg, {"data": {"train": [k for k in keys if k not in held], "targets": held},
                                         "output_dir": str(fold_dir), "ckpt_path": str(fold_dir)})
            print(f"lofo: holding out {fam} ({', '.join(held)})")
            train(fold)
            res = json.loads(done.read_text())
        rows += res["rows"]
        info[fam] = res["info"]
        uncertainty += res.get("uncertainty", [])
    summary = lofo_report.summarise(rows, families, cfg.model.name)
    save_results(rows, out_dir, {"info": info, "uncertainty": uncertainty,
                                 "config": OmegaConf.to_container(cfg, resolve=True)})
    (out_dir / "lofo.json").write_text(json.dumps({"summary": summary, "targets": lofo_report.targets(summary)},
                                                  indent=2, default=float))
    table = lofo_report.markdown(summary, cfg.model.name) + "\n" + lofo_report.uncertainty_markdown(uncertainty)
    (out_dir / "lofo.md").write_text(table)
    print(table)
    return {"rows": rows, "info": info, "summary": summary, "output_dir": str(out_dir)}


def _plots(nets: dict[str, GennapeNet], main: str, families: list[Family], tests: set[str],
           scales: dict[str, list[float]], out_dir: Path) -> None:
    """``pred_vs_true_<task>.png`` for every family (each prediction on its task's scale where the
    main model has one: ``scales``, the training tasks' label quantiles, for their test parts) and
    ``embedding.png``."""
    from gennape.model.plots import embedding_figure, pred_vs_true_figure, save

    net = nets[main]
    embeddings = {}
    for fam in families:
        res = predict(net, fam.graphs, details=True)
        label = f"{fam.key} (in-family test)" if fam.key in tests else f"{fam.key} (zero-shot)"
        pred, scale = task_scale(net, res["accuracy"], scales[fam.key] if fam.key in tests else None)
        save(pred_vs_true_figure(fam.y, pred, f"{main} on {label}", scale),
             out_dir / f"pred_vs_true_{fam.key.replace('/', '_')}.png")
        embeddings[label] = res["embedding"]
    if embeddings:
        save(embedding_figure(embeddings, f"graph embeddings of {main} (PCA)"), out_dir / "embedding.png")


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run the protocol ``cfg.protocol`` names (default ``transfer``) on ``cfg``."""
    return get_protocol(cfg.get("protocol") or DEFAULT)(cfg)


def objective(res: dict[str, Any], model: str) -> float:
    """A run's sweep objective: ``model``'s mean zero-shot SRCC over the target families (NaN if none)."""
    zs = [r["srcc"] for r in res["rows"] if r["setting"] == "zero-shot" and r["method"] == model]
    return float(np.mean(zs)) if zs else float("nan")
