"""The CIFAR-10 images shipped in the package are the mirror's, so features agree offline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gennape.core.paths import mirror_root
from gennape.features.batch import SHIPPED, cifar10_images, proxy_batch


def test_shipped_images_cover_the_default_draws() -> None:
    assert SHIPPED.is_file() and SHIPPED.stat().st_size < 1_000_000
    x, y = proxy_batch(64)
    assert x.shape == (64, 3, 32, 32) and y.shape == (64,)
    x16, _ = cifar10_images(128, seed=0, split="test", image_size=16)
    assert x16.shape == (128, 3, 16, 16)


def test_shipped_images_equal_the_mirror() -> None:
    root = mirror_root()
    if root is None or not (root / "cifar10" / "cifar10_train_10000.npz").is_file():
        pytest.skip("no CIFAR-10 mirror (../shared/data/cifar10) to compare the shipped images with")
    for split in ("train", "test"):
        shipped = cifar10_images(128, seed=0, split=split)
        mirror = cifar10_images(128, seed=0, split=split, root=root)
        assert torch.equal(shipped[0], mirror[0]) and torch.equal(shipped[1], mirror[1])
    with np.load(SHIPPED) as z:
        assert z["train_index"].shape == (128,)
