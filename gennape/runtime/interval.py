"""Prediction intervals of an adapted predictor: split conformal, normalised by the head spread.

When a checkpoint is adapted to 20 or more labels, a fifth of them never reaches fine-tuning
(``gennape.inference.adapt.calibration_split``); they calibrate the interval: with
``s_i = |y_i - pred_i| / (spread_i + eps)`` on the ``n`` held-out labels, ``q`` is the
``ceil((n + 1) * level)``-th smallest ``s_i``, and a network's interval is
``pred +- q * (spread + eps)``. If the held-out networks are exchangeable with the ones ranked, the
interval holds the true accuracy with probability at least ``level`` (Vovk et al., 2005; Lei et
al., 2018). ``eps`` (a tenth of the median spread on the held-out labels) keeps a zero spread from giving a
zero width.

A zero-shot score has no interval: its unit is not an accuracy, and on families the predictor
never saw no calibration we measured covered what it claimed (docs/transfer.md, Uncertainty).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

LEVEL = 0.8


@dataclass(frozen=True)
class Interval:
    """A calibrated interval: ``half_width(spread) = q * (spread + eps)`` at coverage ``level``,
    from ``n`` held-out labels."""

    level: float
    q: float
    eps: float
    n: int

    def half_width(self, spread: np.ndarray) -> np.ndarray:
        return self.q * (np.asarray(spread, dtype=np.float64) + self.eps)

    def to_meta(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> "Interval":
        return cls(float(meta["level"]), float(meta["q"]), float(meta["eps"]), int(meta["n"]))


def calibrate(y: np.ndarray, pred: np.ndarray, spread: np.ndarray, level: float = LEVEL) -> Interval | None:
    """The :class:`Interval` of held-out labels ``y`` predicted ``pred`` with head spread
    ``spread``; None when there are too few of them for ``level`` (``ceil((n + 1) level) > n``)."""
    y, pred, spread = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (y, pred, spread))
    n = len(y)
    k = math.ceil((n + 1) * level)
    if n == 0 or k > n:
        return None
    eps = 0.1 * float(np.median(spread)) or 1e-6
    s = np.sort(np.abs(y - pred) / (spread + eps))
    return Interval(float(level), float(s[k - 1]), eps, n)
