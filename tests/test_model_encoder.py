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
