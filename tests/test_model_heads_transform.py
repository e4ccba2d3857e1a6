import pytest
import torch

from gennape.model.heads import FuzzyHeads
from gennape.model.transform import TargetTransform, flops_divisor


@pytest.mark.parametrize("divide,standardize", [(True, True), (True, False), (False, True), (False, False)])
def test_transform_roundtrip(divide, standardize):
    acc = torch.tensor([70.0, 85.0, 91.0, 60.0])
    flops = torch.tensor([1e8, 4e9, 2e10, 0.0])
    t = TargetTransform(divide, standardize).fit(acc, flops)
    z = t(acc, flops)
    torch.testing.assert_close(t.inverse(z, flops), acc)
    if standardize:
        assert z.mean().abs() < 1e-5 and (z.std() - 1).abs() < 1e-5


def test_fitted_exponent_removes_only_the_compute_dependence_the_family_shows():
    flops = torch.tensor([1e8, 1e9, 5e9, 2e10, 8e10])
    d = flops_divisor(flops)
    flat = TargetTransform(True, True, fit_exponent=True).fit(torch.full((5,), 90.0) + torch.arange(5) * 1e-3, flops)
    assert float(flat.exponent) == pytest.approx(0.0, abs=1e-3)  # accuracy does not grow with compute
    grows = TargetTransform(True, True, fit_exponent=True).fit(70.0 * d**0.5, flops)
    assert float(grows.exponent) == pytest.approx(0.5, abs=1e-4)
    assert float(grows.std) < 1e-3  # compute explained all of it: the targets are constant
    acc = torch.tensor([70.0, 75.0, 80.0, 85.0, 86.0])
    t = TargetTransform(True, True, fit_exponent=True).fit(acc, flops)
    torch.testing.assert_close(t.inverse(t(acc, flops), flops), acc)
    assert float(TargetTransform(True, True).fit(acc, flops).exponent) == 1.0  # GENNAPE: fixed


def test_gennape_transform_value():
    # 9 GFLOPs: log10(10) + 1 = 2.
    assert flops_divisor(torch.tensor([9e9])).item() == pytest.approx(2.0)
    t = TargetTransform(True, False).fit(torch.tensor([80.0, 70.0]), torch.tensor([9e9, 9e9]))
    assert t(torch.tensor([80.0]), torch.tensor([9e9])).item() == pytest.approx(40.0)
    with pytest.raises(RuntimeError, match="before fit"):
        TargetTransform()(torch.tensor([1.0]), torch.tensor([1.0]))


@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_inverse_never_passes_the_ceiling_and_keeps_the_order(scale):
    """A network with far more compute than the training ones would extrapolate past 100 %."""
    acc = torch.tensor([88.0, 91.0, 94.0]) * scale
    t = TargetTransform(True, True).fit(acc, torch.tensor([1e8, 2e8, 3e8]))
    flops = torch.tensor([1e8, 2e8, 3e8, 8e9, 8e10, 8e11])
    z = torch.tensor([0.0, 0.5, 1.0, 1.0, 1.0, 1.0])
    out = t.inverse(z, flops)
    assert float(out.max()) < 100.0 * scale and float(out[3]) > 94.0 * scale
    assert bool((out[1:] > out[:-1]).all())  # strictly increasing, like the raw values
    raw = (z * t.std + t.mean) * flops_divisor(flops)
    torch.testing.assert_close(out[raw <= 94.0 * scale], raw[raw <= 94.0 * scale])


def test_heads_mix_by_membership_and_need_no_aux():
    torch.manual_seed(0)
    heads = FuzzyHeads(8, num_heads=3)
    x = torch.randn(5, 8)
    u = torch.softmax(torch.randn(5, 3), 1)
    pred, per = heads(x, u)
    torch.testing.assert_close(pred, (u * per).sum(1))
    onehot = torch.eye(3)[[0, 1, 2, 0, 1]]
    pred1, _ = heads(x, onehot)
    torch.testing.assert_close(pred1, per[torch.arange(5), [0, 1, 2, 0, 1]])
    with pytest.raises(ValueError, match="auxiliary"):
        heads(x, u, aux=torch.randn(5, 2))
    with pytest.raises(ValueError, match="memberships"):
        heads(x, u[:, :2])


def test_aux_features_standardised_with_missing_mask():
    torch.manual_seed(0)
    heads = FuzzyHeads(4, num_heads=1, aux_dim=2)
    aux = torch.tensor([[1.0, float("nan")], [3.0, 10.0], [5.0, 30.0]])
    mask = torch.isfinite(aux).float()
    heads.fit_aux(aux, mask)
    torch.testing.assert_close(heads.aux_mean, torch.tensor([3.0, 20.0]))
    inp = heads.inputs(torch.zeros(3, 4), aux, mask)
    assert inp.shape == (3, 4 + 4) and torch.isfinite(inp).all()
    assert inp[0, 5] == 0 and inp[0, 7] == 0  # missing -> 0 and mask 0
    # No aux at all = everything missing; still runs.
    pred, _ = heads(torch.zeros(3, 4), torch.ones(3, 1))
    assert pred.shape == (3,)
