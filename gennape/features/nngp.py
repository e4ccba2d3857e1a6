"""Monte-Carlo NNGP score of a network (after Park et al. 2020, "Towards NNGP-guided NAS").

For M random initialisations the network's penultimate features (the input of its last
``nn.Linear``, i.e. the globally pooled features, captured by a forward pre-hook on that layer) on
n_train training and n_val held-out images give an empirical kernel K = F F^T / width; the kernels
are averaged over the draws. Kernel ridge regression on zero-mean one-hot labels, with a
regulariser lambda * trace(K_train) / n_train chosen on a split of the *training* images only,
predicts the held-out labels; the score is the held-out accuracy (and the regression loss).

BatchNorm: each draw first runs one train-mode forward on a batch of training images with
cumulative statistics (momentum None, so running stats equal that batch's), then switches to eval,
so features do not depend on how the evaluation images are batched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gennape.features.batch import cifar10_images

DEFAULT_RIDGES: tuple[float, ...] = tuple(float(r) for r in np.logspace(-4, 2, 13))


@dataclass(frozen=True)
class NNGPResult:
    """NNGP score of one network.

    Args:
        accuracy: held-out accuracy of the kernel regression, in [0, 1].
        loss: held-out mean squared error of the regression on zero-mean one-hot labels.
        ridge: the chosen relative regulariser lambda.
        seconds: wall-clock time of :func:`nngp_score`.
    """

    accuracy: float
    loss: float
    ridge: float
    seconds: float


def penultimate_features(model: nn.Module, inputs: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Inputs of the last-executed ``nn.Linear`` for each image, flattened to (N, width), float64.

    Args:
        model: the network, in the mode the caller wants (eval for NNGP).
        inputs: images.
        chunk: images per forward pass (memory bound only; eval mode makes results batch-independent).
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer: no penultimate features")
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured.append(args[0])

    handles = [m.register_forward_pre_hook(hook) for m in linears]
    feats = []
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), chunk):
                captured.clear()
                model(inputs[start : start + chunk])
                feats.append(captured[-1].reshape(captured[-1].shape[0], -1).to(torch.float64))
    finally:
        for h in handles:
            h.remove()
    return torch.cat(feats)


def _calibrate_batchnorm(model: nn.Module, images: torch.Tensor) -> None:
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, running stats = batch stats
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def _one_hot_zero_mean(y: torch.Tensor, num_classes: int) -> np.ndarray:
    onehot = np.eye(num_classes)[y.numpy()]
    return onehot - 1.0 / num_classes


def _krr_predict(k_fit: np.ndarray, k_pred_fit: np.ndarray, y_fit: np.ndarray, ridge: float) -> np.ndarray:
    n = len(k_fit)
    reg = ridge * np.trace(k_fit) / n
    # Cholesky would do, but lstsq stays stable when a degenerate net gives a singular kernel.
    try:
        alpha = np.linalg.solve(k_fit + reg * np.eye(n), y_fit)
    except np.linalg.LinAlgError:
        alpha = np.linalg.lstsq(k_fit + reg * np.eye(n), y_fit, rcond=None)[0]
    return k_pred_fit @ alpha


def kernel_regression_score(
    kernel: np.ndarray,
    y_train: torch.Tensor,
    y_val: torch.Tensor,
    num_classes: int,
    ridges: Sequence[float] = DEFAULT_RIDGES,
    select_fraction: float = 0.2,
) -> tuple[float, float, float]:
    """Kernel ridge regression from a joint (train + val) kernel; returns (accuracy, loss, ridge).

    The ridge is chosen by accuracy (then lower loss) on the last ``select_fraction`` of the
    training images, fitted on the rest; the final fit uses all training images.

    Args:
        kernel: (n_train + n_val) square kernel, training images first.
        y_train: training labels.
        y_val: held-out labels.
        num_classes: number of classes of the one-hot targets.
        ridges: candidate relative regularisers lambda (scaled by trace(K_train) / n_train).
        select_fraction: share of training images used to pick the ridge.
    """
    n_tr = len(y_train)
    n_sel = max(1, int(round(select_fraction * n_tr)))
    if n_tr - n_sel < 1:
        raise ValueError(f"need at least 2 training images for ridge selection, got {n_tr}")
    y_tr = _one_hot_zero_mean(y_train, num_classes)
    k_tr = kernel[:n_tr, :n_tr]
    fit, sel = slice(0, n_tr - n_sel), slice(n_tr - n_sel, n_tr)
    best: tuple[float, float, float] | None = None
    for r in ridges:
        pred = _krr_predict(k_tr[fit, fit], k_tr[sel, fit], y_tr[fit], r)
        acc = float((pred.argmax(1) == y_train[sel].numpy()).mean())
        loss = float(((pred - y_tr[sel]) ** 2).mean())
        if best is None or (acc, -loss) > (best[0], -best[1]):
            best = (acc, loss, r)
    assert best is not None
    ridge = best[2]
    pred = _krr_predict(k_tr, kernel[n_tr:, :n_tr], y_tr, ridge)
    y_va = _one_hot_zero_mean(y_val, num_classes)
    accuracy = float((pred.argmax(1) == y_val.numpy()).mean())
    loss = float(((pred - y_va) ** 2).mean())
    return accuracy, loss, ridge


def mc_kernel(
    model_factory: Callable[[], nn.Module],
    images: torch.Tensor,
    bn_images: torch.Tensor,
    draws: int,
    seed: int,
) -> np.ndarray:
    """Monte-Carlo NNGP kernel: mean over ``draws`` initialisations of F F^T / width.

    Args:
        model_factory: builds the network with fresh weights (called after seeding each draw).
        images: images to compute the kernel on.
        bn_images: the training batch whose statistics each draw's BatchNorm layers use.
        draws: number of random initialisations M.
        seed: draw m uses torch seed ``seed + m``.
    """
    total = np.zeros((len(images), len(images)))
    for m in range(draws):
        torch.manual_seed(seed + m)
        model = model_factory()
        _calibrate_batchnorm(model, bn_images)
        f = penultimate_features(model, images)
        total += (f @ f.T).numpy() / f.shape[1]
    return total / draws


def nngp_score(
    model_factory: Callable[[], nn.Module],
    n_train: int = 128,
    n_val: int = 128,
    draws: int = 2,
    image_size: int = 32,
    seed: int = 0,
    num_classes: int = 10,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    bn_batch: int = 64,
) -> NNGPResult:
    """NNGP score of the network built by ``model_factory``.

    Args:
        model_factory: builds the network with fresh weights.
        n_train: CIFAR-10 training images (kernel regression fit and ridge selection).
        n_val: held-out CIFAR-10 images (from the test file, so disjoint from training).
        draws: random initialisations M averaged in the kernel.
        image_size: side length the images are resized to.
        seed: seeds the image draw and the initialisations.
        num_classes: classes of the labels.
        data: optional ``(x_train, y_train, x_val, y_val)`` to use instead of CIFAR-10.
        bn_batch: how many of the training images set the BatchNorm statistics.
    """
    start = time.perf_counter()
    if data is None:
        x_tr, y_tr = cifar10_images(n_train, seed=seed, split="train", image_size=image_size)
        x_va, y_va = cifar10_images(n_val, seed=seed, split="test", image_size=image_size)
    else:
        x_tr, y_tr, x_va, y_va = data
    if len(x_tr) != len(y_tr) or len(x_va) != len(y_va):
        raise ValueError("NNGP data: images and labels differ in length")
    kernel = mc_kernel(model_factory, torch.cat([x_tr, x_va]), x_tr[:bn_batch], draws, seed)
    if not np.all(np.isfinite(kernel)):
        raise FloatingPointError("NNGP kernel has NaN/inf entries (features overflowed)")
    acc, loss, ridge = kernel_regression_score(kernel, y_tr, y_va, num_classes)
    return NNGPResult(acc, loss, ridge, time.perf_counter() - start)
