"""Prediction with numpy alone: a checkpoint's network evaluated without importing torch.

``python predict.py one.onnx`` must answer in about a second, and importing torch takes longer
than that on its own. :class:`Runtime` reads a checkpoint file (``checkpoint_file``) and computes
what :func:`gennape.model.prediction.predict` computes (score and head spread), for networks of
mean ``GraphConv`` layers (the k-GNN of GENNAPE and every shipped checkpoint): the feature
normalisation, op embedding, message passing on a sparse row-normalised adjacency, LayerNorm,
residuals, pooling, frozen FCM memberships, the heads with their auxiliary inputs and the inverse
target transform. tests/test_model_runtime.py checks it against the torch network on real graphs.
A checkpoint with another layer type raises :class:`UnsupportedNetwork`; predict it with torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gennape.runtime.checkpoint_file import CheckpointError, read_checkpoint_file

BATCH_SIZE = 64  # graphs per pass: the arrays of NB-201-size batches stay in the CPU caches (best of 48-256)
_LN_EPS = 1e-5  # torch.nn.LayerNorm's default, as GraphEncoder builds its norms
_EPS64 = float(np.finfo(np.float64).eps)  # FCM's distance floor (gennape.model.fcm)
# Node-feature columns with absolute sizes (gennape.model.encoder.relative_shapes).
_SIZE_GROUPS = (("log_c_in", "log_c_out"), ("log_hw_in", "log_hw_out"), ("log_tokens_out",))


@runtime_checkable
class Predictor(Protocol):
    """What prediction needs of a network: :class:`Runtime`, or the torch fallback
    ``gennape.model.prediction.NetRuntime``."""

    aux_features: list[str]
    aux_scaling: str
    meta: dict[str, Any]
    labels: str

    def predict(self, graphs: Sequence[Mapping[str, np.ndarray]], batch_size: int = ...) -> dict[str, np.ndarray]:
        """``score`` and ``uncertainty`` ``[N]`` of encoded graphs."""
        ...


class UnsupportedNetwork(ValueError):
    """A checkpoint whose network the numpy runtime does not evaluate."""


def _linears(arrays: Mapping[str, np.ndarray], prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight.T, bias) of the Linear layers of an ``nn.Sequential`` under ``prefix``, in order."""
    idx = sorted({int(k[len(prefix):].split(".")[0]) for k in arrays if k.startswith(prefix)})
    return [(np.ascontiguousarray(arrays[f"{prefix}{i}.weight"].T), arrays[f"{prefix}{i}.bias"]) for i in idx]


def _centred(w: np.ndarray) -> np.ndarray:
    """``w`` minus its mean over the last axis (in float64, then float32, contiguous)."""
    w64 = w.astype(np.float64)
    return np.ascontiguousarray(w64 - w64.mean(-1, keepdims=True), dtype=np.float32)


