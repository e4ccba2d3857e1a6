"""The predictor network (its two Lightning training modules are in ``lightning_modules``).

``GennapeNet`` is everything prediction needs (encoder with feature normalisation, frozen FCM
centroids, heads, target transform), all as parameters or buffers of one ``nn.Module``. The plain
k-GNN baseline is the same network with the GENNAPE parts switched off (one head, no clustering,
no FLOPs transform, no pretraining), so baseline and ablations share one code path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gennape.graph.encoding import NUM_FEATURES
from gennape.graph.ops import list_ops
from gennape.model.encoder import GraphEncoder
from gennape.model.fcm import FuzzyCMeans
from gennape.model.heads import FuzzyHeads
from gennape.model.transform import TargetTransform

if TYPE_CHECKING:  # prediction never imports torch_geometric's Batch nor Lightning
    from torch_geometric.data import Batch


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

