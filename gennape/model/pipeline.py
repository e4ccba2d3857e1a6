"""Fitting a GennapeNet: normalisers, contrastive pretraining, FCM, regression, fine-tuning.

Lightning runs every loop; this module only orders the stages and hands each the right data:

1. node-feature and target-transform statistics from the training graphs;
2. (optional) contrastive pretraining of the encoder;
3. fuzzy c-means on the training embeddings (centroids frozen from here on);
4. regression of the heads (and encoder) with early stopping on a validation split, restoring
   the best epoch's weights;
5. ops that no training graph contains get the embedding learnt for their kind (their rows are
   still random: nothing trained them).

With a ``root_dir``, every Lightning stage keeps ``<root_dir>/<stage>/last.ckpt`` (weights,
optimizer, scheduler, callbacks) after each epoch and the network's state after each finished
stage in ``<root_dir>/stages/<stage>.pt``. ``fit(..., resume=True)`` on the same ``root_dir`` then
loads the finished stages and continues the interrupted one from its last epoch.
"""

from __future__ import annotations

import copy
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torch.utils.data import WeightedRandomSampler
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from gennape.model.lightning_modules import ContrastiveModule, RegressionModule
from gennape.model.prediction import head_spread, predict  # noqa: F401 - importable from here as before
from gennape.model.predictor import GennapeNet


@dataclass
class PretrainConfig:
    """Contrastive stage. ``enabled=False`` skips it (baseline / ablation)."""

    enabled: bool = True
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    spectral_temperature: float = 1.0
    soft_positives: bool = True
    proj_dim: int = 64


@dataclass
class RegressConfig:
    """Regression stage; early stopping watches ``monitor`` on the validation split."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    encoder_lr_scale: float = 1.0
    weight_decay: float = 1e-4
    patience: int = 20
    monitor: str = "val/srcc"
    mode: str = "max"
    rank_weight: float = 0.0  # pairwise ranking loss beside the MSE (predictor.pairwise_rank_loss)


@dataclass
class FinetuneConfig:
    """Fine-tuning on a few labelled graphs of a new family (GENNAPE: 50 graphs, 100 epochs)."""

    samples: int = 50
    epochs: int = 100
    seeds: int = 5
    batch_size: int = 16
    lr: float = 1e-3
    encoder_lr_scale: float = 1.0
    weight_decay: float = 1e-4
    refit_transform: bool = True
    divide_by_flops: bool | None = None
    rank_weight: float = 0.0
    # With at least ``early_stop_min`` labels, ``val_fraction`` of them (at least 4) are held out
    # and the epoch with the lowest loss on them is kept (patience ``patience`` epochs); fewer
    # labels train for ``epochs`` on all of them.
    early_stop_min: int = 20
    val_fraction: float = 0.2
    patience: int = 50


class EpochTimer(Callback):
    """Wall-clock seconds of every training epoch (validation included)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._t = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds.append(time.perf_counter() - self._t)


def loader(graphs: Sequence[Data], batch_size: int, shuffle: bool = False, seed: int = 0,
           weights: np.ndarray | None = None, draws: int | None = None) -> DataLoader:
    """A PyG DataLoader; shuffling is seeded so runs repeat. With ``weights`` (one per graph, as
    :func:`gennape.model.corpus.sample_weights` gives), an epoch is ``draws`` (default
    ``len(graphs)``) draws with replacement in those proportions instead of a permutation."""
    gen = torch.Generator().manual_seed(seed) if shuffle or weights is not None else None
    if weights is not None:
        sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), draws or len(graphs),
                                        generator=gen)
        return DataLoader(list(graphs), batch_size=batch_size, sampler=sampler)
    return DataLoader(list(graphs), batch_size=batch_size, shuffle=shuffle, generator=gen)


