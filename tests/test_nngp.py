"""NNGP score: kernel regression sanity, determinism, and better than chance on an easy task."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gennape.core.paths import mirror_root
from gennape.features.nngp import kernel_regression_score, mc_kernel, nngp_score, penultimate_features


class TinyNet(nn.Module):
    def __init__(self, width: int = 16, classes: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.body(x)).flatten(1))


def easy_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Class 0: dark images, class 1: bright images, plus pixel noise; separable by mean colour.
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 3, 8, 8, generator=g) * 0.5 + (y.float() * 2 - 1).view(-1, 1, 1, 1)
    return x, y


def test_penultimate_features_are_the_last_linear_input() -> None:
    net = TinyNet().eval()
    x = torch.randn(5, 3, 8, 8)
    f = penultimate_features(net, x, chunk=2)
    assert f.shape == (5, 16) and f.dtype == torch.float64
    with torch.no_grad():
        expected = net.pool(net.body(x)).flatten(1)
    assert torch.allclose(f.float(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="no nn.Linear"):
        penultimate_features(nn.Sequential(nn.ReLU()), x)


def test_nngp_easy_task_beats_chance_and_is_deterministic() -> None:
    x_tr, y_tr = easy_task(60, seed=0)
    x_va, y_va = easy_task(40, seed=1)
    data = (x_tr, y_tr, x_va, y_va)
    a = nngp_score(TinyNet, draws=2, num_classes=2, data=data, seed=0, bn_batch=32)
    b = nngp_score(TinyNet, draws=2, num_classes=2, data=data, seed=0, bn_batch=32)
    assert 0.0 <= a.accuracy <= 1.0
    assert a.accuracy >= 0.85  # chance is 0.5
    assert (a.accuracy, a.loss, a.ridge) == (b.accuracy, b.loss, b.ridge)
    assert np.isfinite(a.loss) and a.loss >= 0


def test_nngp_random_labels_are_near_chance() -> None:
    # Same images, labels unrelated to them: the held-out accuracy must not be high.
    x_tr, _ = easy_task(60, seed=0)
    x_va, _ = easy_task(60, seed=1)
    g = torch.Generator().manual_seed(7)
    y_tr, y_va = torch.randint(0, 2, (60,), generator=g), torch.randint(0, 2, (60,), generator=g)
    r = nngp_score(TinyNet, draws=2, num_classes=2, data=(x_tr, y_tr, x_va, y_va), bn_batch=32)
    assert 0.0 <= r.accuracy <= 0.75


def test_kernel_is_the_mean_over_draws() -> None:
    x = torch.randn(6, 3, 8, 8)
    k1 = mc_kernel(TinyNet, x, x, draws=1, seed=0)
    k2 = mc_kernel(TinyNet, x, x, draws=1, seed=1)
    k12 = mc_kernel(TinyNet, x, x, draws=2, seed=0)
    assert np.allclose(k12, (k1 + k2) / 2)
    assert np.allclose(k12, k12.T)


def test_kernel_regression_on_a_perfect_kernel() -> None:
    # A kernel that is 1 within a class and 0 across classes classifies perfectly.
    y = torch.tensor([0, 1, 2] * 10)
    k = (y[:, None] == y[None, :]).double().numpy()
    acc, loss, ridge = kernel_regression_score(k, y[:20], y[20:], num_classes=3)
    assert acc == 1.0 and loss < 0.1 and ridge > 0


@pytest.mark.skipif(mirror_root() is None, reason="needs the CIFAR-10 data mirror (../shared/data)")
def test_nngp_on_cifar10_images() -> None:
    r = nngp_score(lambda: TinyNet(classes=10), n_train=40, n_val=30, draws=1, image_size=16)
    assert 0.0 <= r.accuracy <= 1.0 and r.seconds > 0
