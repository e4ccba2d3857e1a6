"""benchmarks/compute_prior.py: graph statistics behind the compute-and-depth priors."""

import sys
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from compute_prior import STATISTICS, depth, statistics  # noqa: E402

from gennape.graph.ops import list_ops  # noqa: E402


def _graph(ops: list[str], edges: list[tuple[int, int]], flops: float = 1.0) -> Data:
    vocab = list_ops()
    return Data(op=torch.tensor([vocab.index(o) for o in ops]), edge_index=torch.tensor(edges).T.reshape(2, -1),
                num_nodes=len(ops), flops=torch.tensor([flops]), params=torch.tensor([flops]), hash="h")


def test_depth_counts_weight_layers_on_the_longest_path():
    # Input -> Conv -> ReLU -> Conv -> Add -> Linear -> Output, and a skip Input -> Add.
    g = _graph(["Input", "Conv", "ReLU", "Conv", "Add", "Linear", "Output"],
               [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4), (4, 5), (5, 6)])
    assert depth(g) == 3
    g_branch = _graph(["Input", "Conv", "Conv", "Add", "Output"], [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)])
    assert depth(g_branch) == 1
    shuffled = _graph(["Conv", "Input", "Output"], [(1, 0), (0, 2)])  # any node order
    assert depth(shuffled) == 1


def test_statistics_are_quantiles_within_the_set():
    graphs = [_graph(["Input"] + ["Conv"] * k + ["Output"], [(i, i + 1) for i in range(k + 1)], flops=float(k))
              for k in (1, 3, 2)]
    s = statistics(graphs)
    assert s.shape == (3, len(STATISTICS))
    assert np.all((s > 0) & (s < 1))
    col = STATISTICS.index("depth")
    assert list(np.argsort(s[:, col])) == [0, 2, 1]