def make_trainer(epochs: int, trainer_kwargs: dict[str, Any] | None = None, logger: Any = None,
                 callbacks: Sequence[Callback] = (), root_dir: str | Path | None = None) -> L.Trainer:
    """A Lightning Trainer for one stage.

    Args:
        epochs: the stage's epochs; ``trainer_kwargs["max_epochs"]`` (if set) caps them.
        trainer_kwargs: Trainer arguments from the ``trainer`` config group; its ``callbacks``
            (if any) are added to the stage's.
        logger: a Lightning logger or None.
        callbacks: stage callbacks.
        root_dir: where Lightning writes (checkpoints).
    """
    kw = dict(trainer_kwargs or {})
    callbacks = [*callbacks, *(kw.pop("callbacks", None) or ())]
    cap = kw.pop("max_epochs", None)
    kw.setdefault("enable_model_summary", False)
    kw.setdefault("log_every_n_steps", 10)
    return L.Trainer(max_epochs=min(epochs, cap) if cap else epochs, logger=logger if logger else False,
                     callbacks=list(callbacks), default_root_dir=str(root_dir) if root_dir else None,
                     enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks), **kw)


@torch.no_grad()
def embed(net: GennapeNet, graphs: Sequence[Data], batch_size: int = 512) -> torch.Tensor:
    """Eval-mode graph embeddings ``[N, D]``."""
    net.eval()
    return torch.cat([net.embed(b) for b in loader(graphs, batch_size)])


def fit_normalisers(net: GennapeNet, train: Sequence[Data]) -> None:
    """Node-feature, target-transform and auxiliary-feature statistics from the training graphs."""
    net.encoder.feat_norm.fit(torch.cat([net.encoder.node_features(b) for b in loader(train, 1024)]))
    net.transform.fit(torch.cat([d.y for d in train]), torch.cat([d.flops for d in train]))
    if net.heads.aux_dim and all(hasattr(d, "aux") for d in train):
        aux, mask = zip(*(net.aux_inputs(d) for d in train))
        net.heads.fit_aux(torch.cat(aux), torch.cat(mask))


def _last_epoch(stage_dir: Path | None) -> list[Callback]:
    """A callback keeping ``<stage_dir>/last.ckpt`` (full training state) after every epoch."""
    if stage_dir is None:
        return []
    return [ModelCheckpoint(dirpath=stage_dir, filename="last", monitor=None, save_top_k=1,
                            enable_version_counter=False)]


def _resume_from(stage_dir: Path | None, resume: bool) -> str | None:
    last = stage_dir / "last.ckpt" if stage_dir is not None else None
    return str(last) if resume and last is not None and last.is_file() else None


def pretrain(net: GennapeNet, train: Sequence[Data], val: Sequence[Data] | None, cfg: PretrainConfig,
             trainer_kwargs: dict[str, Any] | None = None, logger: Any = None, seed: int = 0,
             stage_dir: Path | None = None, resume: bool = False, weights: np.ndarray | None = None,
             draws: int | None = None) -> dict[str, Any]:
    """Contrastive pretraining of ``net.encoder`` in place; returns timings.

    With ``stage_dir``, ``last.ckpt`` is kept there after every epoch; ``resume`` continues from it.
    """
    module = ContrastiveModule(net.encoder, cfg.proj_dim, cfg.temperature, cfg.spectral_temperature,
                               cfg.soft_positives, cfg.lr, cfg.weight_decay)
    timer = EpochTimer()
    callbacks = [timer, *_last_epoch(stage_dir)]
    trainer = make_trainer(cfg.epochs, trainer_kwargs, logger, callbacks, stage_dir)
    module.train()  # Lightning keeps module modes; embed() may have left the net in eval mode
    # Batches of one graph have no negatives; drop the remainder would need a custom loader.
    trainer.fit(module, loader(train, cfg.batch_size, True, seed, weights, draws),
                loader(val, cfg.batch_size) if val else None, ckpt_path=_resume_from(stage_dir, resume))
    return {"pretrain_epochs": len(timer.seconds), "pretrain_s_per_epoch": _mean(timer.seconds)}


def fill_unseen_ops(net: GennapeNet, train: Sequence[Data]) -> list[str]:
    """Learnt embeddings for the ops no training graph has (see ``GraphEncoder.fill_unseen_ops``):
    a family never seen in training (NB-101's Concat and MaxPool after NB-201) must not be encoded
    through rows left at their random initialisation."""
    seen = torch.zeros(net.encoder.num_ops, dtype=torch.bool)
    for d in train:
        seen[d.op] = True
    return net.encoder.fill_unseen_ops(seen)


