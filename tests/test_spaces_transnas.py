"""TransNAS-Bench-101 macro / micro spaces: specs, NASLib tuples, and params equal to the tables."""

from __future__ import annotations

import itertools
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from gennape.core.paths import mirror_root
from gennape.graph import from_module
from gennape.spaces import get_space, list_spaces
from gennape.spaces.transnas import (
    NUM_CLASSES,
    TransNASMacroSpec,
    TransNASMicroSpec,
    macro_from_naslib,
    micro_from_naslib,
)

NASLIB_DATA = Path("upstream/automl/NASLib/e5a821c2dadf608042e4e046e386006cf6bd0564/naslib/data")
SPACES = ("macro", "micro")


def _table_path(space: str) -> Path | None:
    root = mirror_root()
    return None if root is None else root / NASLIB_DATA / f"zc_transbench101_{space}.json"


needs_tables = pytest.mark.skipif(
    not all((p := _table_path(s)) is not None and p.is_file() for s in SPACES),
    reason=f"no ../shared/data mirror with {NASLIB_DATA}/zc_transbench101_{{macro,micro}}.json",
)


@lru_cache(maxsize=None)
def _table(space: str) -> dict:
    with open(_table_path(space)) as f:
        return json.load(f)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _check_params(space: str, task: str, keys: list[str]) -> list[str]:
    """Rows whose built network's params/1e6 differ from the table's ``params`` (6 decimals)."""
    sp = get_space(f"transnas_{space}")
    rows = _table(space)[task]
    bad = []
    for key in keys:
        got = n_params(sp.build(key, num_classes=NUM_CLASSES[task])) / 1e6
        want = rows[key]["params"]["score"]
        if round(got, 6) != round(want, 6):
            bad.append(f"{key} ({sp.spec_to_str(key)}): built {got:.6f}, table {want:.6f}")
    return bad


# --- specs and conversions (no data) -----------------------------------------------------------


def test_registered() -> None:
    assert {"transnas_macro", "transnas_micro"} <= set(list_spaces())
    for name in ("transnas_macro", "transnas_micro"):
        sp = get_space(name)
        assert sp.input_shape == (3, 256, 256) and sp.num_classes == 100


def test_naslib_conversions() -> None:
    assert macro_from_naslib((1, 2, 4, 2, 0, 0)) == "64-1242-basic"
    assert macro_from_naslib("(1, 2, 4, 2, 0, 0)") == "64-1242-basic"
    assert macro_from_naslib([4, 1, 3, 2, 2, 1]) == "64-413221-basic"
    assert micro_from_naslib((1, 0, 0, 2, 1, 0)) == "64-41414-1_00_210"
    assert micro_from_naslib("(0, 1, 1, 2, 3, 3)") == "64-41414-0_11_233"
    for bad in [(1, 2, 0, 0, 0, 0), (5, 1, 1, 1, 0, 0), (1, 2, 3), "1242", "(1, 2"]:
        with pytest.raises(ValueError, match="macro"):
            macro_from_naslib(bad)
    for bad in [(4, 0, 0, 0, 0, 0), (1, 2, 3), "(a, b)", None]:
        with pytest.raises(ValueError, match="micro"):
            micro_from_naslib(bad)


def test_parse_and_round_trip() -> None:
    macro, micro = get_space("transnas_macro"), get_space("transnas_micro")
    assert macro.parse("64-1242-basic") == macro.parse("(1, 2, 4, 2, 0, 0)") == TransNASMacroSpec("1242")
    assert macro.parse((1, 2, 4, 2, 0, 0)) == TransNASMacroSpec("1242")
    assert micro.parse("64-41414-1_00_210") == micro.parse("(1, 0, 0, 2, 1, 0)")
    assert micro.parse([1, 0, 0, 2, 1, 0]) == TransNASMicroSpec((1, 0, 0, 2, 1, 0))
    for sp in (macro, micro):
        for spec in sp.sample(20, seed=3):
            s = sp.spec_to_str(spec)
            assert sp.parse(s) == spec and sp.spec_to_str(sp.parse(s)) == s
        assert sp.sample(5, seed=1) == sp.sample(5, seed=1) != sp.sample(5, seed=2)


@pytest.mark.parametrize("space,bad", [
    ("macro", "64-1252-basic"), ("macro", "64-124-basic"), ("macro", "32-1242-basic"),
    ("macro", "64-41414-1_00_210"), ("macro", "nope"), ("macro", 1242),
    ("micro", "64-41414-1_00_21"), ("micro", "64-41414-4_00_210"), ("micro", "64-1242-basic"),
    ("micro", "64-41413-1_00_210"), ("micro", "(1, 0, 0, 2, 1)"), ("micro", 3.5),
])
def test_bad_spec_raises(space: str, bad: object) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad)) if isinstance(bad, str) else "TransNAS"):
        get_space(f"transnas_{space}").parse(bad)


def test_enumerate() -> None:
    macro = get_space("transnas_macro").enumerate()
    assert len(macro) == len(set(macro)) == 3256
    assert {len(s.code) for s in macro} == {4, 5, 6}
    assert sum(len(s.code) == 4 for s in macro) == 210
    micro = get_space("transnas_micro").enumerate()
    assert len(micro) == len(set(micro)) == 4096
    assert [s.ops for s in micro] == list(itertools.product(range(4), repeat=6))


