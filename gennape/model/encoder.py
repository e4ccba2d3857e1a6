"""Graph encoder: op embedding + node features -> message passing stack -> pooled embedding.

GENNAPE's encoder is a k-GNN (``GraphConv``, Morris et al. 2019) with mean pooling; other PyG
layers are selected by name from a small registry, so an ablation is a config change.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch_geometric import nn as gnn
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from gennape.graph.encoding import FEATURE_NAMES
from gennape.graph.ops import list_ops
from gennape.model import pyg_codegen
from gennape.runtime.vocab import kind_mean_rows as vocab_rows
from gennape.core.registry import Registry

pyg_codegen.install()  # PyG's generated propagate() compiled in memory, not left in the temp folder

LayerFactory = Callable[[int, int], nn.Module]

_LAYERS: Registry[LayerFactory] = Registry("GNN layer")
_POOLS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mean": gnn.global_mean_pool, "sum": gnn.global_add_pool, "max": gnn.global_max_pool,
}


register_layer = _LAYERS.register  # decorator adding ``factory(in_dim, out_dim) -> layer(x, edge_index)``
get_layer = _LAYERS.get
list_layers = _LAYERS.names


register_layer("graphconv")(lambda i, o: gnn.GraphConv(i, o, aggr="mean"))
register_layer("gcn")(lambda i, o: gnn.GCNConv(i, o))
register_layer("sage")(lambda i, o: gnn.SAGEConv(i, o))
register_layer("gat")(lambda i, o: gnn.GATConv(i, o, heads=1))
register_layer("gin")(lambda i, o: gnn.GINConv(nn.Sequential(nn.Linear(i, o), nn.ReLU(), nn.Linear(o, o))))


class FeatureNorm(nn.Module):
    """Per-feature standardisation of node features, fitted once on the training graphs.

    Args:
        num_features: width of ``Data.feat``.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))

    @torch.no_grad()
    def fit(self, feats: Tensor) -> None:
        """Fit on the stacked node features ``[total_nodes, F]`` of the training graphs."""
        self.mean.copy_(feats.mean(0))
        # Constant features (e.g. dilation in a space without dilated convs) keep scale 1.
        std = feats.std(0)
        self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, feat: Tensor) -> Tensor:
        return (feat - self.mean) / self.std


# Node-feature columns that carry absolute sizes (log2 scale): channels, then spatial positions and
# tokens. ``relative_shapes`` makes them relative to the graph's own largest value.
_CHANNEL_COLS = tuple(FEATURE_NAMES.index(c) for c in ("log_c_in", "log_c_out"))
_SPATIAL_COLS = tuple(FEATURE_NAMES.index(c) for c in ("log_hw_in", "log_hw_out"))
_TOKEN_COLS = (FEATURE_NAMES.index("log_tokens_out"),)


def relative_shapes(feat: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Node features with sizes made scale-free: log channels minus the graph's largest, log
    spatial size minus the graph's largest (its input resolution), log tokens likewise.

    A network and its 4x wider or 2x higher-resolution twin then get the same node features; what
    compute adds to accuracy is left to the FLOPs target transform, and families of other widths
    and resolutions than the training family are no longer out of range.
    """
    out = feat.clone()
    for cols in (_CHANNEL_COLS, _SPATIAL_COLS, _TOKEN_COLS):
        top = scatter(feat[:, list(cols)].amax(1), batch, dim=0, dim_size=num_graphs, reduce="max")
        out[:, list(cols)] = feat[:, list(cols)] - top[batch, None]
    return out


def kind_mean_rows(weight: Tensor, ops: list[str], known: Tensor) -> Tensor:
    """:func:`gennape.runtime.vocab.kind_mean_rows` on a tensor (a detached copy)."""
    rows = vocab_rows(weight.detach().cpu().numpy(), ops, known.detach().cpu().numpy())
    return torch.from_numpy(rows).to(weight.device, weight.dtype)


def _is_mean_graphconv(conv: nn.Module) -> bool:
    return type(conv) is gnn.GraphConv and conv.aggr == "mean"


def mean_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``[num_nodes, num_nodes]`` sparse CSR matrix ``A`` with ``(A @ x)[i]`` the mean of ``x[j]``
    over the edges ``j -> i`` (0 for a node without one): a mean GraphConv's aggregation."""
    src, dst = edge_index[0], edge_index[1]
    deg = torch.bincount(dst, minlength=num_nodes)
    order = torch.argsort(dst, stable=True)
    crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
    torch.cumsum(deg, 0, out=crow[1:])
    values = 1.0 / deg.clamp_min(1).to(torch.float)[dst[order]]
    with warnings.catch_warnings():  # "sparse CSR support is in beta": what is used here is not
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, src[order], values, (num_nodes, num_nodes))