def fit_clusters(net: GennapeNet, train: Sequence[Data]) -> np.ndarray:
    """Fuzzy c-means on the training embeddings; freezes the centroids in ``net.fcm``."""
    return net.fcm.fit(embed(net, train)).numpy()


def regress(net: GennapeNet, train: Sequence[Data], val: Sequence[Data] | None, cfg: RegressConfig,
            trainer_kwargs: dict[str, Any] | None = None, logger: Any = None,
            stage_dir: str | Path | None = None, seed: int = 0, resume: bool = False,
            weights: np.ndarray | None = None, draws: int | None = None) -> dict[str, Any]:
    """Regression stage in place; with ``val``, early stopping and the best epoch restored.

    With ``stage_dir``, the best and the last epoch are kept there (``best.ckpt``, ``last.ckpt``);
    ``resume`` continues from ``last.ckpt``.
    """
    module = RegressionModule(net, cfg.lr, cfg.encoder_lr_scale, cfg.weight_decay, cfg.rank_weight)
    timer = EpochTimer()
    stage = Path(stage_dir) if stage_dir is not None else None
    callbacks: list[Callback] = [timer, *_last_epoch(stage)]
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = None
        if val:
            ckpt = ModelCheckpoint(dirpath=stage or Path(tmp), monitor=cfg.monitor, mode=cfg.mode, save_top_k=1,
                                   save_weights_only=True, filename="best", enable_version_counter=False)
            callbacks += [ckpt, EarlyStopping(cfg.monitor, patience=cfg.patience, mode=cfg.mode)]
        trainer = make_trainer(cfg.epochs, trainer_kwargs, logger, callbacks, stage or tmp)
        module.train()  # Lightning keeps module modes; embed() may have left the net in eval mode
        with warnings.catch_warnings():  # fine-tuning has no validation split, by design
            warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
            trainer.fit(module, loader(train, cfg.batch_size, True, seed, weights, draws),
                        loader(val, 512) if val else None, ckpt_path=_resume_from(stage, resume))
        best = None
        if ckpt is not None and ckpt.best_model_path:
            state = torch.load(ckpt.best_model_path, weights_only=True, map_location="cpu")["state_dict"]
            module.load_state_dict(state)
            best = float(ckpt.best_model_score) if ckpt.best_model_score is not None else None
    return {"regress_epochs": len(timer.seconds), "regress_s_per_epoch": _mean(timer.seconds),
            "best_" + cfg.monitor.replace("/", "_"): best}


def _save_stage(net: GennapeNet, root: Path | None, stage: str, info: dict[str, Any]) -> None:
    if root is None:
        return
    path = root / "stages" / f"{stage}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": net.state_dict(), "info": info}, tmp)
    tmp.replace(path)  # atomic: a stage file is either complete or absent


def _load_stage(net: GennapeNet, root: Path | None, stage: str, resume: bool) -> dict[str, Any] | None:
    """The info of a finished stage after loading its network state, or None if it must run."""
    path = root / "stages" / f"{stage}.pt" if root is not None else None
    if not resume or path is None or not path.is_file():
        return None
    blob = torch.load(path, weights_only=True, map_location="cpu")
    net.load_state_dict(blob["state_dict"])
    return dict(blob["info"])


