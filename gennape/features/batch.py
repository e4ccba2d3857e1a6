"""Deterministic CIFAR-10 images from the data mirror, normalised, for proxies and NNGP.

Images come from ``data_root()/cifar10/cifar10_{train,test}_10000.npz`` (keys ``x``: uint8
N x 32 x 32 x 3, ``y``: labels). Which images are drawn depends only on ``seed``.

The package ships the images every default feature reads (``cifar10_seed0.npz``: the first 128 of
seed 0's permutation of each file, with their indices in it; 0.7 MB), so ``predict.py`` computes
proxies and NNGP offline, with no data mirror: a draw with seed 0 that those cover is read from
there, and is the same as from the mirror (tests/test_feature_images.py). Made by
``python -m gennape.features.batch``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gennape.core.paths import data_root

# Channel statistics of the CIFAR-10 training set (as NASLib normalises it).
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
SHIPPED = Path(__file__).resolve().parent / "cifar10_seed0.npz"
SHIPPED_SEED, SHIPPED_N = 0, 128
SPLIT_FILES: dict[str, str] = {
    "train": "cifar10/cifar10_train_10000.npz",
    "test": "cifar10/cifar10_test_10000.npz",
}


@lru_cache(maxsize=4)
def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 file {path} not found; run `python -m gennape.data fetch`")
    with np.load(path) as z:
        if "x" not in z or "y" not in z:
            raise ValueError(f"{path}: expected arrays 'x' and 'y', found {sorted(z.files)}")
        x, y = z["x"], z["y"]
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8:
        raise ValueError(f"{path}: 'x' must be uint8 N x 32 x 32 x 3, got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{path}: 'y' has shape {y.shape}, expected ({x.shape[0]},)")
    return x, y


def load_cifar10(
    split: str = "train", root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Raw CIFAR-10 arrays of a split: uint8 images (N, 32, 32, 3) and labels (N,).

    Args:
        split: ``"train"`` or ``"test"``.
        root: data folder (default: :func:`gennape.core.paths.data_root`).
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown CIFAR-10 split {split!r}; use one of {sorted(SPLIT_FILES)}")
    return _load_npz(data_root(root) / SPLIT_FILES[split])


def to_tensor(x: np.ndarray, image_size: int = 32) -> torch.Tensor:
    """uint8 NHWC images -> float32 NCHW, normalised with the CIFAR-10 mean/std, resized if asked.

    Args:
        x: uint8 images (N, H, W, 3).
        image_size: output side length; bilinear (antialiased) resize when it differs.
    """
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    t = (t - mean) / std
    if image_size != t.shape[-1]:
        t = F.interpolate(t, size=(image_size, image_size), mode="bilinear", antialias=True)
    return t.contiguous()


def cifar10_images(
    n: int,
    seed: int = 0,
    split: str = "train",
    image_size: int = 32,
    root: str | os.PathLike | None = None,
    skip: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` distinct images of a split, drawn by a seeded permutation, as (inputs, int64 labels).

    Args:
        n: number of images.
        seed: permutation seed; the same seed gives the same images in the same order.
        split: ``"train"`` or ``"test"``.
        image_size: side length of the returned images.
        root: data folder (default: :func:`gennape.core.paths.data_root`).
        skip: start this far into the permutation, so two calls with the same seed and
            disjoint ``[skip, skip + n)`` ranges never share an image.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown CIFAR-10 split {split!r}; use one of {sorted(SPLIT_FILES)}")
    if root is None and seed == SHIPPED_SEED and skip >= 0 and 1 <= n and skip + n <= SHIPPED_N and SHIPPED.is_file():
        with np.load(SHIPPED) as z:
            x, y = z[f"{split}_x"][skip : skip + n], z[f"{split}_y"][skip : skip + n]
        return to_tensor(x, image_size), torch.from_numpy(y.astype(np.int64))
    x, y = load_cifar10(split, root)
    if n < 1 or skip < 0 or skip + n > len(x):
        raise ValueError(f"CIFAR-10 {split}: cannot take {n} images after {skip} of {len(x)}")
    idx = np.random.default_rng(seed).permutation(len(x))[skip : skip + n]
    return to_tensor(x[idx], image_size), torch.from_numpy(y[idx].astype(np.int64))


def proxy_batch(
    batch_size: int = 64, seed: int = 0, image_size: int = 32, root: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The minibatch zero-cost proxies are computed on: training images, no augmentation.

    Args:
        batch_size: number of images (NAS-Bench-Suite-Zero used one batch of 64).
        seed: which images.
        image_size: side length.
        root: data folder.
    """
    return cifar10_images(batch_size, seed=seed, split="train", image_size=image_size, root=root)


def write_shipped(path: Path = SHIPPED, root: str | os.PathLike | None = None) -> Path:
    """Write the shipped subset (see the module docstring) from the data mirror."""
    arrays = {}
    for split in SPLIT_FILES:
        x, y = load_cifar10(split, root)
        idx = np.random.default_rng(SHIPPED_SEED).permutation(len(x))[:SHIPPED_N]
        arrays |= {f"{split}_x": x[idx], f"{split}_y": y[idx].astype(np.int64), f"{split}_index": idx}
    np.savez_compressed(path, **arrays)
    return path


if __name__ == "__main__":
    print(write_shipped())