class GraphEncoder(nn.Module):
    """Embeds a batch of encoded ComputeGraphs into ``[num_graphs, hidden]``.

    Args:
        num_ops: vocabulary size (``len(list_ops())``).
        num_features: node feature width (``encoding.NUM_FEATURES``).
        hidden: width of node states and of the graph embedding.
        num_layers: message passing layers.
        layer: registry name of the layer (``graphconv`` = k-GNN).
        pool: readout, ``mean`` | ``sum`` | ``max``.
        dropout: dropout after every layer; its randomness also makes the two contrastive views.
        bidirectional: pass messages along reversed edges too (else information flows only
            from inputs to outputs, and early nodes never see what follows them).
        residual: add each layer's input to its output.
        relative: make size features scale-free per graph first (:func:`relative_shapes`).
    """

    def __init__(self, num_ops: int, num_features: int, hidden: int = 64, num_layers: int = 4,
                 layer: str = "graphconv", pool: str = "mean", dropout: float = 0.1,
                 bidirectional: bool = True, residual: bool = True, relative: bool = False) -> None:
        super().__init__()
        if pool not in _POOLS:
            raise KeyError(f"unknown pooling {pool!r}; known: {', '.join(_POOLS)}")
        self.num_ops, self.num_features, self.hidden = num_ops, num_features, hidden
        self.bidirectional, self.residual, self.pool_name = bidirectional, residual, pool
        self.relative = relative
        self.feat_norm = FeatureNorm(num_features)
        self.op_embed = nn.Embedding(num_ops, hidden)
        self.feat_proj = nn.Linear(num_features, hidden)
        factory = get_layer(layer)
        self.convs = nn.ModuleList(factory(hidden, hidden) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)

    @property
    def out_dim(self) -> int:
        return self.hidden

    @torch.no_grad()
    def fill_unseen_ops(self, seen: Tensor) -> list[str]:
        """Give every op that no training graph contains a learnt embedding instead of its random
        initial one: the mean of the seen ops of its kind (``OpSpec.kind``: MaxPool gets what
        AvgPool learnt, Concat what Add learnt), or of all seen ops if none of its kind was seen.
        Embeddings of seen ops, and so every training graph's embedding, do not change.

        Args:
            seen: ``[num_ops]`` bool, True for ops that occur in the training graphs.

        Returns:
            the names of the ops that were filled.
        """
        ops = list_ops()[:self.num_ops]
        seen = seen.bool()
        if len(ops) != self.num_ops or seen.shape != (self.num_ops,):
            raise ValueError(f"seen must be [{self.num_ops}] for an encoder of {self.num_ops} ops, "
                             f"got {tuple(seen.shape)} ({len(ops)} ops registered)")
        if not seen.any():
            return []
        self.op_embed.weight.copy_(kind_mean_rows(self.op_embed.weight, ops, seen))
        return [op for op, s in zip(ops, seen.tolist()) if not s]

    def node_features(self, data: Data | Batch) -> Tensor:
        """``data.feat``, made scale-free per graph if ``relative`` (before normalisation)."""
        if not self.relative:
            return data.feat
        return relative_shapes(data.feat, _batch_index(data, data.feat.shape[0]), int(data.num_graphs)
                               if hasattr(data, "num_graphs") else 1)

    def node_states(self, data: Data | Batch) -> Tensor:
        """Node states ``[total_nodes, hidden]`` after the message passing stack."""
        if data.op.numel() and int(data.op.max()) >= self.num_ops:
            raise ValueError(f"graph uses op index {int(data.op.max())} but the encoder knows "
                             f"{self.num_ops} ops; rebuild the graph cache or the model")
        edge_index = data.edge_index
        if self.bidirectional:
            edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        h = self.op_embed(data.op) + self.feat_proj(self.feat_norm(self.node_features(data)))
        fast = not torch.is_grad_enabled() and all(_is_mean_graphconv(c) for c in self.convs)
        adj = mean_adjacency(edge_index, h.shape[0]) if fast else None
        for conv, norm in zip(self.convs, self.norms):
            # Without gradients, a mean GraphConv is the same map on a sparse row-normalised
            # adjacency built once for all layers: no [edges, hidden] message tensor per layer.
            y = conv.lin_rel(adj @ h) + conv.lin_root(h) if adj is not None else conv(h, edge_index)
            out = self.dropout(torch.relu(norm(y)))
            h = h + out if self.residual else out
        return h

    def forward(self, data: Data | Batch) -> Tensor:
        """Graph embeddings ``[num_graphs, hidden]``."""
        h = self.node_states(data)
        return _POOLS[self.pool_name](h, _batch_index(data, h.shape[0]))


def _batch_index(data: Data | Batch, num_nodes: int) -> Tensor:
    """Graph index of every node (all zeros for a single ``Data``)."""
    batch = getattr(data, "batch", None)
    return batch if batch is not None else torch.zeros(num_nodes, dtype=torch.long, device=data.op.device)
