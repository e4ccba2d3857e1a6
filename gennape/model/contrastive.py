"""Contrastive pretraining signal: Laplacian spectra and a soft-positive NT-Xent loss.

Plain NT-Xent (SimCLR) treats the other view of the same graph as the only positive. GENNAPE
softens that: for an anchor graph, every other graph in the batch is a partial positive with
weight given by a softmax over negative Euclidean distances between the graphs' spectra (the q
smallest eigenvalues of the normalised Laplacian of the undirected CG), so topologically similar
graphs are pulled together. Spectra are computed once per graph (at dataset build time) and
stored with the graph.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_Q = 21


def laplacian_spectrum(edge_index: Tensor | np.ndarray, num_nodes: int, q: int = DEFAULT_Q) -> Tensor:
    """The ``q`` smallest eigenvalues of the normalised Laplacian of the undirected graph.

    ``L = I - D^-1/2 A D^-1/2`` with ``A`` symmetrised and unweighted (multi-edges count once,
    self-loops are dropped); isolated nodes get a zero row, as in networkx. Graphs with fewer
    than ``q`` nodes are zero-padded at the end.

    Args:
        edge_index: ``[2, E]`` directed edges.
        num_nodes: N.
        q: how many eigenvalues.
    """
    ei = np.asarray(edge_index, dtype=np.int64)
    adj = np.zeros((num_nodes, num_nodes), dtype=np.float64)
    if ei.size:
        adj[ei[0], ei[1]] = 1.0
        adj[ei[1], ei[0]] = 1.0
        np.fill_diagonal(adj, 0.0)
    deg = adj.sum(1)
    inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
    lap = np.diag((deg > 0).astype(np.float64)) - inv_sqrt[:, None] * adj * inv_sqrt[None, :]
    with _one_blas_thread():
        eig = np.linalg.eigvalsh(lap) if num_nodes else np.zeros(0)
    out = np.zeros(q, dtype=np.float32)
    k = min(q, len(eig))
    out[:k] = np.clip(np.sort(eig)[:k], 0.0, 2.0)  # eigenvalues of L lie in [0, 2]
    return torch.from_numpy(out)


@functools.cache
def _blas_local_threads() -> Callable[[int], int] | None:
    """numpy's OpenBLAS ``openblas_set_num_threads_local`` (sets this thread's count, returns
    the previous one), or None where numpy has no bundled OpenBLAS that has it."""
    libs = Path(np.__file__).resolve().parents[1] / "numpy.libs"
    for path in sorted(libs.glob("*openblas*")):
        try:
            fn = ctypes.CDLL(str(path)).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
        return fn
    return None


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread: the matrices here are small, and OpenBLAS' default of one
    thread per core is 10-100x slower on a busy machine (the threads wait for each other), the
    same results."""
    fn = _blas_local_threads()
    prev = fn(1) if fn is not None else None
    try:
        yield
    finally:
        if fn is not None:
            fn(prev)


def soft_nt_xent(z1: Tensor, z2: Tensor, spectra: Tensor | None, temperature: float = 0.1,
                 spectral_temperature: float = 1.0) -> Tensor:
    """Soft-positive NT-Xent over the 2B views of a batch.

    Every view is an anchor; its candidates are the other 2B-1 views. Logits are cosine
    similarities divided by ``temperature``. Targets put weight ``softmax_c(-||s_a - s_c|| /
    spectral_temperature)`` on candidate c, where s are the spectra of the graphs behind the
    views; the other view of the anchor's graph has distance 0 and gets the most. With
    ``spectra=None`` the targets are one-hot on that view: the loss is ordinary NT-Xent.

    Args:
        z1, z2: ``[B, D]`` embeddings of the two dropout views.
        spectra: ``[B, q]`` Laplacian spectra, or None for hard positives.
        temperature: softmax temperature of the similarity logits.
        spectral_temperature: scale of the spectral distances in the targets (smaller = harder).
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"views must both be [B, D], got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    self_mask = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    logits = (z @ z.t() / temperature).masked_fill(self_mask, float("-inf"))
    if spectra is None:
        partner = torch.arange(2 * b, device=z.device).roll(b)
        targets = F.one_hot(partner, 2 * b).to(z.dtype)
    else:
        s = torch.cat([spectra, spectra]).to(z.dtype)
        target_logits = (-torch.cdist(s, s) / spectral_temperature).masked_fill(self_mask, float("-inf"))
        targets = torch.softmax(target_logits, dim=1)
    log_p = torch.log_softmax(logits, dim=1).masked_fill(self_mask, 0.0)
    return -(targets * log_p).sum(1).mean()


class ProjectionHead(nn.Module):
    """Small MLP between the encoder and the contrastive loss (SimCLR); not used afterwards.

    Args:
        in_dim: encoder embedding width.
        out_dim: projection width.
    """

    def __init__(self, in_dim: int, out_dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(), nn.Linear(in_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
