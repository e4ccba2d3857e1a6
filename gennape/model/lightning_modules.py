"""The predictor's two Lightning modules: contrastive pretraining of the encoder and regression.

Training code only: prediction (``gennape.inference.predict``) never imports this module, nor Lightning.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Batch

from gennape.model.contrastive import ProjectionHead, soft_nt_xent
from gennape.model.encoder import GraphEncoder
from gennape.model.metrics import srcc
from gennape.model.predictor import GennapeNet, pairwise_rank_loss


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
