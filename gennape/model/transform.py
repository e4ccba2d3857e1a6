"""GENNAPE's target transform: accuracy per log-compute, z-scored with training statistics.

``t = acc / (log10(GFLOPs + 1) + 1)`` removes the part of accuracy that compute alone explains
(bigger networks score higher), so the heads learn what the architecture adds on top; z-scoring
puts the targets of any family on one scale. The statistics are buffers, so they are stored with
the model and applied, inverted, to every prediction.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def flops_divisor(flops: Tensor) -> Tensor:
    """``log10(GFLOPs + 1) + 1`` for FLOPs counts (2 x MACs, batch 1)."""
    return torch.log10(flops.to(torch.float32) / 1e9 + 1.0) + 1.0


class TargetTransform(nn.Module):
    """Invertible accuracy <-> training target map.

    Args:
        divide_by_flops: divide accuracy by ``log10(GFLOPs + 1) + 1`` (GENNAPE).
        standardize: z-score with the mean and std of the fitted training targets.
        fit_exponent: divide by the divisor to a power ``a`` fitted on the training family so that
            the target is uncorrelated with it (``a`` = slope of log accuracy on log divisor, in
            [0, 1]): only the compute dependence the training family shows is removed. With
            ``a = 1`` fixed (GENNAPE), a family whose accuracy barely grows with compute (NB-101)
            gets targets that fall with compute, and the heads learn "more compute, lower target".
    """

    def __init__(self, divide_by_flops: bool = True, standardize: bool = True, fit_exponent: bool = False) -> None:
        super().__init__()
        self.divide_by_flops, self.standardize, self.fit_exponent = divide_by_flops, standardize, fit_exponent
        self.register_buffer("exponent", torch.tensor(1.0))
        self.register_buffer("mean", torch.tensor(0.0))
        self.register_buffer("std", torch.tensor(1.0))
        self.register_buffer("fitted", torch.tensor(not standardize))
        # Highest training accuracy and the scale's ceiling (100 for %, 1 for fractions): see bound().
        self.register_buffer("acc_max", torch.tensor(float("inf")))
        self.register_buffer("ceiling", torch.tensor(float("inf")))

    def _divisor(self, flops: Tensor) -> Tensor:
        return flops_divisor(flops) ** self.exponent

    def _scaled(self, acc: Tensor, flops: Tensor) -> Tensor:
        return acc / self._divisor(flops) if self.divide_by_flops else acc

    @torch.no_grad()
    def fit(self, acc: Tensor, flops: Tensor) -> "TargetTransform":
        """Learn the z-score statistics from the training accuracies and FLOPs.

        Args:
            acc: accuracies ``[N]``.
            flops: FLOPs ``[N]`` of the same graphs.
        """
        if self.divide_by_flops and self.fit_exponent:
            x, y = torch.log(flops_divisor(flops)), torch.log(acc.float().clamp_min(1e-6))
            var = ((x - x.mean()) ** 2).mean()
            slope = ((x - x.mean()) * (y - y.mean())).mean() / var if var > 1e-12 else torch.tensor(1.0)
            self.exponent.fill_(float(slope.clamp(0.0, 1.0)))
        if self.standardize:
            if acc.numel() < 2:
                raise ValueError(f"TargetTransform.fit needs >= 2 targets, got {acc.numel()}")
            t = self._scaled(acc.float(), flops)
            self.mean.fill_(t.mean())
            self.std.fill_(t.std().clamp_min(1e-8))
        top = float(acc.max())
        self.acc_max.fill_(top)
        self.ceiling.fill_(100.0 if top > 1.0 else 1.0)
        self.fitted.fill_(True)
        return self

    def bound(self, acc: Tensor) -> Tensor:
        """Keep predictions below the accuracy ceiling without changing their order.

        Dividing by FLOPs and multiplying back extrapolates: a network with far more compute than
        any training network would get more than 100 %. Above the highest training accuracy, values
        are squashed into (acc_max, ceiling) by ``room * over / (over + room)`` (slope 1 at acc_max, strictly
        increasing, never reaching the ceiling); below it they are unchanged.
        """
        room = (self.ceiling - self.acc_max).clamp_min(1e-6)
        over = (acc - self.acc_max).clamp_min(0.0)
        return torch.where(acc > self.acc_max, self.acc_max + room * over / (over + room), acc)

    def forward(self, acc: Tensor, flops: Tensor) -> Tensor:
        """Training target of accuracies ``acc`` of graphs with ``flops``."""
        if not bool(self.fitted):
            raise RuntimeError("TargetTransform used before fit()")
        return (self._scaled(acc, flops) - self.mean) / self.std

    def inverse(self, target: Tensor, flops: Tensor) -> Tensor:
        """Accuracy from a (predicted) training target."""
        if not bool(self.fitted):
            raise RuntimeError("TargetTransform used before fit()")
        t = target * self.std + self.mean
        return self.bound(t * self._divisor(flops) if self.divide_by_flops else t)

    def extra_repr(self) -> str:
        return (f"divide_by_flops={self.divide_by_flops}, standardize={self.standardize}, "
                f"fit_exponent={self.fit_exponent}")
