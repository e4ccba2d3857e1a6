import pytest
import torch
from torch_geometric.data import Batch

from gennape.graph.encoding import NUM_FEATURES
from gennape.graph.ops import list_ops
from gennape.model.encoder import GraphEncoder, list_layers
from gennape.model.synthetic import synthetic_graphs


@pytest.mark.parametrize("layer", list_layers())
def test_every_layer_embeds_batches_independently(layer):
    graphs = synthetic_graphs(5, seed=1)
    enc = GraphEncoder(len(list_ops()), NUM_FEATURES, hidden=16, num_layers=2, layer=layer).eval()
    enc.feat_norm.fit(torch.cat([g.feat for g in graphs]))
    z = enc(Batch.from_data_list(graphs))
    assert z.shape == (5, 16) and torch.isfinite(z).all()
    # A graph's embedding does not depend on its batch mates.
    alone = enc(Batch.from_data_list([graphs[3]]))
    torch.testing.assert_close(alone[0], z[3], atol=1e-5, rtol=1e-5)


def test_unknown_names_and_ops_are_clear_errors():
    with pytest.raises(KeyError, match="unknown GNN layer"):
        GraphEncoder(len(list_ops()), NUM_FEATURES, layer="nope")
    g = synthetic_graphs(1)[0]
    enc = GraphEncoder(3, NUM_FEATURES, hidden=8, num_layers=1)
    with pytest.raises(ValueError, match="op index"):
        enc(Batch.from_data_list([g]))


def test_unseen_ops_get_the_learnt_embedding_of_their_kind():
    ops = list_ops()
    enc = GraphEncoder(len(ops), NUM_FEATURES, hidden=8, num_layers=1)
    before = enc.op_embed.weight.detach().clone()
    seen = torch.zeros(len(ops), dtype=torch.bool)
    for name in ("Input", "Output", "Conv", "ReLU", "Sigmoid", "Add", "AvgPool", "GlobalAvgPool", "Linear"):
        seen[ops.index(name)] = True
    filled = enc.fill_unseen_ops(seen)
    after = enc.op_embed.weight.detach()
    assert set(filled) == {o for i, o in enumerate(ops) if not seen[i]}
    torch.testing.assert_close(after[seen], before[seen])  # seen rows, hence training graphs, unchanged
    torch.testing.assert_close(after[ops.index("MaxPool")], before[ops.index("AvgPool")])  # pool <- pool
    torch.testing.assert_close(after[ops.index("Concat")], before[ops.index("Add")])  # merge <- merge
    torch.testing.assert_close(after[ops.index("GELU")],  # activation <- mean of the seen activations
                               before[[ops.index("ReLU"), ops.index("Sigmoid")]].mean(0))
    torch.testing.assert_close(after[ops.index("Slice")], before[seen].mean(0))  # no shape op seen: all seen
    assert enc.fill_unseen_ops(seen) == filled  # idempotent
    torch.testing.assert_close(enc.op_embed.weight.detach(), after)
    with pytest.raises(ValueError, match="seen must be"):
        enc.fill_unseen_ops(seen[:3])
