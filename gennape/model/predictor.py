"""The predictor network and its two Lightning modules (contrastive pretraining, regression).

``GennapeNet`` is everything prediction needs (encoder with feature normalisation, frozen FCM
centroids, heads, target transform), all as parameters or buffers of one ``nn.Module``. The plain
k-GNN baseline is the same network with the GENNAPE parts switched off (one head, no clustering,
no FLOPs transform, no pretraining), so baseline and ablations share one code path.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch

from gennape.graph.encoding import NUM_FEATURES
from gennape.graph.ops import list_ops
from gennape.model.contrastive import ProjectionHead, soft_nt_xent
from gennape.model.encoder import GraphEncoder
from gennape.model.fcm import FuzzyCMeans
from gennape.model.heads import FuzzyHeads
from gennape.model.metrics import srcc
from gennape.model.transform import TargetTransform


class GennapeNet(nn.Module):
    """Encoder -> fuzzy memberships -> K heads -> inverse target transform.

    Args:
        encoder: graph encoder.
        fcm: fuzzy clustering of embeddings (K clusters = K heads).
        heads: the K heads.
        transform: accuracy <-> target map.
    """

    def __init__(self, encoder: GraphEncoder, fcm: FuzzyCMeans, heads: FuzzyHeads,
                 transform: TargetTransform) -> None:
        super().__init__()
        if fcm.num_clusters != heads.num_heads:
            raise ValueError(f"{fcm.num_clusters} clusters but {heads.num_heads} heads")
        self.encoder, self.fcm, self.heads, self.transform = encoder, fcm, heads, transform
        # Which of the graphs' auxiliary columns the heads take, when a run attaches more features
        # than this model uses (set by train.py; None = all of them, in order). Not saved: a
        # checkpoint's graphs carry exactly its own features.
        self.aux_columns: list[int] | None = None
        # What its outputs are: ``raw`` = accuracies in the training labels' unit; else the name of
        # the label normalisation it was trained on (a score: gennape.model.corpus). Saved in
        # checkpoints' metadata.
        self.labels = "raw"

    def aux_inputs(self, data: Batch) -> tuple[Tensor | None, Tensor | None]:
        """The heads' auxiliary values and mask from a batch (or graph): ``(None, None)`` for heads
        without features or graphs without them."""
        aux, mask = getattr(data, "aux", None), getattr(data, "aux_mask", None)
        if not self.heads.aux_dim or aux is None:
            return None, None
        if self.aux_columns is not None:
            aux, mask = aux[:, self.aux_columns], mask[:, self.aux_columns]
        return aux, mask

    def embed(self, batch: Batch) -> Tensor:
        """Graph embeddings ``[B, D]``."""
        return self.encoder(batch)

    def predict_target(self, batch: Batch) -> dict[str, Tensor]:
        """Transformed-space prediction ``target`` [B], ``per_head`` [B, K], ``memberships`` [B, K]."""
        z = self.embed(batch)
        u = self.fcm(z)
        target, per_head = self.heads(z, u, *self.aux_inputs(batch))
        return {"embedding": z, "target": target, "per_head": per_head, "memberships": u}

    def forward(self, batch: Batch) -> Tensor:
        """Predicted accuracy ``[B]`` (in the unit of the training targets, e.g. %)."""
        return self.transform.inverse(self.predict_target(batch)["target"], batch.flops)


def build_net(hidden: int = 64, num_layers: int = 4, layer: str = "graphconv", pool: str = "mean",
              dropout: float = 0.1, bidirectional: bool = True, residual: bool = True,
              relative_shapes: bool = False,
              heads: int = 1, fuzzifier: float = 2.0, head_hidden: int = 64,
              head_layers: int = 2, head_dropout: float = 0.0, aux_dim: int = 0,
              divide_by_flops: bool = True, standardize: bool = True, fit_flops_exponent: bool = False,
              seed: int = 0) -> GennapeNet:
    """A fresh :class:`GennapeNet` for the current op vocabulary (flat arguments for configs).

    Args:
        hidden, num_layers, layer, pool, dropout, bidirectional, residual: see GraphEncoder.
        relative_shapes: scale-free size features (GraphEncoder ``relative``).
        heads: K; 1 disables fuzzy clustering.
        fuzzifier: FCM exponent m.
        head_hidden, head_layers, head_dropout: see MLPHead.
        aux_dim: auxiliary features per graph (0 = none).
        divide_by_flops, standardize, fit_flops_exponent: see TargetTransform.
        seed: seed of the weight initialisation and of FCM.
    """
    torch.manual_seed(seed)
    enc = GraphEncoder(len(list_ops()), NUM_FEATURES, hidden, num_layers, layer, pool, dropout,
                       bidirectional, residual, relative_shapes)
    return GennapeNet(enc, FuzzyCMeans(heads, enc.out_dim, fuzzifier, seed=seed),
                      FuzzyHeads(enc.out_dim, heads, aux_dim, head_hidden, head_layers, head_dropout),
                      TargetTransform(divide_by_flops, standardize, fit_flops_exponent))


def _cosine_adamw(module: L.LightningModule, groups: list[dict[str, Any]], weight_decay: float) -> Any:
    opt = torch.optim.AdamW(groups, weight_decay=weight_decay)
    epochs = module.trainer.max_epochs if module.trainer and module.trainer.max_epochs else 1
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


class ContrastiveModule(L.LightningModule):
    """Pretrains an encoder with two dropout views per graph and (soft-positive) NT-Xent.

    Args:
        encoder: the encoder to train (shared with the GennapeNet, trained in place).
        proj_dim: projection head width.
        temperature: similarity temperature.
        spectral_temperature: spectral distance scale of the soft targets.
        soft_positives: use Laplacian spectra for soft targets (False = plain NT-Xent).
        lr: learning rate.
        weight_decay: AdamW weight decay.
    """

    def __init__(self, encoder: GraphEncoder, proj_dim: int = 64, temperature: float = 0.1,
                 spectral_temperature: float = 1.0, soft_positives: bool = True, lr: float = 1e-3,
                 weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.encoder, self.proj = encoder, ProjectionHead(encoder.out_dim, proj_dim)
        self.temperature, self.spectral_temperature = temperature, spectral_temperature
        self.soft_positives, self.lr, self.weight_decay = soft_positives, lr, weight_decay

    def _loss(self, batch: Batch) -> Tensor:
        # Dropout must differ between the views, so both passes run in train mode.
        was_training = self.encoder.training
        self.encoder.train()
        z1, z2 = self.proj(self.encoder(batch)), self.proj(self.encoder(batch))
        self.encoder.train(was_training)
        spectra = batch.spectrum if self.soft_positives else None
        return soft_nt_xent(z1, z2, spectra, self.temperature, self.spectral_temperature)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        self.log("pretrain/loss", loss, batch_size=batch.num_graphs, prog_bar=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.log("pretrain/val_loss", self._loss(batch), batch_size=batch.num_graphs, prog_bar=True)

    def configure_optimizers(self) -> Any:
        return _cosine_adamw(self, [{"params": self.parameters(), "lr": self.lr}], self.weight_decay)


def pairwise_rank_loss(pred: Tensor, true: Tensor, group: Tensor | None = None) -> Tensor:
    """Mean logistic loss over the ordered pairs of a batch, ``softplus(-(p_i - p_j) / s)`` for every
    ``true_i > true_j``, with ``s`` the spread of ``true`` (so the loss is scale-free); 0 when the
    batch has no two distinct values. With ``group`` (a task index per graph) only pairs of one
    group count: accuracies of different tasks are never compared."""
    order = (true[:, None] - true[None, :]) > 0
    if group is not None:
        order &= group[:, None] == group[None, :]
    if not bool(order.any()):
        return pred.sum() * 0.0
    if group is None:
        spread = true.std()
    else:  # pooled within-group spread: another task's labels must not set this one's scale
        same = (group[:, None] == group[None, :]).to(true.dtype)
        centre = (same @ true) / same.sum(1)
        spread = ((true - centre) ** 2).mean().sqrt()
    spread = spread.clamp_min(1e-8).detach()
    return F.softplus(-(pred[:, None] - pred[None, :])[order] / spread).mean()


class RegressionModule(L.LightningModule):
    """Trains a GennapeNet's heads (and encoder) to predict transformed accuracy with MSE, plus
    ``rank_weight`` times :func:`pairwise_rank_loss` on the predicted accuracies.

    The transform and FCM centroids must be fitted before; they are buffers and do not train.
    Validation logs ``val/loss`` (MSE in target space), ``val/srcc`` (Spearman within each task
    of ``Data.task``, averaged) and ``val/mae`` (in the unit of the labels).

    Args:
        net: the network.
        lr: learning rate of the heads.
        encoder_lr_scale: encoder learning rate relative to ``lr``; 0 freezes the encoder.
        weight_decay: AdamW weight decay.
        rank_weight: weight of the pairwise ranking loss (0: MSE alone, as GENNAPE).
    """

    def __init__(self, net: GennapeNet, lr: float = 1e-3, encoder_lr_scale: float = 1.0,
                 weight_decay: float = 1e-4, rank_weight: float = 0.0) -> None:
        super().__init__()
        self.net, self.lr, self.encoder_lr_scale, self.weight_decay = net, lr, encoder_lr_scale, weight_decay
        self.rank_weight = rank_weight
        self._val: list[tuple[Tensor, Tensor]] = []

    def forward(self, batch: Batch) -> Tensor:
        return self.net(batch)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        out = self.net.predict_target(batch)
        loss = F.mse_loss(out["target"], self.net.transform(batch.y, batch.flops))
        if self.rank_weight > 0:
            acc = self.net.transform.inverse(out["target"], batch.flops)
            loss = loss + self.rank_weight * pairwise_rank_loss(acc, batch.y, getattr(batch, "task", None))
        self.log("train/loss", loss, batch_size=batch.num_graphs, prog_bar=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        out = self.net.predict_target(batch)
        loss = F.mse_loss(out["target"], self.net.transform(batch.y, batch.flops))
        self.log("val/loss", loss, batch_size=batch.num_graphs, prog_bar=True)
        acc = self.net.transform.inverse(out["target"], batch.flops)
        task = getattr(batch, "task", None)
        task = task.detach().cpu() if task is not None else torch.zeros(batch.num_graphs, dtype=torch.long)
        self._val.append((acc.detach().cpu(), batch.y.detach().cpu(), task))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        pred, true, task = (torch.cat(t).numpy() for t in zip(*self._val))
        self._val.clear()
        # Spearman within each task, averaged: tasks' labels are never ranked against each other.
        per_task = [srcc(true[task == t], pred[task == t]) for t in np.unique(task) if (task == t).sum() > 1]
        self.log("val/srcc", float(np.mean(per_task)) if per_task else 0.0, prog_bar=True)
        self.log("val/mae", float(np.abs(true - pred).mean()))

    def configure_optimizers(self) -> Any:
        enc = list(self.net.encoder.parameters())
        enc_ids = {id(p) for p in enc}
        rest = [p for p in self.net.parameters() if id(p) not in enc_ids]
        groups = [{"params": rest, "lr": self.lr}]
        for p in enc:  # set both ways: the same net may be frozen in one stage, tuned in the next
            p.requires_grad_(self.encoder_lr_scale > 0)
        if self.encoder_lr_scale > 0:
            groups.append({"params": enc, "lr": self.lr * self.encoder_lr_scale})
        return _cosine_adamw(self, groups, self.weight_decay)
