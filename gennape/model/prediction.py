"""Prediction with a GennapeNet: batching encoded graphs, scores and their uncertainty.

Prediction only: nothing here imports Lightning or torch_geometric's loaders. Graphs are collated
once into one :class:`GraphBatch` (concatenated node, edge and graph tensors) and the network runs
on slices of it of ``batch_size`` graphs; a graph's prediction does not depend on which others
share its batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from torch_geometric.data import Data

    from gennape.model.predictor import GennapeNet

BATCH_SIZE = 128  # graphs per forward pass: NB-201-size batches stay in the CPU caches (faster than 512+)


@dataclass
class GraphBatch:
    """Encoded graphs batched the way the network reads them (the attributes of a PyG ``Batch``
    that :class:`~gennape.model.predictor.GennapeNet` uses).

    Args:
        op: ``[N]`` op index of every node.
        feat: ``[N, F]`` node features.
        edge_index: ``[2, E]`` edges, node indices into the batch.
        batch: ``[N]`` graph index of every node.
        flops: ``[B]`` FLOPs of every graph.
        aux, aux_mask: ``[B, A]`` auxiliary features and their mask, or None.
        node_ptr, edge_ptr: ``[B + 1]`` first node and first edge of every graph.
    """

    op: Tensor
    feat: Tensor
    edge_index: Tensor
    batch: Tensor
    flops: Tensor
    aux: Tensor | None
    aux_mask: Tensor | None
    node_ptr: Tensor
    edge_ptr: Tensor

    @property
    def num_graphs(self) -> int:
        return int(self.flops.shape[0])

    def __len__(self) -> int:
        return self.num_graphs

    def slice(self, start: int, stop: int) -> GraphBatch:
        """Graphs ``start:stop`` as a batch of their own (indices renumbered from 0)."""
        n0, n1 = int(self.node_ptr[start]), int(self.node_ptr[stop])
        e0, e1 = int(self.edge_ptr[start]), int(self.edge_ptr[stop])
        return GraphBatch(self.op[n0:n1], self.feat[n0:n1], self.edge_index[:, e0:e1] - n0,
                          self.batch[n0:n1] - start, self.flops[start:stop],
                          self.aux[start:stop] if self.aux is not None else None,
                          self.aux_mask[start:stop] if self.aux_mask is not None else None,
                          self.node_ptr[start:stop + 1] - n0, self.edge_ptr[start:stop + 1] - e0)


def _fields(d: Any) -> Mapping[str, Any]:
    to_dict = getattr(d, "to_dict", None)  # a PyG Data: its stored attributes, without __getattr__ per field
    return to_dict() if to_dict is not None else d


def collate(graphs: Sequence[Data | Mapping[str, Any]]) -> GraphBatch:
    """One :class:`GraphBatch` of encoded graphs (PyG ``Data`` or dicts with ``op, feat,
    edge_index, flops`` and optionally ``aux, aux_mask``)."""
    if not graphs:
        raise ValueError("no graphs to collate")
    fs = [_fields(d) for d in graphs]
    ops = [f["op"] for f in fs]
    edges = [f["edge_index"] for f in fs]
    n_nodes = torch.tensor([o.shape[0] for o in ops], dtype=torch.long)
    n_edges = torch.tensor([e.shape[1] for e in edges], dtype=torch.long)
    node_ptr = torch.zeros(len(fs) + 1, dtype=torch.long)
    edge_ptr = torch.zeros(len(fs) + 1, dtype=torch.long)
    torch.cumsum(n_nodes, 0, out=node_ptr[1:])
    torch.cumsum(n_edges, 0, out=edge_ptr[1:])
    edge_index = torch.cat(edges, dim=1) + torch.repeat_interleave(node_ptr[:-1], n_edges)
    batch = torch.repeat_interleave(torch.arange(len(fs)), n_nodes)
    flops = torch.cat([f["flops"].reshape(-1) for f in fs])
    aux = aux_mask = None
    if "aux" in fs[0]:
        aux = torch.cat([f["aux"].reshape(1, -1) for f in fs])
        aux_mask = torch.cat([f["aux_mask"].reshape(1, -1) for f in fs])
    return GraphBatch(torch.cat(ops), torch.cat([f["feat"] for f in fs]), edge_index, batch, flops,
                      aux, aux_mask, node_ptr, edge_ptr)


def batches(graphs: Sequence[Data] | GraphBatch, batch_size: int = BATCH_SIZE):
    """The graphs in input order, ``batch_size`` at a time, each slice a :class:`GraphBatch`."""
    whole = graphs if isinstance(graphs, GraphBatch) else collate(graphs)
    for start in range(0, whole.num_graphs, batch_size):
        yield whole.slice(start, min(start + batch_size, whole.num_graphs))


@torch.inference_mode()
def predict(net: GennapeNet, graphs: Sequence[Data] | GraphBatch, batch_size: int = BATCH_SIZE,
            details: bool = False, prior: bool = True) -> np.ndarray | dict[str, np.ndarray]:
    """Predicted accuracies ``[N]`` (or, with ``details``, also the uncertainty (:func:`head_spread`),
    per-head outputs, memberships and embeddings). A net with a zero-shot ``prior``
    (:class:`gennape.runtime.prior.Prior`, set by training) blends it into the prediction unless
    ``prior`` is False."""
    net.eval()
    keys = ("accuracy", "uncertainty", "per_head", "memberships", "embedding") if details else ("accuracy",)
    outs: dict[str, list[Tensor]] = {k: [] for k in keys}
    for b in batches(graphs, batch_size):
        o = net.predict_target(b)
        acc = net.transform.inverse(o["target"], b.flops)
        outs["accuracy"].append(acc)
        if details:
            outs["uncertainty"].append(head_spread(net, o, acc, b.flops))
            for k in ("per_head", "memberships", "embedding"):
                outs[k].append(o[k])
    res = {k: torch.cat(v).numpy() for k, v in outs.items()}
    if prior and getattr(net, "prior", None) is not None:
        if isinstance(graphs, GraphBatch):
            raise TypeError("a net with a prior predicts a list of graphs, not a GraphBatch")
        res["accuracy"] = net.prior.scores([_arrays(g) for g in graphs], res["accuracy"])
    return res if details else res["accuracy"]


def _arrays(g: Data | Mapping[str, Tensor]) -> dict[str, np.ndarray]:
    """The numpy encoding of one graph (what :class:`gennape.runtime.prior.Prior` reads)."""
    get = g.__getitem__ if isinstance(g, Mapping) else lambda k: getattr(g, k)
    return {k: get(k).numpy() for k in ("op", "feat", "edge_index", "flops", "params")}


def head_spread(net: GennapeNet, out: dict[str, Tensor], acc: Tensor, flops: Tensor) -> Tensor:
    """Uncertainty of each prediction: the membership-weighted standard deviation of the heads'
    accuracies around the mixed prediction, ``sqrt(sum_k u_k (acc_k - acc)^2)``, in accuracy units.

    Heads trained on different clusters agree where a graph resembles the training data and
    disagree where it falls between or outside the clusters. One head gives 0 everywhere.
    """
    per_head = torch.stack([net.transform.inverse(out["per_head"][:, k], flops)
                            for k in range(out["per_head"].shape[1])], dim=1)
    return ((out["memberships"] * (per_head - acc[:, None]) ** 2).sum(1)).sqrt()


class NetRuntime:
    """A loaded torch checkpoint behind the interface of :class:`gennape.runtime.net.Runtime`
    (``predict`` on numpy encodings, ``aux_features``, ``aux_scaling``, ``meta``, ``labels``): for
    networks the numpy runtime does not evaluate.

    Args:
        ckpt: a loaded :class:`gennape.model.checkpoint.Checkpoint`.
    """

    def __init__(self, ckpt: Any) -> None:
        self.ckpt = ckpt
        self.aux_features, self.aux_scaling = list(ckpt.aux_features), ckpt.aux_scaling
        self.meta, self.labels = dict(ckpt.meta), str(ckpt.net.labels)

    def predict(self, graphs: Sequence[Mapping[str, np.ndarray]], batch_size: int = BATCH_SIZE) -> dict[str, np.ndarray]:
        """``score`` and ``uncertainty`` of encoded graphs (see ``Runtime.predict``)."""
        if not graphs:
            return {"score": np.zeros(0, np.float32), "uncertainty": np.zeros(0, np.float32)}
        tensors = [{k: torch.from_numpy(np.asarray(v, dtype=np.float32 if k == "flops" else None))
                    for k, v in g.items()} for g in graphs]
        res = predict(self.ckpt.net, tensors, batch_size, details=True, prior=False)  # predict_encoded blends it
        return {"score": res["accuracy"], "uncertainty": res["uncertainty"]}
