"""Data-free proxies that read the weights: synflow and l2_norm."""

from __future__ import annotations

import math

import torch
from torch import nn

from gennape.features.proxies.layers import require_weight_layers, sum_over_layers
from gennape.features.proxies.registry import register_proxy

_NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def _disable_norm_layers(model: nn.Module) -> None:
    # NASLib's ``copynet(bn=False)``: normalisation layers become the identity, so the all-ones
    # input's signal is the product of |W| along paths (what synflow measures).
    for m in model.modules():
        if isinstance(m, _NORM_LAYERS):
            m.forward = lambda x: x  # type: ignore[method-assign]


@register_proxy("synflow")
def synflow(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """SynFlow (Tanaka et al. 2020) as log(sum |W * dR/dW|), R = sum(f_|W|(1)).

    The network runs in float64 with every parameter and buffer replaced by its absolute value,
    normalisation layers switched off, on a single all-ones image shaped like ``inputs[0]``. The
    sum is returned as its natural log (as NAS-Bench-Suite-Zero stores it), so large nets stay in
    range; an overflowing sum gives ``inf`` (recorded as missing by the runner) and a zero sum
    (no path from input to output) gives ``-inf``, also missing. ``model`` is modified in place.
    """
    require_weight_layers(model)
    _disable_norm_layers(model)
    model.double()
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    model.zero_grad(set_to_none=True)
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64)
    model(ones).sum().backward()
    total = sum_over_layers(
        model, lambda l: (l.weight * l.weight.grad).abs() if l.weight.grad is not None else l.weight * 0
    )
    if math.isnan(total) or math.isinf(total):
        return total
    return math.log(total) if total > 0 else float("-inf")


@register_proxy("l2_norm")
def l2_norm(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Sum over Conv/Linear layers of each layer's weight Frobenius norm (at initialisation)."""
    require_weight_layers(model)
    return sum_over_layers(model, lambda l: l.weight.norm())
