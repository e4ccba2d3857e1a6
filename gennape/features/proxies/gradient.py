"""Loss-gradient proxies on one minibatch: grad_norm, snip, grasp, fisher, plain.

Definitions follow Abdelfattah et al. 2021 as implemented in NAS-Bench-Suite-Zero (NASLib,
``naslib/predictors/utils/pruners/measures``): cross-entropy on the real minibatch, network in
train mode with BatchNorm on, per-weight (or per-channel) scores summed over the weights of every
Conv and Linear layer. grad_norm, snip, plain and fisher read the same gradient, so they come from
one shared pass; grasp needs a Hessian-vector product of its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gennape.features.proxies.layers import require_weight_layers, sum_over_layers, weight_layers
from gennape.features.proxies.registry import register_proxy, register_shared_pass


def logits(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The network's output as ``[N, classes]``: an output with one non-singleton axis (a 1x1-conv
    classifier's ``[N, C, 1, 1]``, a channels-last ``[N, 1, 1, C]``) is flattened; a spatial map
    ``[N, C, H, W]`` is averaged over its positions."""
    out = model(inputs)
    if out.dim() > 2:
        if sum(s > 1 for s in out.shape[1:]) <= 1:
            out = out.reshape(out.shape[0], -1)
        else:
            out = out.flatten(2).mean(-1)
    return out


def _backward_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(logits(model, inputs), targets)
    loss.backward()


def _grad_or_zero(layer: nn.Module) -> torch.Tensor:
    # A layer that does not reach the loss (e.g. behind an NB-201 ``none`` edge) scores 0.
    g = layer.weight.grad
    return torch.zeros_like(layer.weight) if g is None else g


LOSS_GRADIENT_PROXIES = ("fisher", "grad_norm", "plain", "snip")


@register_shared_pass(*LOSS_GRADIENT_PROXIES)
def loss_gradient_scores(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """grad_norm, snip, plain and fisher from one cross-entropy backward pass.

    - grad_norm: sum over layers of the Frobenius norm of dL/dW (one norm per layer, then summed).
    - snip: SNIP saliency sum |W * dL/dW| (= |dL/dmask| at mask = 1, as in NASLib).
    - plain: sum of W * dL/dW (signed).
    - fisher: per output channel 0.5 * mean_n (sum_spatial a * dL/da)^2, a the layer's output
      activation; broadcast to the channel's weights (times fan-in, as NASLib) and summed.
    """
    layers = weight_layers(model)
    require_weight_layers(model)
    channel: dict[nn.Module, torch.Tensor] = {}

    def make_hook(layer: nn.Module):
        def on_output(_m: nn.Module, _args: tuple, out: torch.Tensor) -> None:
            if not out.requires_grad:
                return
            act = out.detach()

            def on_grad(grad: torch.Tensor) -> None:
                g_nk = (act * grad).sum(dim=tuple(range(2, act.dim()))) if act.dim() > 2 else act * grad
                del_k = g_nk.pow(2).mean(0).mul(0.5)
                channel[layer] = channel[layer] + del_k if layer in channel else del_k

            out.register_hook(on_grad)

        return on_output

    handles = [l.register_forward_hook(make_hook(l)) for l in layers]
    try:
        _backward_loss(model, inputs, targets)
    finally:
        for h in handles:
            h.remove()

    def fisher(layer: nn.Module) -> torch.Tensor:
        s = channel.get(layer)
        return torch.zeros(()) if s is None else s.abs() * layer.weight[0].numel()

    return {
        "grad_norm": sum_over_layers(model, lambda l: _grad_or_zero(l).norm()),
        "snip": sum_over_layers(model, lambda l: (l.weight * _grad_or_zero(l)).abs()),
        "plain": sum_over_layers(model, lambda l: l.weight * _grad_or_zero(l)),
        "fisher": sum_over_layers(model, fisher),
    }


@register_proxy("grasp")
def grasp(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """GraSP: sum of -W * (H g), with g = dL/dW and H the Hessian of the loss (temperature 1).

    NASLib runs the forward pass twice (once for g, once to differentiate g . dL/dW); in train
    mode both passes compute the same loss, so one pass with ``create_graph`` gives the same g
    and the same H g for two thirds of the work.
    """
    layers = weight_layers(model)
    require_weight_layers(model)
    weights = [l.weight for l in layers]
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(logits(model, inputs), targets)
    grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    # z = g_fixed . g(W), so dz/dW = H g lands in each weight's .grad.
    z = torch.zeros((), dtype=inputs.dtype)
    for g in grads:
        if g is not None:
            z = z + (g.detach() * g).sum()
    if z.requires_grad:
        z.backward()
    return sum_over_layers(model, lambda l: -l.weight.detach() * _grad_or_zero(l))
