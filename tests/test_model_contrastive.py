import networkx as nx
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gennape.model.contrastive import laplacian_spectrum, soft_nt_xent
from gennape.model.synthetic import random_graph


def test_spectrum_matches_networkx_and_pads():
    import random

    cg, _ = random_graph(random.Random(3))
    g = nx.Graph(cg.edges)
    g.add_nodes_from(range(len(cg)))
    ref = np.sort(nx.normalized_laplacian_spectrum(g))
    ei = torch.tensor(cg.edges).t()
    spec = laplacian_spectrum(ei, len(cg), q=len(cg) + 5).numpy()
    np.testing.assert_allclose(spec[:len(cg)], np.clip(ref, 0, 2), atol=1e-5)
    assert (spec[len(cg):] == 0).all()
    assert laplacian_spectrum(ei, len(cg)).shape == (21,)


def test_hard_targets_equal_plain_nt_xent():
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 8), torch.randn(6, 8)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / 0.5
    logits.fill_diagonal_(float("-inf"))
    ref = F.cross_entropy(logits, torch.arange(12).roll(6))
    assert soft_nt_xent(z1, z2, None, temperature=0.5) == pytest.approx(float(ref), rel=1e-5)


def test_soft_targets_follow_spectral_distance():
    e = torch.eye(8)
    spectra = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.9], [5.0, 5.0]])
    together_similar = torch.stack([e[0], e[0], e[1], e[2]])  # graphs 0, 1: same spectrum
    together_far = torch.stack([e[0], e[1], e[2], e[0]])      # graphs 0, 3: far spectra
    hard = [soft_nt_xent(z, z, None) for z in (together_similar, together_far)]
    assert hard[0].item() == pytest.approx(hard[1].item(), rel=1e-6)  # hard positives cannot tell
    soft = [soft_nt_xent(z, z, spectra, spectral_temperature=0.5) for z in (together_similar, together_far)]
    assert soft[0].item() < soft[1].item() - 0.1
    z1 = torch.randn(4, 8, requires_grad=True)
    soft_nt_xent(z1, torch.randn(4, 8), spectra).backward()
    assert z1.grad is not None and torch.isfinite(z1.grad).all()
    with pytest.raises(ValueError, match="views"):
        soft_nt_xent(torch.randn(4, 8), torch.randn(3, 8), spectra)
