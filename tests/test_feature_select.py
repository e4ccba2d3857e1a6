"""The sign-consistency feature selection: decided on the training tasks alone."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from gennape.model.feature_select import select, sign_consistent


def _task(key: str, y: np.ndarray, columns: list[np.ndarray]) -> SimpleNamespace:
    graphs = []
    for i in range(len(y)):
        row = torch.tensor([[float(c[i]) for c in columns]])
        graphs.append(SimpleNamespace(aux=row, aux_mask=torch.isfinite(row).float()))
    return SimpleNamespace(key=key, y=y, graphs=graphs)


def test_a_feature_that_ranks_one_task_backwards_is_dropped() -> None:
    rng = np.random.default_rng(0)
    y1, y2 = rng.normal(size=200), rng.normal(size=200)
    good = [y1 + 0.1 * rng.normal(size=200), y2 + 0.1 * rng.normal(size=200)]
    flips = [y1, -y2]
    noise = [rng.normal(size=200), rng.normal(size=200)]  # ~0 everywhere: no sign, kept
    tasks = [_task("a", y1, [good[0], flips[0], noise[0]]), _task("b", y2, [good[1], flips[1], noise[1]])]
    kept, corr = select("sign_consistent", tasks, ["good", "flips", "noise"], [0, 1, 2])
    assert kept == ["good", "noise"]
    assert corr["flips"]["a"] > 0.9 and corr["flips"]["b"] < -0.9


def test_missing_values_and_small_tasks_are_left_out() -> None:
    assert sign_consistent({"f": {"a": 0.5, "b": -0.02}, "g": {}}) == ["f"]