def _sparse_matmul_into(a: Any, x: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = a @ x`` for a CSR matrix and C-contiguous arrays, written in place by scipy's
    own kernel (``a @ x`` would allocate a fresh result per layer)."""
    from scipy.sparse import _sparsetools

    out.fill(0.0)
    _sparsetools.csr_matvecs(a.shape[0], a.shape[1], x.shape[1], a.indptr, a.indices, a.data, x.reshape(-1),
                             out.reshape(-1))


class _Workspace:
    """Node-state buffers reused by the batches of one ``predict`` call: a fresh multi-megabyte
    array per batch and layer pays its page faults every time."""

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}

    def take(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A ``[rows, cols]`` float32 view of the buffer ``name`` (grown when too small)."""
        buf = self.buffers.get(name)
        if buf is None or buf.shape[0] < rows or buf.shape[1] != cols:
            buf = self.buffers[name] = np.empty((max(rows, 2 * (buf.shape[0] if buf is not None else 0)), cols),
                                                dtype=np.float32)
        return buf[:rows]


class Runtime:
    """A checkpoint's predictor as numpy arrays.

    Args:
        header: the checkpoint's header (``checkpoint_file``).
        arrays: its state dict as float32 / bool numpy arrays.
        source: where it came from, for error messages.
    """

    def __init__(self, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray], source: str = "") -> None:
        from gennape.graph.encoding import FEATURE_NAMES  # numpy-only module

        model = dict(header["model"])
        if model.get("layer", "graphconv") != "graphconv":
            raise UnsupportedNetwork(f"{source}: the numpy runtime evaluates graphconv layers, "
                                     f"not {model['layer']!r}")
        a = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in arrays.items()}
        self.source = source
        self.aux_features: list[str] = list(header.get("aux_features", []))
        self.aux_scaling: str = str(header.get("aux_scaling", "train"))
        self.meta: dict[str, Any] = dict(header.get("meta", {}))
        self.labels: str = str(header.get("labels", "raw"))
        self.pool = str(model.get("pool", "mean"))
        self.bidirectional = bool(model.get("bidirectional", True))
        self.residual = bool(model.get("residual", True))
        self.relative = bool(model.get("relative_shapes", False))
        self.size_cols = [[FEATURE_NAMES.index(c) for c in g] for g in _SIZE_GROUPS]
        self.feat_mean, self.feat_std = a["encoder.feat_norm.mean"], a["encoder.feat_norm.std"]
        self.op_embed = a["encoder.op_embed.weight"]
        self.feat_w, self.feat_b = a["encoder.feat_proj.weight"].T.copy(), a["encoder.feat_proj.bias"]
        layers = sorted({int(k.split(".")[2]) for k in a if k.startswith("encoder.convs.")})
        # LayerNorm subtracts the mean over features; folding it into the weights (each column
        # minus the row mean) gives the centred output directly: two passes less per layer.
        self.convs = [(_centred(a[f"encoder.convs.{i}.lin_rel.weight"].T), _centred(a[f"encoder.convs.{i}.lin_rel.bias"]),
                       _centred(a[f"encoder.convs.{i}.lin_root.weight"].T),
                       a[f"encoder.norms.{i}.weight"], a[f"encoder.norms.{i}.bias"]) for i in layers]
        self.centroids = a["fcm.centroids"]
        self.fuzzifier = float(model.get("fuzzifier", 2.0))
        self.fcm_fitted = bool(a["fcm.fitted"])
        heads = sorted({int(k.split(".")[2]) for k in a if k.startswith("heads.heads.")})
        self.heads = [_linears(a, f"heads.heads.{k}.net.") for k in heads]
        self.aux_mean, self.aux_std = a["heads.aux_mean"], a["heads.aux_std"]
        self.aux_dim = int(self.aux_mean.shape[0])
        self.divide_by_flops = bool(model.get("divide_by_flops", True))
        self.t_exponent, self.t_mean, self.t_std = (np.float32(a[f"transform.{k}"]) for k in ("exponent", "mean", "std"))
        self.acc_max, self.ceiling = np.float32(a["transform.acc_max"]), np.float32(a["transform.ceiling"])
        self.transform_fitted = bool(a["transform.fitted"])

    @classmethod
    def load(cls, path: str | os.PathLike) -> Runtime:
        """The runtime of a checkpoint file (errors: ``CheckpointError`` naming the file)."""
        header, arrays = read_checkpoint_file(path)
        try:
            return cls(header, arrays, str(path))
        except UnsupportedNetwork:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as e:  # a missing or misshapen array
            raise CheckpointError(path, f"its weights do not fit the network it describes "
                                        f"({type(e).__name__}: {e})") from None

    # --- the network, stage by stage ------------------------------------------------------------

    def _node_states(self, op: np.ndarray, feat: np.ndarray, edge_index: np.ndarray, starts: np.ndarray,
                     counts: np.ndarray, ws: _Workspace) -> np.ndarray:
        from scipy.sparse import csr_array

        n, width = op.shape[0], self.op_embed.shape[1]
        f = ws.take("feat", n, feat.shape[1])
        np.copyto(f, feat)
        if self.relative:  # sizes relative to the graph's largest (encoder.relative_shapes)
            graph = np.repeat(np.arange(len(starts)), counts)
            for cols in self.size_cols:
                top = np.maximum.reduceat(f[:, cols].max(1), starts)
                f[:, cols] -= top[graph, None]
        f -= self.feat_mean
        f /= self.feat_std
        h, y, t, agg = (ws.take(k, n, width) for k in ("h", "y", "t", "agg"))
        np.take(self.op_embed, op, axis=0, out=h)
        np.matmul(f, self.feat_w, out=y)
        h += y
        h += self.feat_b
        src, dst = edge_index
        if self.bidirectional:
            src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        deg = np.bincount(dst, minlength=n)
        adj = csr_array(((1.0 / np.maximum(deg, 1))[dst].astype(np.float32), (dst, src)), shape=(n, n))
        for w_rel, b_rel, w_root, gamma, beta in self.convs:
            # LayerNorm(lin_rel(A h) + lin_root(h)); the weights are centred (see __init__), so
            # y comes out with zero mean over its features.
            np.matmul(h, w_root, out=y)
            _sparse_matmul_into(adj, h, agg)
            np.matmul(agg, w_rel, out=t)
            y += t
            y += b_rel
            y *= 1.0 / np.sqrt(np.einsum("ij,ij->i", y, y)[:, None] / width + _LN_EPS)
            y *= gamma
            y += beta
            np.maximum(y, np.float32(0.0), out=y)
            if self.residual:
                h += y
            else:
                np.copyto(h, y)
        return h

    def _pool(self, h: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        from scipy.sparse import csr_array

        if self.pool == "max":
            return np.maximum.reduceat(h, starts, axis=0)
        b = len(starts)
        weights = np.repeat(1.0 / counts if self.pool == "mean" else np.ones(b), counts).astype(np.float32)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return csr_array((weights, np.arange(h.shape[0]), indptr), shape=(b, h.shape[0])) @ h

    def _memberships(self, z: np.ndarray) -> np.ndarray:
        k = self.centroids.shape[0]
        if k == 1:
            return np.ones((z.shape[0], 1), dtype=np.float32)
        if not self.fcm_fitted:
            raise ValueError(f"{self.source}: its FCM centroids were never fitted")
        d2 = (z * z).sum(1, keepdims=True) - 2.0 * z @ self.centroids.T + (self.centroids ** 2).sum(1)
        logits = -1.0 / (self.fuzzifier - 1.0) * np.log(np.maximum(d2, _EPS64 ** 2))  # -2/(m-1) log d
        logits -= logits.max(1, keepdims=True)
        u = np.exp(logits)
        return (u / u.sum(1, keepdims=True)).astype(np.float32)

    def _head_inputs(self, z: np.ndarray, aux: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray:
        if self.aux_dim == 0:
            return z
        if aux is None:
            aux = np.zeros((z.shape[0], self.aux_dim), dtype=np.float32)
            mask = np.zeros_like(aux)
        present = mask > 0
        scaled = np.where(present, (aux - self.aux_mean) / self.aux_std, 0.0).astype(np.float32)
        return np.concatenate([z, scaled, present.astype(np.float32)], axis=1)

    def _inverse(self, target: np.ndarray, flops: np.ndarray) -> np.ndarray:
        """``TargetTransform.inverse``: accuracy from a target, bounded below the ceiling."""
        if not self.transform_fitted:
            raise ValueError(f"{self.source}: its target transform was never fitted")
        t = target * self.t_std + self.t_mean
        if self.divide_by_flops:
            t = t * (np.log10(flops.astype(np.float32) / 1e9 + 1.0) + 1.0) ** self.t_exponent
        with np.errstate(invalid="ignore"):  # inf - inf when the transform has no ceiling
            room = np.maximum(self.ceiling - self.acc_max, np.float32(1e-6))
        over = np.maximum(t - self.acc_max, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(t > self.acc_max, self.acc_max + room * over / (over + room), t).astype(np.float32)

    def _forward(self, graphs: Sequence[Mapping[str, np.ndarray]], ws: _Workspace) -> tuple[np.ndarray, np.ndarray]:
        counts = np.array([g["op"].shape[0] for g in graphs])
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        offsets = np.repeat(starts, [g["edge_index"].shape[1] for g in graphs])
        op = np.concatenate([g["op"] for g in graphs])
        if op.size and int(op.max()) >= self.op_embed.shape[0]:
            raise ValueError(f"graph uses op index {int(op.max())} but the network knows "
                             f"{self.op_embed.shape[0]} ops")
        feat = np.concatenate([g["feat"] for g in graphs]).astype(np.float32, copy=False)
        edge_index = np.concatenate([g["edge_index"] for g in graphs], axis=1) + offsets
        flops = np.array([float(np.asarray(g["flops"]).reshape(-1)[0]) for g in graphs])
        aux = mask = None
        if self.aux_dim and "aux" in graphs[0]:
            aux = np.stack([np.asarray(g["aux"], dtype=np.float32).reshape(-1) for g in graphs])
            mask = np.stack([np.asarray(g["aux_mask"], dtype=np.float32).reshape(-1) for g in graphs])
        z = self._pool(self._node_states(op, feat, edge_index, starts, counts, ws), starts, counts)
        u = self._memberships(z)
        x = self._head_inputs(z, aux, mask)
        per_head = np.stack([self._mlp(layers, x) for layers in self.heads], axis=1)
        acc = self._inverse((u * per_head).sum(1), flops)
        accs = np.stack([self._inverse(per_head[:, k], flops) for k in range(per_head.shape[1])], axis=1)
        return acc, np.sqrt((u * (accs - acc[:, None]) ** 2).sum(1))

    @staticmethod
    def _mlp(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
        for i, (w, b) in enumerate(layers):
            x = x @ w + b
            if i < len(layers) - 1:
                x = np.maximum(x, 0.0)
        return x[:, 0]

    def predict(self, graphs: Sequence[Mapping[str, np.ndarray]], batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
        """``score`` and ``uncertainty`` ``[N]`` of encoded graphs (dicts of numpy arrays ``op, feat,
        edge_index, flops`` and, for a network with auxiliary features, ``aux, aux_mask``), in
        input order; a graph's numbers do not depend on the others in its batch."""
        if not graphs:
            return {"score": np.zeros(0, np.float32), "uncertainty": np.zeros(0, np.float32)}
        ws = _Workspace()
        parts = [self._forward(graphs[i:i + batch_size], ws) for i in range(0, len(graphs), batch_size)]
        return {"score": np.concatenate([p[0] for p in parts]), "uncertainty": np.concatenate([p[1] for p in parts])}
