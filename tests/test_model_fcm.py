import numpy as np
import pytest
import torch

skfuzzy = pytest.importorskip("skfuzzy")

from gennape.model.fcm import FuzzyCMeans, cmeans, memberships_from_centroids  # noqa: E402


def _blobs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 1.0], [0.0, 5.0, -2.0]])
    return np.concatenate([c + rng.normal(0, 0.7, (40, 3)) for c in centres])


@pytest.mark.parametrize("m", [1.5, 2.0, 3.0])
def test_cmeans_matches_skfuzzy(m):
    x = _blobs()
    u0 = np.random.default_rng(1).random((3, len(x)))
    u0 /= u0.sum(0)
    ref_c, ref_u, _, _, _, ref_it, _ = skfuzzy.cmeans(x.T, 3, m, error=1e-6, maxiter=200, init=u0.copy())
    c, u, it = cmeans(torch.from_numpy(x), 3, m, tol=1e-6, max_iter=200, init=torch.from_numpy(u0.T.copy()))
    assert it == ref_it
    np.testing.assert_allclose(c.numpy(), ref_c, atol=1e-9)
    np.testing.assert_allclose(u.numpy(), ref_u.T, atol=1e-9)


def test_memberships_of_new_points_match_skfuzzy_predict():
    x = _blobs()
    c, _, _ = cmeans(torch.from_numpy(x), 3, 2.0, seed=0)
    new = _blobs(seed=7)[:10]
    ref_u = skfuzzy.cmeans_predict(new.T, c.numpy(), 2.0, error=1e-9, maxiter=1)[0]
    np.testing.assert_allclose(memberships_from_centroids(torch.from_numpy(new), c, 2.0).numpy(), ref_u.T,
                               atol=1e-6)


def test_module_freezes_centroids_and_handles_k1():
    x = torch.from_numpy(_blobs()).float()
    fcm = FuzzyCMeans(3, 3, m=2.0)
    with pytest.raises(RuntimeError, match="before fit"):
        fcm(x)
    u = fcm.fit(x)
    assert u.shape == (120, 3) and torch.allclose(u.sum(1), torch.ones(120))
    assert not fcm.centroids.requires_grad and "centroids" in fcm.state_dict()
    # Each blob is dominated by one cluster.
    assert len({int(u[i * 40:(i + 1) * 40].mean(0).argmax()) for i in range(3)}) == 3
    one = FuzzyCMeans(1, 3)
    assert torch.equal(one(x), torch.ones(120, 1))
    with pytest.raises(ValueError, match="fuzzifier"):
        FuzzyCMeans(2, 3, m=1.0).fit(x)
