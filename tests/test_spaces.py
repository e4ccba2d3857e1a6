"""Search spaces: registry, builders, fx/ONNX friendliness, and faithfulness to published params."""

from __future__ import annotations

import json
import operator
import random
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from gennape.core.paths import data_root, mirror_root
from gennape.spaces import SearchSpace, get_space, list_spaces, register_space
from gennape.spaces.darts import NB301_REFERENCE_SETTINGS, DartsGenotype
from gennape.spaces.nb101 import NB101Spec, compute_vertex_channels
from gennape.spaces.nb201 import NB201Spec

# Small sizes keep the export tests fast; the structure (every op kind) is the same.
SMALL = {
    "nb201": {"C": 8, "N": 1},
    "nb101": {"stem_channels": 16, "cells_per_stack": 1},
    "darts": {"C": 8, "layers": 3},
    "transnas_macro": {"C": 16},
    "transnas_micro": {"C": 16},
}
# Spaces whose builder needs a package the project's runtime does not carry (tested elsewhere).
NEEDS_EXTRA = {"timm": "builds timm models: the zoo's own venv (scripts/zoo_venv.sh); tests/test_zoo_graphs.py"}
BUILT_HERE = [n for n in list_spaces() if n not in NEEDS_EXTRA]
ALLOWED_MODULES = (
    nn.Conv2d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Linear,
    nn.Identity,
)
ALLOWED_FUNCTIONS = {operator.add, operator.getitem, torch.cat, torch.flatten}
ALLOWED_METHODS = {"mul", "flatten"}

needs_data = pytest.mark.skipif(
    mirror_root() is None and not (Path(__file__).resolve().parents[1] / "data" / "nb201").is_dir(),
    reason="benchmark tables not found (no ../shared/data mirror and no fetched data/)",
)


def n_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# --- registry -------------------------------------------------------------------------------


def test_registry_lists_the_spaces() -> None:
    assert {"nb201", "nb101", "darts", "transnas_macro", "transnas_micro"} <= set(list_spaces())
    for name in list_spaces():
        space = get_space(name)
        assert isinstance(space, SearchSpace) and space.name == name
        assert len(space.input_shape) == 3 and space.input_shape[0] == 3
        # Every space is tested here at a small size, or says why not.
        assert name in SMALL or name in NEEDS_EXTRA, f"add {name!r} to SMALL (or NEEDS_EXTRA, with why)"