def fit(net: GennapeNet, train: Sequence[Data], val: Sequence[Data] | None, pretrain_cfg: PretrainConfig,
        regress_cfg: RegressConfig, trainer_kwargs: dict[str, Any] | None = None, logger: Any = None,
        root_dir: str | Path | None = None, seed: int = 0, resume: bool = False,
        fill_unseen: bool = True, weights: np.ndarray | None = None, draws: int | None = None) -> dict[str, Any]:
    """All stages in order (see the module docstring); returns timings and the best val score.

    Args:
        root_dir: where stage checkpoints are kept (None = nowhere, no resuming).
        resume: load the stages finished in ``root_dir`` and continue the interrupted one.
        fill_unseen: give ops absent from ``train`` the embedding of their kind (stage 5; False
            leaves their random rows, for the ablation).
        weights: per-graph draw weights of ``train`` for both training stages (tasks of several
            families: :func:`gennape.model.corpus.sample_weights`); None = every graph once an epoch.
        draws: graphs drawn per epoch with ``weights`` (default: as many as ``train`` has).
    """
    L.seed_everything(seed, workers=True, verbose=False)
    t0 = time.perf_counter()
    root = Path(root_dir) if root_dir is not None else None
    done = _load_stage(net, root, "regress", resume)
    if done is not None:
        if fill_unseen:  # idempotent; runs saved before it existed get it too
            fill_unseen_ops(net, train)
        return done
    info: dict[str, Any] = {}
    fit_normalisers(net, train)
    if pretrain_cfg.enabled:
        pre = _load_stage(net, root, "pretrain", resume)
        if pre is None:
            pre = pretrain(net, train, val, pretrain_cfg, trainer_kwargs, logger, seed,
                           root / "pretrain" if root else None, resume, weights, draws)
            _save_stage(net, root, "pretrain", pre)
        info |= pre
    fit_clusters(net, train)
    info |= regress(net, train, val, regress_cfg, trainer_kwargs, logger, root / "regress" if root else None,
                    seed, resume, weights, draws)
    info["filled_ops"] = fill_unseen_ops(net, train) if fill_unseen else []
    info["fit_seconds"] = time.perf_counter() - t0
    _save_stage(net, root, "regress", info)
    return info


def fine_tune(net: GennapeNet, graphs: Sequence[Data], cfg: FinetuneConfig,
              trainer_kwargs: dict[str, Any] | None = None, seed: int = 0) -> GennapeNet:
    """A copy of ``net`` fine-tuned on ``graphs`` (centroids stay frozen; with enough labels, a
    part is held out for early stopping: :func:`split_labels`).

    With ``cfg.refit_transform`` the z-score statistics are refitted on ``graphs``: a new family
    has its own accuracy range, which a few labels estimate well enough (a model trained on
    normalised labels then predicts accuracies: the labels' mean and spread give its scale). ``cfg.divide_by_flops``
    (if not None) switches the FLOPs division of the target for the new family before that refit.
    """
    L.seed_everything(seed, workers=True, verbose=False)
    tuned = copy.deepcopy(net)
    if cfg.divide_by_flops is not None:
        if not cfg.refit_transform:
            raise ValueError("fine-tuning divide_by_flops needs refit_transform (new target statistics)")
        tuned.transform.divide_by_flops = cfg.divide_by_flops
    if cfg.refit_transform:
        tuned.transform.fit(torch.cat([d.y for d in graphs]), torch.cat([d.flops for d in graphs]))
        tuned.labels = "raw"  # it now predicts the labels given, in their unit
    train, val = split_labels(graphs, cfg, seed)
    rc = RegressConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                       encoder_lr_scale=cfg.encoder_lr_scale, weight_decay=cfg.weight_decay,
                       rank_weight=cfg.rank_weight, patience=cfg.patience, monitor="val/loss", mode="min")
    kw = {**(trainer_kwargs or {}), "enable_progress_bar": False}
    regress(tuned, train, val, rc, kw, None, None, seed)
    return tuned


def split_labels(graphs: Sequence[Data], cfg: FinetuneConfig, seed: int = 0) -> tuple[list[Data], list[Data] | None]:
    """The fine-tuning labels to train on and those held out for early stopping (None below
    ``cfg.early_stop_min`` labels)."""
    graphs = list(graphs)
    if cfg.val_fraction <= 0 or len(graphs) < cfg.early_stop_min:
        return graphs, None
    perm = np.random.default_rng(seed).permutation(len(graphs))
    n_val = max(4, int(round(len(graphs) * cfg.val_fraction)))
    return [graphs[i] for i in sorted(perm[n_val:])], [graphs[i] for i in sorted(perm[:n_val])]


def _mean(xs: list[float]) -> float | None:
    return float(np.mean(xs)) if xs else None
