"""Zero-cost proxies: every registered proxy is finite and deterministic on a tiny CNN; a few
are checked against values computed by hand; failures become missing values with a reason."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gennape.core.paths import mirror_root
from gennape.features.proxies import (
    ProxyResult,
    compute_proxies,
    get_proxy,
    list_proxies,
    register_proxy,
    run_proxy,
)

EXPECTED = {"grad_norm", "snip", "grasp", "fisher", "synflow", "jacov", "nwot", "zen", "epe_nas", "plain", "l2_norm"}


class TinyCNN(nn.Module):
    """Conv-BN-ReLU x2, global average pool, Linear: the shape of a classifier, in miniature."""

    def __init__(self, width: int = 8, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def tiny_batch(n: int = 16, classes: int = 4, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.arange(n) % classes  # every class at least twice, as epe_nas needs
    return x, y


def test_registry_holds_the_issue_proxies() -> None:
    assert EXPECTED <= set(list_proxies())
    with pytest.raises(KeyError, match="unknown proxy 'nope'"):
        get_proxy("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_proxy("snip")(lambda model, inputs, targets: 0.0)


@pytest.mark.parametrize("name", list_proxies())
def test_proxy_finite_and_deterministic(name: str) -> None:
    batch = tiny_batch()
    a = run_proxy(name, TinyCNN, *batch, seed=3)
    b = run_proxy(name, TinyCNN, *batch, seed=3)
    assert a.ok, f"{name}: {a.reason}"
    assert math.isfinite(a.value)
    assert a.value == b.value


def test_seed_changes_weight_dependent_proxies() -> None:
    batch = tiny_batch()
    a = compute_proxies(TinyCNN, batch, ["snip", "l2_norm"], seed=0)
    b = compute_proxies(TinyCNN, batch, ["snip", "l2_norm"], seed=1)
    assert a["snip"].value != b["snip"].value
    assert a["l2_norm"].value != b["l2_norm"].value


def test_each_proxy_gets_a_fresh_model() -> None:
    # synflow takes |W| in place and zen re-initialises: neither may leak into the next proxy.
    batch = tiny_batch()
    together = compute_proxies(TinyCNN, batch, ["synflow", "zen", "snip", "l2_norm"], seed=0)
    alone = compute_proxies(TinyCNN, batch, ["snip", "l2_norm"], seed=0)
    assert together["snip"].value == alone["snip"].value
    assert together["l2_norm"].value == alone["l2_norm"].value


def test_synflow_overflow_is_missing_with_reason() -> None:
    def huge() -> nn.Module:
        m = TinyCNN()
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(1e120)  # three layers of 1e120 overflow float64 (max ~1.8e308)
        return m

    r = compute_proxies(huge, tiny_batch(), ["synflow"])["synflow"]
    assert r.value is None
    assert r.reason is not None and ("inf" in r.reason or "nan" in r.reason)


def test_exception_is_missing_with_reason() -> None:
    r = run_proxy("nwot", lambda: nn.Sequential(nn.Flatten(), nn.Linear(192, 4)), *tiny_batch())
    assert r.value is None and "no activation module" in r.reason


class ConstantOutput(nn.Module):
    """A network whose every path from the input is cut: the output is a constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 4)


@pytest.mark.parametrize("name", ["jacov", "epe_nas"])
def test_input_jacobian_of_a_constant_network_is_missing_with_reason(name: str) -> None:
    r = run_proxy(name, ConstantOutput, *tiny_batch())
    assert r.value is None and "does not depend on its input" in r.reason


def test_proxy_result_rejects_nan() -> None:
    with pytest.raises(ValueError, match="finite"):
        ProxyResult(float("nan"))
    with pytest.raises(ValueError, match="reason"):
        ProxyResult(None)


def _linear_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3))


def test_synflow_matches_hand_computation() -> None:
    # For f = W2 relu(W1 x) with |W|, x = 1 and no biases' effect on the gradient:
    # R = 1^T |W2| (|W1| 1 + |b1|) + ..., so dR/dW1_ij = (1^T |W2|)_i and dR/dW2_ki = (|W1| 1 + |b1|)_i.
    net = _linear_net()
    w1, b1, w2 = (t.detach().abs().double() for t in (net[1].weight, net[1].bias, net[3].weight))
    h = w1.sum(1) + b1
    expected = (w1 * w2.sum(0)[:, None]).sum() + (w2 * h[None, :]).sum()
    x = torch.randn(4, 3, 2, 2)
    got = get_proxy("synflow")(_linear_net(), x, torch.zeros(4, dtype=torch.long))
    assert got == pytest.approx(math.log(float(expected)), rel=1e-12)


def test_snip_grad_norm_plain_match_autograd() -> None:
    x, y = torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    net = _linear_net()
    loss = F.cross_entropy(net(x), y)
    ws = [net[1].weight, net[3].weight]
    gs = torch.autograd.grad(loss, ws)
    assert get_proxy("snip")(_linear_net(), x, y) == pytest.approx(sum(float((w * g).abs().sum()) for w, g in zip(ws, gs)))
    assert get_proxy("plain")(_linear_net(), x, y) == pytest.approx(sum(float((w * g).sum()) for w, g in zip(ws, gs)))
    assert get_proxy("grad_norm")(_linear_net(), x, y) == pytest.approx(sum(float(g.norm()) for g in gs))


