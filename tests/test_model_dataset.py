import pytest
import torch

from gennape.core.paths import mirror_root
from gennape.model import dataset as D
from gennape.model.synthetic import random_graph


def test_records_roundtrip_through_packed_cache(tmp_path):
    import random

    rng = random.Random(0)
    cgs = [random_graph(rng)[0] for _ in range(4)]
    recs = [D.graph_to_record(cg) for cg in cgs]
    path = tmp_path / "graphs_x.pt"
    torch.save(D._pack([f"s{i}" for i in range(4)], recs, 21), path)
    back = D.load_cache(path)
    assert list(back) == ["s0", "s1", "s2", "s3"]
    for cg, rec in zip(cgs, back.values()):
        d, ref = D.record_to_data(rec), cg.to_pyg()
        assert torch.equal(d.op, ref.op) and torch.equal(d.feat, ref.feat)
        assert torch.equal(d.edge_index, ref.edge_index)
        assert d.flops.item() == cg.flops and d.hash == cg.hash and d.spectrum.shape == (1, 21)


def test_stale_or_broken_cache(tmp_path, monkeypatch):
    import random

    path = tmp_path / "graphs_x.pt"
    rec = D.graph_to_record(random_graph(random.Random(1))[0])
    torch.save(D._pack(["a"], [rec], 21), path)
    monkeypatch.setattr(D, "list_ops", lambda: ["Input", "Output"])
    assert D.load_cache(path) == {}  # other vocabulary: rebuild
    path.write_bytes(b"not a torch file")
    with pytest.raises(RuntimeError, match="unreadable"):
        D.load_cache(path)
    with pytest.raises(KeyError, match="no search space"):
        D.encode_specs("imagenet", ["x"], tmp_path)


@pytest.mark.skipif(mirror_root() is None, reason="benchmark data mirror not present")
def test_real_family_subset_is_built_and_cached(tmp_path):
    fam = D.load_graphs("nb201", limit=3, seed=0, cache_dir=tmp_path)
    assert len(fam) == 3 and (tmp_path / "graphs_nb201.pt").is_file()
    assert all(g.y.item() == y for g, y in zip(fam.graphs, fam.y.astype("float32")))
    again = D.load_graphs("nb201", limit=3, seed=0, cache_dir=tmp_path)
    assert [g.hash for g in again.graphs] == [g.hash for g in fam.graphs]
    with pytest.raises(KeyError, match="no target column"):
        D.load_graphs("nb201", target="nope", limit=3, cache_dir=tmp_path)
