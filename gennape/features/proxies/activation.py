"""Forward-activation proxies: nwot (NASWOT, Mellor et al. 2021 v2) and zen (Lin et al. 2021)."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from gennape.features.proxies.layers import last_input_of
from gennape.features.proxies.registry import register_proxy
from gennape.graph.modules import GlobalAvgPool

_NORM2D = (nn.BatchNorm2d,)
# Units whose on/off pattern nwot reads: ReLU, and the smooth or piecewise activations that
# generalise it (a unit is "on" where its input is positive, as for ReLU).
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Mish, nn.ELU)
# Global average pools: torch's, and the one ``gennape.graph.to_torch`` builds.
_GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d, GlobalAvgPool)


@register_proxy("nwot")
def nwot(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """log|det K|, K = sum over activation modules of c c^T + (1-c)(1-c)^T, c the binary code
    (input > 0) of each image at that activation's input: the number of units on which two images
    agree.

    NASLib counts ``nn.ReLU`` modules only; here every activation of ``_ACTIVATIONS`` counts with
    the same code (GELU, SiLU, Hardswish, ... are "on" where their input is positive), so networks
    without ReLU get a value, and networks with ReLU alone get NASLib's. Functional activations are
    invisible to it.
    """
    n = inputs.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64)
    relus = [m for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    if not relus:
        raise ValueError(f"{type(model).__name__} has no activation module; nwot is undefined")

    def hook(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        nonlocal kernel
        code = (args[0].detach().reshape(n, -1) > 0).to(torch.float64)
        kernel = kernel + code @ code.T + (1.0 - code) @ (1.0 - code).T

    handles = [m.register_forward_pre_hook(hook) for m in relus]
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    _sign, logabsdet = np.linalg.slogdet(kernel.numpy())
    return float(logabsdet)


def _gaussian_init(model: nn.Module) -> None:
    # Zen-NAS's ``network_weight_gaussian_init``: N(0, 1) conv/linear weights, zero biases,
    # unit/zero norm affine parameters.
    for m in model.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            nn.init.normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _pre_pool_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    feats = last_input_of(model, x, _GLOBAL_POOLS)
    if feats is None:  # no global pooling module: fall back to the classifier's input
        feats = last_input_of(model, x, (nn.Linear,))
    if feats is None:
        raise ValueError(f"{type(model).__name__}: no global pooling or Linear layer for zen")
    return feats


@register_proxy("zen")
def zen(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, mixup_gamma: float = 1e-2) -> float:
    """Zen-score: log E_n ||f(x) - f(x + gamma*e)||_1 + sum_BN log sqrt(mean running_var).

    f is the feature map entering the global average pool (found by a forward hook on the last
    ``AdaptiveAvgPool`` or ``gennape.graph`` ``GlobalAvgPool``; the last Linear's input if there
    is none), x and e are Gaussian noise shaped like ``inputs`` (the images themselves are not
    used), the network is re-initialised from N(0, 1) and runs in train mode, so each
    BatchNorm's running variance is updated by the two forward passes before it is read
    (NASLib's order). ``model`` is modified in place.

    Without a BatchNorm after each conv (e.g. BN folded into the conv, as in graphs from
    ``gennape.graph``) N(0, 1) weights grow activations by about sqrt(fan_in) per layer and
    overflow float32 in an NB-201-deep net; the score is then recomputed in float64 from the
    same weights and noise. A float64 overflow gives ``+inf`` (missing, with a reason).
    """
    model.train()
    with torch.no_grad():
        _gaussian_init(model)
        x = torch.randn(inputs.shape, dtype=inputs.dtype)
        e = torch.randn(inputs.shape, dtype=inputs.dtype)
        state = copy.deepcopy(model.state_dict())
        score = _zen_score(model, x, e, mixup_gamma)
        if not math.isfinite(score):
            model.load_state_dict(state)
            score = _zen_score(model.double(), x.double(), e.double(), mixup_gamma)
        return score


def _zen_score(model: nn.Module, x: torch.Tensor, e: torch.Tensor, mixup_gamma: float) -> float:
    """One zen evaluation in ``x``'s dtype; ``+inf`` when the features or a BN variance overflow."""
    out = _pre_pool_features(model, x)
    mixed = _pre_pool_features(model, x + mixup_gamma * e)
    if not (torch.isfinite(out).all() and torch.isfinite(mixed).all()):
        return math.inf
    diff = (out - mixed).abs().reshape(out.shape[0], -1).sum(dim=1).mean()
    log_bn = torch.zeros((), dtype=torch.float64)
    for m in model.modules():
        if isinstance(m, _NORM2D) and m.running_var is not None:
            log_bn = log_bn + torch.log(torch.sqrt(m.running_var.mean())).to(torch.float64)
    if torch.isinf(log_bn):
        return float(log_bn)
    return float(torch.log(diff).to(torch.float64) + log_bn)
