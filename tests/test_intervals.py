"""Split-conformal intervals (gennape.runtime.interval): they cover what they claim on
exchangeable data, adapt their width to the spread, and refuse too few labels."""

from __future__ import annotations

import numpy as np
import pytest

from gennape.runtime.interval import Interval, calibrate


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spread = rng.uniform(0.2, 2.0, n)
    pred = rng.normal(70, 5, n)
    return pred + spread * rng.standard_t(4, n), pred, spread  # heavy tails, error scale = spread


@pytest.mark.parametrize("n", [10, 50, 400])
def test_coverage_is_at_least_the_level_on_exchangeable_data(n: int) -> None:
    rng = np.random.default_rng(n)
    covered = []
    for _ in range(200):  # many calibrations: the guarantee is on average over them
        interval = calibrate(*_draw(rng, n))
        y, pred, spread = _draw(rng, 200)
        covered.append(np.mean(np.abs(y - pred) <= interval.half_width(spread)))
    assert 0.79 <= np.mean(covered) <= 0.8 + 1.0 / (n + 1) + 0.02


def test_width_follows_the_spread_and_round_trips() -> None:
    interval = calibrate(*_draw(np.random.default_rng(0), 100))
    wide, narrow = interval.half_width(np.array([2.0, 0.2]))
    assert wide > 3 * narrow
    assert Interval.from_meta(interval.to_meta()) == interval


def test_too_few_labels_give_no_interval() -> None:
    y, pred, spread = _draw(np.random.default_rng(1), 3)
    assert calibrate(y, pred, spread) is None  # ceil(4 * 0.8) = 4 > 3
    assert calibrate(y[:0], pred[:0], spread[:0]) is None
    assert calibrate(*_draw(np.random.default_rng(2), 4)) is not None
