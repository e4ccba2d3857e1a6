"""Fuzzy c-means (Bezdek), vectorised in torch, with frozen centroids for new points.

The update is the one of scikit-fuzzy's ``cmeans`` (Ross 2010, eq. 10.28-10.35): memberships
are clamped at machine epsilon, centroids are the ``u**m``-weighted means, memberships are
``d_ik^(-2/(m-1))`` normalised over clusters, and iteration stops when the Frobenius norm of the
membership change falls below ``tol``. Given the same initial memberships, both agree to
float64 precision (tests/test_model_fcm.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_EPS = torch.finfo(torch.float64).eps


def memberships_from_centroids(x: Tensor, centroids: Tensor, m: float) -> Tensor:
    """Fuzzy memberships ``[N, K]`` of points ``x`` ``[N, D]`` given fixed ``centroids`` ``[K, D]``.

    ``d^(-2/(m-1))`` normalised over clusters is a softmax of ``-2/(m-1) * log d``; computing it
    that way stays finite when a point sits on a centroid or far from all of them.

    Args:
        x: points.
        centroids: cluster centres.
        m: fuzzifier (> 1).
    """
    if m <= 1:
        raise ValueError(f"fuzzifier m must be > 1, got {m}")
    d = torch.cdist(x, centroids.to(x.dtype)).clamp_min(_EPS)
    return torch.softmax(-2.0 / (m - 1.0) * torch.log(d), dim=1)


def cmeans(x: Tensor, num_clusters: int, m: float = 2.0, tol: float = 1e-5, max_iter: int = 300,
           init: Tensor | None = None, seed: int = 0) -> tuple[Tensor, Tensor, int]:
    """Fuzzy c-means clustering.

    Args:
        x: data ``[N, D]``.
        num_clusters: K.
        m: fuzzifier (> 1); larger is fuzzier.
        tol: stop when ``||U_t - U_{t-1}||_F < tol``.
        max_iter: iteration cap.
        init: initial memberships ``[N, K]`` (columns need not be normalised); random if None.
        seed: seed of the random initial memberships.

    Returns:
        centroids ``[K, D]``, memberships ``[N, K]`` (rows sum to 1), iterations run.
    """
    if x.dim() != 2 or x.shape[0] < num_clusters:
        raise ValueError(f"cmeans needs [N, D] data with N >= K={num_clusters}, got {tuple(x.shape)}")
    if m <= 1:
        raise ValueError(f"fuzzifier m must be > 1, got {m}")
    x64 = x.detach().to(torch.float64)
    if init is None:
        gen = torch.Generator().manual_seed(seed)
        init = torch.rand(x.shape[0], num_clusters, generator=gen, dtype=torch.float64)
    u = init.to(torch.float64).clamp_min(_EPS)
    centroids = x64.new_zeros(num_clusters, x.shape[1])
    it = 0
    while it < max_iter:
        u_old = u
        un = (u_old / u_old.sum(1, keepdim=True)).clamp_min(_EPS)
        um = un ** m
        centroids = (um.t() @ x64) / um.sum(0).unsqueeze(1)
        u = memberships_from_centroids(x64, centroids, m)
        it += 1
        if torch.linalg.norm(u - u_old) < tol:
            break
    return centroids.to(x.dtype), u.to(x.dtype), it


class FuzzyCMeans(nn.Module):
    """Fuzzy clustering of embeddings whose centroids are frozen once fitted.

    The centroids are a buffer: they travel in the ``state_dict`` (checkpoint) and receive no
    gradient, so an encoder fine-tuned afterwards moves points, never the clusters. With one
    cluster every membership is 1 and the model reduces to a single head.

    Args:
        num_clusters: K (number of heads).
        embed_dim: dimension of the embeddings.
        m: fuzzifier.
        tol: convergence tolerance of :func:`cmeans`.
        max_iter: iteration cap of :func:`cmeans`.
        seed: seed of the initial memberships.
    """

    def __init__(self, num_clusters: int, embed_dim: int, m: float = 2.0, tol: float = 1e-5,
                 max_iter: int = 300, seed: int = 0) -> None:
        super().__init__()
        if num_clusters < 1:
            raise ValueError(f"num_clusters must be >= 1, got {num_clusters}")
        self.num_clusters, self.m, self.tol, self.max_iter, self.seed = num_clusters, m, tol, max_iter, seed
        self.register_buffer("centroids", torch.zeros(num_clusters, embed_dim))
        self.register_buffer("fitted", torch.tensor(num_clusters == 1))

    @torch.no_grad()
    def fit(self, x: Tensor) -> Tensor:
        """Cluster ``x`` ``[N, D]``, store the centroids, return the training memberships."""
        if self.num_clusters == 1:
            self.centroids.copy_(x.mean(0, keepdim=True))
            self.fitted.fill_(True)
            return x.new_ones(x.shape[0], 1)
        c, u, _ = cmeans(x, self.num_clusters, self.m, self.tol, self.max_iter, seed=self.seed)
        self.centroids.copy_(c)
        self.fitted.fill_(True)
        return u

    def forward(self, x: Tensor) -> Tensor:
        """Memberships ``[N, K]`` of embeddings ``x`` from the frozen centroids."""
        if self.num_clusters == 1:
            return x.new_ones(x.shape[0], 1)
        if not bool(self.fitted):
            raise RuntimeError("FuzzyCMeans.forward before fit(): centroids are not set")
        return memberships_from_centroids(x, self.centroids, self.m)
