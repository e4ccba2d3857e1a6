"""The CG's FLOPs rank networks like the benchmarks' published FLOPs.

Unit relation (measured): reference ``flops`` [M] ~= CG ``.flops`` / 2e6, i.e. the tables count
multiply-accumulates in millions (plus small extras such as pooling), ``.flops`` counts 2 x MACs.
The parameter faithfulness of the builders is checked in ``test_spaces.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from gennape.core.paths import data_root
from gennape.graph import from_module
from gennape.spaces import get_space
from gennape.spaces.darts import NB301_REFERENCE_SETTINGS

TABLES = {
    "nb201": ("nb201/nb201_zc_reference_cifar10.csv.gz", lambda d: list(d.arch), {}),
    "nb101": ("nb101/nb101_500.csv.gz", lambda d: list(zip(d.adjacency, d.ops)), {}),
    "darts": ("nb301/nb301_725.csv.gz", lambda d: list(d.genotype), NB301_REFERENCE_SETTINGS),
}
FAST_SAMPLE = {"nb201": 40, "nb101": 20, "darts": 12}
FAST_MIN_SRCC = {"nb201": 0.99, "nb101": 0.99, "darts": 0.95}  # 12 DARTS cells span a narrow FLOPs range


def _flops(space_name: str, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    path, specs, kwargs = TABLES[space_name]
    try:
        table = pd.read_csv(data_root() / path)
    except FileNotFoundError as e:
        pytest.skip(f"no benchmark data ({e})")
    if n is not None:
        table = table.sample(n, random_state=0)
    space, x = get_space(space_name), torch.randn(1, 3, 32, 32)
    ours = np.array([from_module(space.build(space.parse(s), **kwargs), x).flops for s in specs(table)], float)
    return ours, table["flops"].to_numpy(float)


@pytest.mark.parametrize("space_name", list(TABLES))
def test_flops_rank_like_the_reference(space_name):
    ours, ref = _flops(space_name, FAST_SAMPLE[space_name])
    assert spearmanr(ours, ref)[0] >= FAST_MIN_SRCC[space_name]
    assert 0.45 <= np.median(ref * 1e6 / ours) <= 0.55  # MACs in millions


@pytest.mark.slow
@pytest.mark.parametrize("space_name", list(TABLES))
def test_flops_rank_like_the_reference_all_rows(space_name):
    ours, ref = _flops(space_name, None)
    assert spearmanr(ours, ref)[0] >= 0.99
