"""The structure analysis of benchmarks/nngp_report.py: what the NNGP score follows in NB-201 cells."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from nngp_report import by_structure, edge_counts  # noqa: E402

SPEC = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"


def test_edge_counts_reads_the_six_edges_of_a_cell():
    assert edge_counts(SPEC) == {"conv": 2, "skip": 2, "pool": 1}


def test_by_structure_correlates_within_each_conv_count():
    ops = ["nor_conv_3x3", "skip_connect"]
    rng = np.random.default_rng(0)
    specs, rows = [], []
    for i in range(60):
        conv = i % 3  # 0, 1 or 2 conv edges, 20 cells each
        edges = [ops[0]] * conv + [ops[1]] * (6 - conv)
        spec = "|" + "|+|".join("|".join(f"{e}~{j}" for j, e in enumerate(edges[a:b]))
                                 for a, b in ((0, 1), (1, 3), (3, 6))) + "|"
        specs.append(f"{spec}#{i}")  # distinct index labels; the suffix has no '|'
        acc = 10.0 * conv + rng.normal()
        rows.append({"nngp": -conv + 0.01 * acc, "acc": acc})  # follows skips overall, accuracy within
    cells = pd.DataFrame(rows, index=specs)
    res = by_structure(cells, "acc")
    assert res["overall"]["nngp_vs_conv"] < -0.9 and res["overall"]["accuracy_vs_conv"] > 0.9
    assert [s["conv_edges"] for s in res["strata"]] == [0, 1, 2]
    assert all(s["cells"] == 20 and s["spearman_nngp_accuracy"] == pytest.approx(1.0) for s in res["strata"])
