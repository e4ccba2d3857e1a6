"""Train gennape predictors and report transfer to other families (Hydra entry point).

    python train.py                                   # GENNAPE on NB-201 -> NB-101, NB-301
    python train.py trainer=fast                      # smoke run (about a minute)
    python train.py experiment=nb101_to_nb201         # the paper's direction
    python train.py experiment=ablation               # Table 3, 5 seeds
    python train.py model.heads=8 trainer.max_epochs=60 logger=wandb
    python train.py -m model.heads=1,4,8              # sweep (multirun/)
    python train.py experiment=X ckpt_path=outputs/D/T # resume a killed run (its own overrides again)

Writes ``results.md``, ``results.json``, plots and ``model.ckpt`` (the main model of the first seed,
readable by ``predict.py --checkpoint``) to the run folder (Hydra's output dir).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import gennape

from gennape.evaluate import (aggregate_seeds, fine_tuned, markdown_tables, save_results, split_indices,
                              uncertainty_check, zero_shot)
from gennape.features.store import default_path
from gennape.finetune_cache import FinetuneCache
from gennape.model.auxiliary import attach_features, stored_coverage
from gennape.model.checkpoint import build_kwargs, save_checkpoint
from gennape.model.dataset import Family, load_graphs
from gennape.model.pipeline import FinetuneConfig, PretrainConfig, RegressConfig, fit, predict
from gennape.model.predictor import GennapeNet, build_net



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
    cover = stored_coverage(family.graphs, family.name, names)
    full = [n for n in names if cover[n].all()]
    partial = [n for n in names if cover[n].any() and not cover[n].all()]
    subset = np.flatnonzero(np.logical_and.reduce([cover[n] for n in partial])) if partial else np.array([], int)
    if partial:
        print(f"{family.name}: single-feature baselines {', '.join(partial)} stored for part of the family only: "
              f"scored on the {len(subset)} of {len(family)} architectures that have them all")
    if absent := [n for n in names if not cover[n].any()]:
        print(f"{family.name}: single-feature baselines skipped, not stored: {', '.join(absent)} "
              f"(python -m gennape.features family={family.name} features=[{','.join(absent)}])")
    return StoredBaselines(full, partial, subset.tolist())


def zero_shot_rows(nets: dict[str, GennapeNet], family: Family, baselines: list[str], stored: StoredBaselines,
                   setting: str = "zero-shot") -> list[dict[str, Any]]:
    """Zero-shot rows on every architecture of ``family`` (with the fully stored features alone),
    then, when some features are stored for part of it, on that part with those features too."""
    full = [f"feature:{n}" for n in stored.full]
    rows = zero_shot(nets, family, baselines + full, setting)
    if stored.subset:
        part = [f"feature:{n}" for n in stored.partial]
        rows += zero_shot(nets, family.subset(stored.subset), baselines + full + part,
                          f"{setting}, {len(stored.subset)} with features")
    return rows


# What must match for a resumed run to continue the same experiment (not the trainer, logger, paths).
RUN_KEYS = ("data", "model", "baseline", "eval", "seed", "seeds")
# eval keys that change only what is reported beside the models: a finished run is evaluated again
# with other values (e.g. the single-feature baselines a store has gained since).
REPORT_KEYS = ("baselines", "feature_baselines", "plots")


def check_same_run(cfg: DictConfig, run_dir: Path) -> list[str]:
    """Refuse to resume ``run_dir`` with another experiment than the one it was started with
    (``ckpt_path=`` does not bring the run's own overrides back: pass them again). Returns the
    variants the command adds to the run, the one change allowed."""
    saved_path = run_dir / ".hydra" / "config.yaml"
    if not saved_path.is_file():
        return []

    def plain(v: Any) -> Any:
        return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v

    def settings(c: Any, key: str) -> Any:
        v = plain(c.get(key))
        return {k: x for k, x in v.items() if k not in REPORT_KEYS} if key == "eval" and isinstance(v, dict) else v

    saved = OmegaConf.load(saved_path)
    differ = [k for k in RUN_KEYS if settings(saved, k) != settings(cfg, k)]
    if differ == ["eval"] and (added := added_variants(settings(saved, "eval"), settings(cfg, "eval"))):
        print(f"ckpt_path={run_dir}: extending the run with variants {', '.join(added)} "
              f"(the others' finished stages are loaded)")
        return added
    if differ:
        over = run_dir / ".hydra" / "overrides.yaml"
        was = " ".join(OmegaConf.load(over)) if over.is_file() else "?"
        keys = [d for k in differ for d in _differences(settings(saved, k), settings(cfg, k), k)]
        raise SystemExit(f"ckpt_path={run_dir}: this command's {', '.join(differ)} differ from the run's "
                         f"({'; '.join(keys[:6])}{'; ...' if len(keys) > 6 else ''}); resume it with the overrides "
                         f"it was started with: python train.py {was} ckpt_path={run_dir}")
    return []


def _differences(saved: Any, now: Any, path: str) -> list[str]:
    """The dotted keys where two plain configs differ, with both values ('absent' where a key is
    new since the run was made: remove it with ``~key`` to evaluate the run again)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        return [d for k in dict.fromkeys([*saved, *now])
                for d in _differences(saved.get(k, _ABSENT), now.get(k, _ABSENT), f"{path}.{k}")]
    if saved == now:
        return []
    was, new = ("absent" if v is _ABSENT else repr(v) for v in (saved, now))
    return [f"{path}: run {was}, now {new}"]


_ABSENT = object()


def added_variants(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The ``eval.variants`` that ``now`` adds to ``saved``, if that is all that differs (a finished
    run can be extended with new models; the splits and the models it has stay the same)."""
    old, new = saved.get("variants") or {}, now.get("variants") or {}
    same_otherwise = ({k: v for k, v in now.items() if k != "variants"}
                      == {k: v for k, v in saved.items() if k != "variants"})
    if not same_otherwise or any(new.get(k) != v for k, v in old.items()):
        return []
    return [k for k in new if k not in old]


def build_and_fit(mc: dict[str, Any], train: Family, val: Family, trainer_kwargs: dict[str, Any],
                  logger: Any, root_dir: Path, seed: int, resume: bool = False,
                  attached: list[str] | None = None) -> tuple[GennapeNet, dict[str, Any]]:
    """A fresh net from model config ``mc``, fitted on ``train`` with early stopping on ``val``
    (``resume``: pick up the stages kept in ``root_dir``; ``attached``: the features the graphs
    carry, of which the net reads its own)."""
    net = build_net(**build_kwargs(mc), seed=seed)
    attached = list(attached or [])
    if mc["aux_features"] and list(mc["aux_features"]) != attached:
        net.aux_columns = [attached.index(n) for n in mc["aux_features"]]
    info = fit(net, train.graphs, val.graphs if len(val) else None, PretrainConfig(**mc["pretrain"]),
               RegressConfig(**mc["regress"]), trainer_kwargs, logger, root_dir, seed, resume,
               fill_unseen=mc.get("fill_unseen_ops", True))
    return net, info


def _log(logger: Any, rows: list[dict[str, Any]], info: dict[str, Any], out_dir: Path) -> None:
    if logger is None:
        return
    metrics = {f"{r['family']}/{r['setting']}/{r['method']}/{m}": r[m]
               for r in rows for m in ("srcc", "kendall", "ndcg10", "mae") if r.get(m) is not None}
    logger.log_metrics({**metrics, **{k: v for k, v in info.items() if isinstance(v, (int, float))}})
    if hasattr(logger, "log_text"):  # W&B: the table as a table
        cols = ["family", "setting", "method", "srcc", "kendall", "ndcg10", "mae"]
        logger.log_text("results", columns=cols, data=[[r.get(c) for c in cols] for r in rows])
    if hasattr(logger, "log_image"):
        for png in sorted(out_dir.glob("*.png")):
            logger.log_image(png.stem, [str(png)])


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
    source = load_graphs(d.source, d.target, d.limit, d.split_seed, workers=d.workers)
    targets = [load_graphs(f, None, d.target_limit, d.split_seed, workers=d.workers) for f in d.targets]
    configs = model_configs(cfg)
    features, scaling = aux_features(configs)
    # Features no model reads, attached after the models' own columns where a family's store holds
    # them (for every architecture, or for part: then on that part), only to be reported alone.
    extra = [n for n in cfg.eval.get("feature_baselines") or [] if n not in features]
    attached = features + extra  # the nets read their columns by position among the first ones
    for fam in (source, *targets):  # a column a family's store lacks is simply missing
        if features or (extra and default_path(fam.name).is_file()):
            attach_features(fam.graphs, fam.name, features + extra, scaling)
    stored_of = {fam.name: stored_baselines(fam, extra) for fam in targets}
    own = [features.index(n) for n in configs[cfg.model.name]["aux_features"]]
    if own and d.get("featured_only"):  # only architectures with all of the main model's features
        # (not the variants': adding a variant to a run must not change everyone's split)
        source = source.subset([i for i, g in enumerate(source.graphs) if bool(g.aux_mask[0, own].all())])
    tr, va, te = split_indices(len(source), d.val_fraction, d.test_fraction, d.split_seed)
    train_f, val_f, test_f = source.subset(tr), source.subset(va), source.subset(te)
    info: dict[str, Any] = {"graph_load_seconds": time.perf_counter() - t0, "train_size": len(train_f),
                            "val_size": len(val_f), "test_size": len(test_f), "code": code_version()}
    ft = FinetuneConfig(**cfg.eval.fine_tune)
    # Every feature alone as a baseline on the same architectures (FLOPs and params are there already).
    baselines = list(cfg.eval.baselines) + [f"feature:{n}" for n in features if n not in cfg.eval.baselines]
    stored_of[source.name] = stored_baselines(test_f, extra) if len(test_f) else StoredBaselines([], [], [])
    tables, nets, uncertainty = [], {}, []
    for seed in cfg.seeds:
        nets = {}
        for name, mc in configs.items():
            nets[name], info[f"{name}/seed{seed}"] = build_and_fit(
                mc, train_f, val_f, trainer_kwargs, logger, out_dir / f"{name}_seed{seed}", seed, resume, attached)
        if seed == cfg.seeds[0]:
            main_cfg = configs[cfg.model.name]
            ckpt = save_checkpoint(out_dir / "model.ckpt", nets[cfg.model.name], main_cfg,
                                   aux_features=main_cfg["aux_features"], aux_scaling=main_cfg["aux_scaling"],
                                   meta={"family": source.name, "target": source.target, "seed": seed,
                                         "train_size": len(train_f), "overrides": _overrides()})
            print(f"checkpoint: {ckpt}")
        rows = zero_shot_rows(nets, test_f, baselines, stored_of[source.name], "in-family test") if len(test_f) else []
        for fam in targets:
            stored = stored_of[fam.name]
            rows += zero_shot_rows(nets, fam, baselines, stored)
            if seed == cfg.seeds[0]:
                uncertainty.append(uncertainty_check(nets[cfg.model.name], fam))
            if ft.seeds > 0:
                caches = {name: FinetuneCache(out_dir / f"{name}_seed{seed}") for name in nets}
                rows += fine_tuned(nets, fam, ft, baselines + [f"feature:{n}" for n in stored.full], trainer_kwargs, caches)
        tables.append(rows)
    rows = tables[0] if len(tables) == 1 else aggregate_seeds(tables)
    info["total_seconds"] = time.perf_counter() - t0
    if resume and (prev := _previous_info(out_dir)) is not None:  # a finished run, evaluated again
        info["first_total_seconds"] = prev.get("first_total_seconds", prev.get("total_seconds"))
        if code := prev.get("first_code", prev.get("code")):
            info["first_code"] = code
        info["evaluated_with"] = ["python train.py", *_overrides()]
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
        _plots(nets, cfg.model.name, [f for f in (test_f, *targets) if len(f)], source, out_dir)
    _log(logger, rows, info, out_dir)
    if logger is not None and hasattr(logger, "experiment") and hasattr(logger.experiment, "finish"):
        logger.experiment.finish()
    return {"rows": rows, "info": info, "output_dir": str(out_dir)}


def code_version() -> str:
    """The commit the run's code came from (``+changes`` when the work tree differs from it), or
    the package version outside a git checkout, so every result can be traced to its code."""
    root = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "gennape", "conf", "train.py"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"gennape {gennape.__version__}"
    return head + ("+changes" if dirty else "")


def _previous_info(run_dir: Path) -> dict[str, Any] | None:
    """The ``info`` of the run's last finished call, if it finished (``first_*`` keys keep the first
    call's wall time and code across re-evaluations)."""
    path = run_dir / "results.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("info", {})


def _overrides() -> list[str]:
    """The command-line overrides of this run (empty outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under @hydra.main (tests compose the config themselves)
        return []


def _plots(nets: dict[str, GennapeNet], main: str, families: list[Family], source: Family, out_dir: Path) -> None:
    from gennape.model.plots import embedding_pca, pred_vs_true

    net = nets[main]
    embeddings = {}
    for fam in families:
        res = predict(net, fam.graphs, details=True)
        label = fam.name if fam.name != source.name else f"{fam.name} (test)"
        pred_vs_true(fam.y, res["accuracy"], f"{main}: {label}", out_dir / f"pred_vs_true_{fam.name}.png")
        embeddings[label] = res["embedding"]
    if embeddings:
        embedding_pca(embeddings, out_dir / "embedding.png")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Hydra entry; returns the main model's mean zero-shot SRCC (a sweep objective)."""
    res = train(cfg)
    zs = [r["srcc"] for r in res["rows"] if r["setting"] == "zero-shot" and r["method"] == cfg.model.name]
    return float(np.mean(zs)) if zs else float("nan")


if __name__ == "__main__":
    main()