def test_registry_errors() -> None:
    with pytest.raises(KeyError, match="unknown search space 'nope'"):
        get_space("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_space("nb201")(type("Other", (get_space("darts").__class__,), {}))


# --- every space: build, forward, fx, round-trips --------------------------------------------


@pytest.mark.parametrize("name", BUILT_HERE)
def test_build_forward_and_fx(name: str) -> None:
    space = get_space(name)
    spec = space.sample(1, seed=11)[0]
    model = space.build(spec).eval()
    x = torch.randn(2, *space.input_shape)
    with torch.no_grad():
        y = model(x)
        traced = torch.fx.symbolic_trace(model)
        assert y.shape == (2, space.num_classes)
        torch.testing.assert_close(traced(x), y)
    # Only the standard vocabulary, no in-place ops (the graph frontends rely on it).
    for node in traced.graph.nodes:
        if node.op == "call_module":
            mod = traced.get_submodule(node.target)
            assert isinstance(mod, ALLOWED_MODULES), f"{name}: unexpected module {type(mod)}"
            assert not getattr(mod, "inplace", False), f"{name}: in-place {node.target}"
        elif node.op == "call_function":
            assert node.target in ALLOWED_FUNCTIONS, f"{name}: unexpected function {node.target}"
        elif node.op == "call_method":
            assert node.target in ALLOWED_METHODS, f"{name}: unexpected method {node.target}"


@pytest.mark.parametrize("name", BUILT_HERE)
def test_sample_parse_str_round_trip(name: str) -> None:
    space = get_space(name)
    specs = space.sample(20, seed=5)
    assert specs == space.sample(20, seed=5)
    assert specs != space.sample(20, seed=6)
    for spec in specs:
        ident = space.spec_to_str(spec)
        assert isinstance(ident, str)
        assert space.parse(ident) == spec
        assert space.spec_to_str(space.parse(ident)) == ident
        hash(spec)


@pytest.mark.parametrize("name", BUILT_HERE)
@pytest.mark.parametrize("dynamo", [False, True])
def test_onnx_export(name: str, dynamo: bool, tmp_path: Path) -> None:
    space = get_space(name)
    model = space.build(space.sample(1, seed=2)[0], **SMALL[name]).eval()
    x = torch.randn(1, *space.input_shape)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, (x,), str(path), verbose=False)
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17)
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(path))
    (out,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


# --- NB-201 ---------------------------------------------------------------------------------


def test_nb201_parse_errors() -> None:
    space = get_space("nb201")
    for bad, msg in [
        ("|nor_conv_3x3~0|+|none~0|", "expected 3 nodes"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "should read 'op~0'"),
    ]:
        with pytest.raises(ValueError, match=msg):
            space.parse(bad)


def test_nb201_string_round_trip() -> None:
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    spec = get_space("nb201").parse(arch)
    assert spec.ops == (
        "nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "skip_connect"
    )
    assert str(spec) == arch


def test_nb201_product_enumeration() -> None:
    specs = get_space("nb201").enumerate(order="product")
    assert len(specs) == len(set(specs)) == 15_625


@needs_data
def test_nb201_enumerate_matches_benchmark_index_order() -> None:
    specs = get_space("nb201").enumerate()
    table = pd.read_csv(data_root() / "nb201" / "nb201_accuracies.csv.gz", usecols=["index", "arch"])
    assert len(specs) == len(set(specs)) == 15_625
    assert [str(s) for s in specs] == table.sort_values("index")["arch"].tolist()
    assert set(specs) == set(get_space("nb201").enumerate(order="product"))


# --- NB-101 ---------------------------------------------------------------------------------


def _nb101(matrix: list[list[int]], ops: list[str]) -> NB101Spec:
    return get_space("nb101").parse((json.dumps(matrix), json.dumps(ops)))


def test_nb101_vertex_channels_split() -> None:
    # Three vertices feed the output: 128 = 43 + 43 + 42; vertex 1 feeds only vertex 2 -> 43.
    m = np.zeros((6, 6), dtype=int)
    m[0, 1] = m[1, 2] = m[0, 3] = m[0, 4] = 1
    m[2, 5] = m[3, 5] = m[4, 5] = 1
    assert compute_vertex_channels(64, 128, m) == [64, 43, 43, 43, 42, 128]
    # Odd width: 129 = 65 + 64; vertex 1 feeds both, takes 65, and is truncated into vertex 3.
    m = np.zeros((5, 5), dtype=int)
    m[0, 1] = m[1, 2] = m[1, 3] = m[2, 4] = m[3, 4] = m[0, 4] = 1
    assert compute_vertex_channels(64, 129, m) == [64, 65, 65, 64, 129]
    ops = ("input", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "output")
    spec = NB101Spec(tuple(map(tuple, m.tolist())), ops)
    model = get_space("nb101").build(spec, stem_channels=129, num_stacks=1, cells_per_stack=1)
    assert torch.fx.symbolic_trace(model)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_nb101_prunes_dangling_vertices() -> None:
    conv3, pool = "conv3x3-bn-relu", "maxpool3x3"
    dangling = _nb101(
        [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], ["input", conv3, pool, "output"]
    )
    clean = _nb101([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", conv3, "output"])
    assert dangling.pruned == clean
    space = get_space("nb101")
    assert n_trainable(space.build(dangling)) == n_trainable(space.build(clean))
    assert space.build(dangling)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_nb101_input_only_and_disconnected() -> None:
    space = get_space("nb101")
    direct = _nb101([[0, 1], [0, 0]], ["input", "output"])
    assert space.build(direct)(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    cut = _nb101([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", "conv1x1-bn-relu", "output"])
    assert cut.pruned is None and not cut.is_valid
    with pytest.raises(ValueError, match="no input->output path"):
        space.build(cut)


def test_nb101_parse_errors() -> None:
    space = get_space("nb101")
    with pytest.raises(ValueError, match="not valid JSON"):
        space.parse(("[[0, 1], [0", '["input", "output"]'))
    with pytest.raises(ValueError, match="upper triangular"):
        space.parse(([[0, 1], [1, 0]], ["input", "output"]))
    with pytest.raises(ValueError, match="unknown"):
        space.parse(([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"]))


# --- DARTS ----------------------------------------------------------------------------------


def test_darts_none_op_and_reduction_shapes() -> None:
    normal = (("sep_conv_3x3", 0), ("none", 1), ("skip_connect", 0), ("dil_conv_5x5", 2),
              ("max_pool_3x3", 3), ("avg_pool_3x3", 1), ("sep_conv_5x5", 4), ("dil_conv_3x3", 0))
    reduce = (("none", 0), ("skip_connect", 1), ("max_pool_3x3", 0), ("avg_pool_3x3", 2),
              ("sep_conv_5x5", 1), ("skip_connect", 3), ("dil_conv_3x3", 4), ("sep_conv_3x3", 0))
    space = get_space("darts")
    model = space.build(DartsGenotype(normal, reduce), C=8, layers=5)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert space.parse({"normal": normal, "reduce": reduce, "normal_concat": [2, 3, 4, 5]}).normal == normal


def test_darts_parse_errors() -> None:
    space = get_space("darts")
    good = json.loads(space.spec_to_str(space.sample(1, seed=0)[0]))
    with pytest.raises(ValueError, match="needs 'normal' and 'reduce'"):
        space.parse({"normal": good["normal"]})
    bad = dict(good, normal=[["conv_9x9", 0]] + good["normal"][1:])
    with pytest.raises(ValueError, match="unknown op 'conv_9x9'"):
        space.parse(bad)
    bad = dict(good, reduce=good["reduce"][:2] + [["skip_connect", 3]] + good["reduce"][3:])
    with pytest.raises(ValueError, match="reads state 3"):
        space.parse(bad)


def test_darts_sampled_nodes_have_two_distinct_inputs() -> None:
    for g in get_space("darts").sample(50, seed=1):
        for cell in (g.normal, g.reduce):
            assert all(cell[2 * k][1] != cell[2 * k + 1][1] for k in range(4))


# --- faithfulness to the published parameter counts -----------------------------------------


def _nb201_rows(frame: pd.DataFrame) -> list[tuple[object, dict]]:
    return [(a, {}) for a in frame["arch"]]


def _nb101_rows(frame: pd.DataFrame) -> list[tuple[object, dict]]:
    return [((a, o), {}) for a, o in zip(frame["adjacency"], frame["ops"])]


def _nb301_rows(frame: pd.DataFrame) -> list[tuple[object, dict]]:
    return [(g, dict(NB301_REFERENCE_SETTINGS)) for g in frame["genotype"]]


TABLES = {
    "nb201": ("nb201/nb201_zc_reference_cifar10.csv.gz", _nb201_rows),
    "nb101": ("nb101/nb101_500.csv.gz", _nb101_rows),
    "darts": ("nb301/nb301_725.csv.gz", _nb301_rows),
}


def param_match_rate(name: str, n_rows: int | None, seed: int = 0) -> tuple[float, float]:
    """Fraction of table rows whose built module is within 1 % of ``params``; and the worst ratio."""
    path, rows_of = TABLES[name]
    frame = pd.read_csv(data_root() / path)
    if n_rows is not None:
        frame = frame.iloc[sorted(random.Random(seed).sample(range(len(frame)), n_rows))]
    space = get_space(name)
    rel = []
    for (value, kwargs), ref in zip(rows_of(frame), frame["params"]):
        rel.append(abs(n_trainable(space.build(space.parse(value), **kwargs)) / (ref * 1e6) - 1))
    rel_arr = np.asarray(rel)
    return float((rel_arr < 0.01).mean()), float(rel_arr.max())


@needs_data
@pytest.mark.parametrize("name", sorted(TABLES))
def test_params_match_reference_sample(name: str) -> None:
    rate, worst = param_match_rate(name, n_rows=30, seed=0)
    assert rate >= 0.99, f"{name}: {rate:.3f} of 30 rows within 1 % (worst {worst:.4f})"


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("name", sorted(TABLES))
def test_params_match_reference_all_rows(name: str) -> None:
    rate, worst = param_match_rate(name, n_rows=None)
    print(f"{name}: {rate:.4%} of rows within 1 %, worst relative error {worst:.2e}")
    assert rate >= 0.99, f"{name}: {rate:.4f} of rows within 1 % (worst {worst:.4f})"


@needs_data
def test_darts_reference_needs_non_affine_op_bn() -> None:
    """The table is not the DARTS evaluation network: affine edge-op BNs add 0.5-1.2 %."""
    frame = pd.read_csv(data_root() / TABLES["darts"][0]).iloc[:5]
    space = get_space("darts")
    for genotype, ref in zip(frame["genotype"], frame["params"]):
        settings = dict(NB301_REFERENCE_SETTINGS)
        assert n_trainable(space.build(genotype, **settings)) == round(ref * 1e6)
        settings["affine_ops"] = True
        assert n_trainable(space.build(genotype, **settings)) > round(ref * 1e6)


def test_nb201_known_sizes() -> None:
    """All-conv3x3 is NB-201's largest cell (1.531546 M params with CIFAR-10's 10 classes)."""
    space = get_space("nb201")
    assert n_trainable(space.build(NB201Spec(("nor_conv_3x3",) * 6))) == 1_531_546
    assert n_trainable(space.build(NB201Spec(("none",) * 6))) == 73_306  # stem, reductions, head
