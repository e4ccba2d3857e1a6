"""The committed timm-zoo graph cache (data/zoo/graphs.jsonl.gz), read with the project's venv
(no timm): it reads, its hashes are those of the serialised graphs, its parameter counts agree with
timm's, and it covers the zoo's archs."""

from __future__ import annotations

import pytest

from gennape.spaces.timm_zoo import (NO_TIMM, ZOO_GRAPHS, TimmZooSpace, load_zoo_graphs, read_zoo_records,
                                     zoo_archs)

MIN_BUILT = 465  # of the 556 archs; the build script reports the rest's errors in their records
PARAM_TOL = 0.01  # relative, ours (BatchNorm folded) against timm's param_count_m
# archs whose parameter count differs by more than PARAM_TOL, for a known reason: parameters the
# canonical graph does not see (tensor constants added or multiplied in: position embeddings,
# relative-position bias tables, LayerScale / gamma vectors; non-folded norms' affine pairs)
PARAM_EXCEPTIONS: dict[str, str] = {
    "nest_tiny_jx": "per-level position embeddings (Add of a constant)",
    "nest_small_jx": "per-level position embeddings",
    "nest_base_jx": "per-level position embeddings",
    "visformer_tiny": "position embeddings",
    "maxvit_rmlp_pico_rw_256": "relative-position MLP bias on constants",
    "pit_ti_224": "position embedding",
    "dm_nfnet_f0": "ScaledStdConv: weights standardised at run time are not constants (-84 %)",
}


@pytest.fixture(scope="module")
def records():
    if not ZOO_GRAPHS.exists():
        pytest.skip(f"{ZOO_GRAPHS} is not there")
    return read_zoo_records()


@pytest.fixture(scope="module")
def graphs(records):
    return load_zoo_graphs()


def test_cache_reads_and_covers_the_csv(records, graphs):
    archs = zoo_archs()
    assert len(archs) == 556
    names = [r["arch"] for r in records]
    assert len(names) == len(set(names)) and set(names) <= set(archs)
    assert len(graphs) >= MIN_BUILT
    for r in records:
        assert r["img_size"] == archs[r["arch"]]["img_size"]
        assert r["ok"] or r.get("error")


def test_hashes_are_those_of_the_serialised_graphs(records, graphs):
    for r in records:
        if r["ok"]:
            cg = graphs[r["arch"]]
            assert cg.hash == r["hash"], r["arch"]
            assert (cg.params, cg.flops, len(cg)) == (r["params"], r["flops"], r["nodes"]), r["arch"]
            assert cg.input_shape == (3, r["img_size"], r["img_size"]) and cg.name == r["arch"]


def _reference_params(r: dict) -> int:
    """timm's param_count_m, unless the CSV disagrees with timm.create_model's own module (the
    TinyViTs: the CSV's count is ~half the module's), then the module's."""
    if abs(r["module_params"] / r["timm_params"] - 1) > PARAM_TOL:
        return r["module_params"]
    return r["timm_params"]


def test_params_agree_with_timm(records):
    off = {r["arch"]: r["params"] / _reference_params(r) - 1 for r in records if r["ok"]}
    bad = {a: round(d, 4) for a, d in off.items() if abs(d) > PARAM_TOL and a not in PARAM_EXCEPTIONS}
    assert not bad
    assert max(abs(d) for a, d in off.items() if a in PARAM_EXCEPTIONS and a != "dm_nfnet_f0") < 0.05
    # BatchNorm folding makes ours systematically a little smaller
    assert sorted(off.values())[len(off) // 2] < 0


def test_space_parses_only_zoo_archs_and_knows_their_resolution():
    space = TimmZooSpace()
    first = next(iter(zoo_archs()))
    assert space.parse(first) == first
    with pytest.raises(ValueError):
        space.parse("not_a_timm_arch")
    sizes = {a: space.input_shape_of(a) for a in zoo_archs()}
    assert all(s[0] == 3 and s[1] == s[2] >= 96 for s in sizes.values())


def test_build_needs_the_zoo_venv():
    try:
        import timm  # noqa: F401
    except Exception:
        with pytest.raises(ImportError, match="zoo_venv.sh"):
            TimmZooSpace().build(next(iter(zoo_archs())))
    else:  # pragma: no cover - only in .venv-zoo
        assert NO_TIMM