def test_grasp_matches_hessian_vector_product() -> None:
    x, y = torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    net = _linear_net()
    params = (net[1].weight, net[3].weight)

    def loss_of(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        h = F.relu(F.linear(x.flatten(1), w1, net[1].bias))
        return F.cross_entropy(F.linear(h, w2, net[3].bias), y)

    g = torch.autograd.grad(loss_of(*params), params)
    _, hg = torch.autograd.functional.hvp(loss_of, tuple(p.detach() for p in params), g)
    expected = sum(float((-p * v).sum()) for p, v in zip(params, hg))
    assert get_proxy("grasp")(_linear_net(), x, y) == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_l2_norm_counts_conv_and_linear_weights_only() -> None:
    net = TinyCNN()
    expected = sum(float(m.weight.norm()) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert get_proxy("l2_norm")(net, *tiny_batch()) == pytest.approx(expected)


def test_nwot_duplicate_images_are_missing() -> None:
    # Two identical images make the code kernel singular: log|det| = -inf, recorded as missing.
    x, y = tiny_batch()
    x[1] = x[0]
    r = run_proxy("nwot", TinyCNN, x, y)
    assert r.value is None and "inf" in r.reason


@pytest.mark.skipif(mirror_root() is None, reason="needs the CIFAR-10 data mirror (../shared/data)")
def test_proxy_batch_is_deterministic_and_normalised() -> None:
    from gennape.features.batch import proxy_batch

    x1, y1 = proxy_batch(batch_size=32, seed=5)
    x2, y2 = proxy_batch(batch_size=32, seed=5)
    x3, _ = proxy_batch(batch_size=32, seed=6)
    assert x1.shape == (32, 3, 32, 32) and y1.dtype == torch.int64
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    assert abs(float(x1.mean())) < 0.5 and 0.5 < float(x1.std()) < 1.5
    assert proxy_batch(batch_size=4, image_size=16)[0].shape == (4, 3, 16, 16)


def _plain_convs(depth: int, pool: nn.Module, width: int = 8) -> nn.Module:
    """``depth`` biased Conv+ReLU layers with no BatchNorm between them (BN folded into the
    convs, as ``gennape.graph`` exports it), one last BN, a global pool and a classifier."""
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.BatchNorm2d(width), nn.ReLU(), pool, nn.Flatten(), nn.Linear(width, 4))


def test_zen_without_batchnorm_is_finite() -> None:
    # N(0, 1) weights grow activations ~sqrt(72) per layer: 30 layers overflow float32 (the last
    # BN's running variance became inf and zen returned -inf + inf = nan); float64 holds them.
    r = run_proxy("zen", lambda: _plain_convs(30, nn.AdaptiveAvgPool2d(1)), *tiny_batch(size=4), seed=0)
    assert r.ok, r.reason


def test_zen_overflow_is_missing_with_reason() -> None:
    r = run_proxy("zen", lambda: _plain_convs(400, nn.AdaptiveAvgPool2d(1)), *tiny_batch(size=4), seed=0)
    assert r.value is None and "inf" in r.reason


def test_zen_reads_features_before_graph_global_pool() -> None:
    # ``to_torch`` networks pool with gennape.graph's GlobalAvgPool: zen must read the map
    # entering it, as it does for nn.AdaptiveAvgPool2d, not fall back to the classifier's input.
    from gennape.graph.modules import GlobalAvgPool

    batch = tiny_batch()
    ours = run_proxy("zen", lambda: _plain_convs(3, GlobalAvgPool()), *batch, seed=0)
    torch_pool = run_proxy("zen", lambda: _plain_convs(3, nn.AdaptiveAvgPool2d(1)), *batch, seed=0)
    assert ours.ok and ours.value == pytest.approx(torch_pool.value, rel=1e-12)


def test_loss_gradient_proxies_share_one_pass_with_their_own_values() -> None:
    batch = tiny_batch()
    built = []

    def counted() -> nn.Module:
        built.append(1)
        return TinyCNN()

    together = compute_proxies(counted, batch, ["snip", "grad_norm", "l2_norm", "fisher", "plain"], seed=0)
    assert len(built) == 2  # one model for the shared pass, one for l2_norm
    assert list(together) == ["snip", "grad_norm", "l2_norm", "fisher", "plain"]
    for name in ("snip", "grad_norm", "fisher", "plain"):
        assert together[name].value == run_proxy(name, TinyCNN, *batch, seed=0).value


def test_the_feature_catalog_runs_a_shared_pass_once() -> None:
    from gennape.features.catalog import FeatureInputs, compute_features, get_feature
    from gennape.graph import from_module

    assert set(get_feature("snip").names) == {"fisher", "grad_norm", "plain", "snip"}
    assert get_feature("grasp").names == ("grasp",)
    cg = from_module(TinyCNN(), torch.zeros(1, 3, 8, 8))
    out = compute_features(cg, ["snip", "plain"], FeatureInputs(0, tiny_batch()))
    assert list(out) == ["snip", "plain"] and all(r.ok for r in out.values())
    assert out["snip"].seconds == out["plain"].seconds  # one producer, one timing


def test_a_failing_shared_pass_is_missing_for_every_member() -> None:
    def broken() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.ReLU())  # no Conv / Linear to score

    out = compute_proxies(broken, tiny_batch(), ["snip", "fisher"])
    assert all(r.value is None and "no Conv/Linear" in r.reason for r in out.values())


def test_nwot_reads_smooth_activations_as_relu_does() -> None:
    """nwot's generalisation: a GELU network gets a value, from the same on/off code as ReLU."""
    def net(act: type[nn.Module]) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(192, 32), act(), nn.Linear(32, 4))

    relu = run_proxy("nwot", lambda: net(nn.ReLU), *tiny_batch())
    gelu = run_proxy("nwot", lambda: net(nn.GELU), *tiny_batch())
    assert relu.value is not None and gelu.value == relu.value  # same weights, same signs
