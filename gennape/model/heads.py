"""Prediction heads: K MLPs mixed by fuzzy memberships, with optional auxiliary features.

Auxiliary features (zero-cost proxies, NNGP, FLOPs, params, ...) are per-graph numbers that may
be missing. They are standardised with training statistics, missing values are set to 0 (the
training mean) and a 0/1 mask is appended, so a head can tell "average" from "unknown". With
``aux_dim=0`` the heads see the embedding only and need no auxiliary input at all.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MLPHead(nn.Module):
    """A scalar regressor ``in_dim -> hidden -> ... -> 1``.

    Args:
        in_dim: input width.
        hidden: hidden width.
        num_layers: linear layers (>= 1).
        dropout: dropout between layers.
    """

    def __init__(self, in_dim: int, hidden: int = 64, num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers - 1):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


class FuzzyHeads(nn.Module):
    """``sum_k u_k * head_k(x)`` over K heads.

    Args:
        embed_dim: graph embedding width.
        num_heads: K (1 = a single plain head).
        aux_dim: number of auxiliary features per graph (0 = none).
        hidden: hidden width of each head.
        num_layers: linear layers per head.
        dropout: dropout inside the heads.
    """

    def __init__(self, embed_dim: int, num_heads: int = 1, aux_dim: int = 0, hidden: int = 64,
                 num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads, self.aux_dim = num_heads, aux_dim
        in_dim = embed_dim + 2 * aux_dim
        self.heads = nn.ModuleList(MLPHead(in_dim, hidden, num_layers, dropout) for _ in range(num_heads))
        self.register_buffer("aux_mean", torch.zeros(aux_dim))
        self.register_buffer("aux_std", torch.ones(aux_dim))

    @torch.no_grad()
    def fit_aux(self, aux: Tensor, mask: Tensor) -> None:
        """Standardisation statistics of the auxiliary features over the present values.

        Args:
            aux: ``[N, aux_dim]`` raw values (anything where ``mask`` is 0).
            mask: ``[N, aux_dim]``, 1 where the value is present.
        """
        self._check_aux(aux, mask)
        m = mask.float()
        n = m.sum(0).clamp_min(1.0)
        x = torch.where(m.bool(), aux, torch.zeros_like(aux))
        mean = x.sum(0) / n
        var = ((x - mean) ** 2 * m).sum(0) / (n - 1).clamp_min(1.0)
        self.aux_mean.copy_(mean)
        self.aux_std.copy_(torch.where(var > 1e-12, var.sqrt(), torch.ones_like(var)))

    def _check_aux(self, aux: Tensor, mask: Tensor) -> None:
        if aux.shape != mask.shape or aux.dim() != 2 or aux.shape[1] != self.aux_dim:
            raise ValueError(f"aux and mask must both be [N, {self.aux_dim}], "
                             f"got {tuple(aux.shape)} and {tuple(mask.shape)}")

    def inputs(self, embedding: Tensor, aux: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """The head input: embedding, then standardised aux values and their mask."""
        if self.aux_dim == 0:
            if aux is not None and aux.numel():
                raise ValueError(f"got {aux.shape[-1]} auxiliary features but the heads take none "
                                 "(set model aux_dim)")
            return embedding
        if aux is None:  # all missing
            aux = embedding.new_zeros(embedding.shape[0], self.aux_dim)
            mask = torch.zeros_like(aux)
        if mask is None:
            mask = torch.isfinite(aux).float()
        self._check_aux(aux, mask)
        m = mask.to(embedding.dtype)
        z = torch.where(m.bool(), (aux - self.aux_mean) / self.aux_std, torch.zeros_like(aux))
        return torch.cat([embedding, z.to(embedding.dtype), m], dim=1)

    def per_head(self, embedding: Tensor, aux: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """Every head's output, ``[N, K]``."""
        x = self.inputs(embedding, aux, mask)
        return torch.stack([h(x) for h in self.heads], dim=1)

    def forward(self, embedding: Tensor, memberships: Tensor, aux: Tensor | None = None,
                mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mixed prediction ``[N]`` and the per-head outputs ``[N, K]``.

        Args:
            embedding: ``[N, D]`` graph embeddings.
            memberships: ``[N, K]`` fuzzy memberships (rows sum to 1).
            aux: optional ``[N, aux_dim]`` auxiliary features (NaN allowed where missing).
            mask: optional ``[N, aux_dim]`` presence mask (default: finite values of ``aux``).
        """
        if memberships.shape != (embedding.shape[0], self.num_heads):
            raise ValueError(f"memberships must be [{embedding.shape[0]}, {self.num_heads}], "
                             f"got {tuple(memberships.shape)}")
        outs = self.per_head(embedding, aux, mask)
        return (memberships * outs).sum(1), outs
