"""Helpers shared by the proxies: which layers count, per-layer sums, hooked activations."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# Zero-cost proxies score the weights of convolutions and fully connected layers only
# (NASLib's ``get_layer_metric_array``); BatchNorm affine parameters and biases never count.
WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """Conv and Linear modules of ``model`` in ``modules()`` order, each listed once."""
    return [m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]


def sum_over_layers(model: nn.Module, metric: Callable[[nn.Module], torch.Tensor]) -> float:
    """Sum of ``metric(layer).sum()`` over the weight layers, accumulated in float64.

    Args:
        model: the network.
        metric: per-layer tensor (per-weight scores, or a scalar such as a norm).
    """
    total = torch.zeros((), dtype=torch.float64)
    for layer in weight_layers(model):
        total = total + metric(layer).detach().to(torch.float64).sum()
    return float(total)


def require_weight_layers(model: nn.Module) -> None:
    """Raise ``ValueError`` when a gradient proxy has nothing to score."""
    if not weight_layers(model):
        raise ValueError(f"{type(model).__name__} has no Conv/Linear layer to score")


def last_input_of(
    model: nn.Module, inputs: torch.Tensor, kinds: tuple[type[nn.Module], ...]
) -> torch.Tensor | None:
    """Run ``model(inputs)`` and return the input of the last-*executed* module of ``kinds``.

    Execution order, not registration order, decides "last", so a classifier declared early but
    called at the end is still found. Returns None when no such module ran.

    Args:
        model: the network.
        inputs: a batch.
        kinds: module classes to watch (e.g. ``(nn.AdaptiveAvgPool2d,)`` or ``(nn.Linear,)``).
    """
    seen: list[torch.Tensor] = []

    def hook(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        seen.append(args[0])

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        model(inputs)
    finally:
        for h in handles:
            h.remove()
    return seen[-1] if seen else None
