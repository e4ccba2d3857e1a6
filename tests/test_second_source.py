"""benchmarks/second_source.py: a second family's accuracies mapped onto the source's scale."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from second_source import aligned, model_config  # noqa: E402

from gennape.model.dataset import Family  # noqa: E402


def test_aligned_keeps_the_order_and_takes_the_source_mean_and_spread():
    acc = np.array([93.1, 94.0, 92.5, 93.7])
    graphs = [Data(y=torch.tensor([float(a)]), num_nodes=1) for a in acc]
    fam = Family("nb301", "acc", pd.DataFrame({"acc": acc}), graphs)
    out = np.array([float(g.y) for g in aligned(fam, 85.0, 10.0)])
    assert np.allclose(out.mean(), 85.0) and np.allclose(out.std(), 10.0)
    assert list(np.argsort(out)) == list(np.argsort(acc))
    assert [float(g.y) for g in graphs] == list(acc.astype(np.float32))  # the family's own graphs untouched


def test_model_config_is_the_default_model_with_its_feature_count():
    mc = model_config()
    assert mc["name"] == "gennape" and mc["aux_dim"] == len(mc["aux_features"])