def test_forward_and_graph() -> None:
    x = torch.zeros(1, *get_space("transnas_micro").input_shape)
    for name, spec in [("transnas_macro", "64-1242-basic"), ("transnas_micro", "64-41414-1_02_213")]:
        sp = get_space(name)
        net = sp.build(spec, num_classes=63).eval()
        with torch.no_grad():
            assert net(torch.randn(2, 3, 64, 64)).shape == (2, 63)
            traced = torch.fx.symbolic_trace(net)
            torch.testing.assert_close(traced(x), net(x))
        g1 = from_module(net, x)
        g2 = from_module(sp.build(sp.parse(sp.spec_to_str(spec)), num_classes=63), x)
        assert g1.hash == g2.hash and g1.flops > 0
        other = sp.build(sp.sample(1, seed=9)[0], num_classes=63)
        assert from_module(other, x).hash != g1.hash


def test_micro_strided_ops_shapes() -> None:
    # Every op code on the edges from node 0 in a downsampling block (none, skip = FactorizedReduce).
    sp = get_space("transnas_micro")
    for code in range(4):
        net = sp.build((code, code, 1, code, 1, 1)).eval()
        with torch.no_grad():
            assert net(torch.randn(1, 3, 64, 64)).shape == (1, 100)


# --- faithfulness to the tables ----------------------------------------------------------------


@needs_tables
@pytest.mark.parametrize("space", SPACES)
def test_params_match_table_sample(space: str) -> None:
    rows = _table(space)
    keys = list(rows["class_object"])[:5]
    for task in NUM_CLASSES:
        assert _check_params(space, task, keys) == []
    sp = get_space(f"transnas_{space}")
    for key in keys:
        # The arch string (the benchmark's label key) and the NASLib tuple give the same spec.
        conv = macro_from_naslib(key) if space == "macro" else micro_from_naslib(key)
        assert sp.parse(conv) == sp.parse(key) and sp.spec_to_str(key) == conv
        # class_object (100) vs class_scene (63): 37 * (width + 1) parameters apart.
        width = sp.build(key).fc.in_features
        diff = rows["class_object"][key]["params"]["score"] - rows["class_scene"][key]["params"]["score"]
        assert round(diff * 1e6) == 37 * (width + 1)


@needs_tables
@pytest.mark.parametrize("space", SPACES)
def test_flops_match_table_sample(space: str) -> None:
    # The ``flops`` column is MACs / 1e6 at 256 x 256 (with ~1 op per BN/ReLU/add element on top).
    sp = get_space(f"transnas_{space}")
    rows = _table(space)["class_object"]
    x = torch.zeros(1, *sp.input_shape)
    for key in list(rows)[:3]:
        macs = _module_macs(sp.build(key), sp.input_shape)
        assert 0.95 <= macs / 1e6 / rows[key]["flops"]["score"] <= 1.0, key
        # The canonical graph drops dead compute (see test_flops_match_table_every_row).
        assert 0 < from_module(sp.build(key), x).flops <= 2 * macs


@needs_tables
@pytest.mark.slow
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("task", sorted(NUM_CLASSES))
def test_params_match_table_every_row(space: str, task: str) -> None:
    keys = list(_table(space)[task])
    assert len(keys) > 600
    bad = _check_params(space, task, keys)
    assert bad == [], f"{len(bad)} of {len(keys)} rows differ, e.g. {bad[:3]}"


def _module_macs(net: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """Conv + Linear multiply-accumulates of every module of ``net`` (dead ones too), batch 1."""
    macs = [0]

    def hook(m: torch.nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        if isinstance(m, torch.nn.Conv2d):
            macs[0] += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            macs[0] += m.in_features * m.out_features

    net = net.to("meta")
    for m in net.modules():
        m.register_forward_hook(hook)
    net(torch.zeros(1, *shape, device="meta"))
    return macs[0]


@needs_tables
@pytest.mark.slow
@pytest.mark.parametrize("space", SPACES)
def test_flops_match_table_every_row(space: str) -> None:
    """The modules' MACs rank like the table's ``flops``; the canonical graph's FLOPs are 2x those
    MACs except where it prunes dead compute (micro ops whose result only reaches ``none`` edges,
    cells with an all-zero output), which the table counts."""
    from scipy.stats import spearmanr

    sp = get_space(f"transnas_{space}")
    rows = _table(space)["class_object"]
    x = torch.zeros(1, *sp.input_shape)
    module, graph, ref = [], [], []
    for key, row in rows.items():
        module.append(_module_macs(sp.build(key), sp.input_shape))
        graph.append(from_module(sp.build(key), x).flops)
        ref.append(row["flops"]["score"] * 1e6)
    assert spearmanr(module, ref)[0] >= 0.99
    assert all(0.95 <= a / b <= 1.0 for a, b in zip(module, ref))
    assert all(g <= 2 * m for g, m in zip(graph, module))
    if space == "macro":  # nothing to prune: ResNet blocks have no zero ops
        assert graph == [2 * m for m in module]
