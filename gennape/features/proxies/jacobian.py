"""Input-Jacobian proxies: jacov (Mellor et al. 2021, v1) and epe_nas (Lopes et al. 2021).

Both use the per-sample Jacobian of the summed logits with respect to the input image,
J_n = d(sum_k f_k(x_n))/dx_n, from one backward pass with the network in train mode, flattened
to a row per image, as NAS-Bench-Suite-Zero computes them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gennape.features.proxies.registry import register_proxy

_EPS = 1e-5  # NASLib's k: keeps the logs finite for zero eigenvalues / correlations


def batch_jacobian(model: nn.Module, inputs: torch.Tensor) -> tuple[np.ndarray, int]:
    """Per-sample input Jacobians of the summed outputs, flattened: (N, C*H*W) float64.

    Returns the Jacobians and the number of outputs per sample (the class count).

    Args:
        model: the network (train mode: BatchNorm uses the batch's statistics).
        inputs: the batch.
    """
    x = inputs.detach().clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    y = model(x)
    if not y.requires_grad:  # constant output (e.g. every path from the input cut): no graph to backpropagate
        raise ValueError("the network's output does not depend on its input")
    y.backward(torch.ones_like(y))
    if x.grad is None:
        raise ValueError("the network's output does not depend on its input")
    return x.grad.detach().reshape(x.shape[0], -1).to(torch.float64).numpy(), int(y.shape[-1])


def _corrcoef(rows: np.ndarray) -> np.ndarray:
    # A constant row (e.g. a zero Jacobian) makes its correlations NaN, as np.corrcoef does;
    # the runner then records the proxy as missing.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.corrcoef(rows)


@register_proxy("jacov")
def jacov(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """-sum_i [log(v_i + k) + 1/(v_i + k)] over eigenvalues v of the Jacobians' correlation matrix."""
    jac, _ = batch_jacobian(model, inputs)
    corr = _corrcoef(jac)
    if not np.all(np.isfinite(corr)):
        return float("nan")
    # The correlation matrix is symmetric: eigvalsh gives the real spectrum np.linalg.eig would.
    v = np.linalg.eigvalsh(corr)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(-np.sum(np.log(v + _EPS) + 1.0 / (v + _EPS)))


@register_proxy("epe_nas")
def epe_nas(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """EPE-NAS: sum over classes c of |sum log(|corr(J_c)| + k)|, J_c the Jacobians of class c.

    With more than 100 classes each class term is divided by its matrix size and the score is
    the mean pairwise |difference| of class terms (the paper's variant A), as in NASLib.
    """
    jac, n_outputs = batch_jacobian(model, inputs)
    labels = targets.detach().cpu().numpy()
    if labels.ndim == 2:  # one-hot / soft targets
        labels = labels.argmax(axis=1)
    per_class: dict[int, float] = {}
    for c in sorted(set(labels.tolist())):
        rows = jac[labels == c]
        corr = np.atleast_2d(_corrcoef(rows)) if len(rows) > 1 else np.ones((1, 1))
        s = float(np.sum(np.log(np.abs(corr) + _EPS)))
        per_class[c] = s / len(corr) if n_outputs > 100 else s
    terms = np.array(list(per_class.values()))
    if n_outputs <= 100:
        return float(np.sum(np.abs(terms)))
    return float(np.abs(terms[:, None] - terms[None, :]).sum() / len(terms))
