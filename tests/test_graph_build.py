"""Fast graph building gives the reference graphs: templates (NB-201, TransNAS micro) against
tracing each spec's network, the shape memo and uninitialised weights against a plain traced run,
on samples of every family and task (every spec: ``benchmarks/graph_build.py --check all``)."""

from __future__ import annotations

import random

import pytest
import torch

from gennape.data.tasks import get_task, list_tasks
from gennape.graph import fx_frontend, from_module
from gennape.data.families import FAMILY_SPACES, graph_of
from gennape.spaces import get_space
from gennape.spaces.templates import no_init

FAMILIES = [f for f, s in FAMILY_SPACES.items() if s != "timm"]
TEMPLATED = [f for f in FAMILIES if get_space(FAMILY_SPACES[f]).template() is not None]


def same(a, b) -> bool:
    return a.nodes == b.nodes and a.inputs == b.inputs and a.hash == b.hash and a.name == b.name


def edge_cases(family: str) -> list:
    """Specs where zeros and identities reach far: every edge one op, and op pairs."""
    space = get_space(FAMILY_SPACES[family])
    if family == "nb201":
        from gennape.spaces.nb201 import NB201_OPS, NB201Spec

        ops = NB201_OPS
        return [NB201Spec((a,) * 3 + (b,) * 3) for a in ops for b in ops]
    if family == "transnas_micro":
        from gennape.spaces.transnas import TransNASMicroSpec

        return [TransNASMicroSpec((a,) * 3 + (b,) * 3) for a in range(4) for b in range(4)]
    return space.sample(2, seed=3)


def test_templated_families() -> None:
    assert {"nb201", "transnas_micro"} <= set(TEMPLATED)


@pytest.mark.parametrize("family", TEMPLATED)
def test_template_graphs_are_the_traced_graphs(family: str) -> None:
    space = get_space(FAMILY_SPACES[family])
    specs = space.sample(25, seed=7) + edge_cases(family)
    for task in list_tasks(family):
        t = get_task(task)
        n = len(specs) if task == list_tasks(family)[0] else 6
        for spec in specs[:n]:
            s = space.spec_to_str(spec)
            fast = space.graph(s, t.input_shape, t.num_classes)
            ref = space.traced_graph(s, t.input_shape, t.num_classes)
            assert same(fast, ref), f"{task}: {s}"
    # graph_of goes through the template; a spec object names the graph by the network class.
    spec = specs[0]
    assert same(graph_of(family, space.spec_to_str(spec)), space.traced_graph(space.spec_to_str(spec)))
    assert same(space.graph(spec), space.traced_graph(spec))


@pytest.mark.parametrize("family", FAMILIES)
def test_memo_and_no_init_change_nothing(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference path itself (no_init, shape memo) against a plain trace of an initialised
    module, with the memo off."""
    space = get_space(FAMILY_SPACES[family])
    t = get_task(list_tasks(family)[0])
    specs = space.sample(2, seed=1)
    fast = [space.traced_graph(s, t.input_shape, t.num_classes) for s in specs]
    fast += [space.traced_graph(s, t.input_shape, t.num_classes) for s in specs]  # memo warm
    monkeypatch.setattr(fx_frontend, "MEMOISE", False)
    x = torch.zeros(1, *t.input_shape)
    for spec, a, b in zip(specs * 2, fast, fast[len(specs):] + fast[:len(specs)]):
        ref = from_module(space.build(spec, num_classes=t.num_classes), x)
        assert same(a, ref) and same(b, ref), space.spec_to_str(spec)


def test_no_init_leaves_weights_alone_and_restores() -> None:
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(3, 4, 3).weight.detach().clone()
    with no_init():
        m = torch.nn.Conv2d(3, 4, 3)
        assert m.weight.shape == ref.shape
    torch.manual_seed(0)
    assert torch.equal(torch.nn.Conv2d(3, 4, 3).weight, ref)  # initialisers are back


def test_shape_memo_is_keyed_by_configuration() -> None:
    """Same op type, other attributes: distinct entries (a Conv's stride, a Concat's axis)."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=1, padding=1), torch.nn.Conv2d(8, 8, 3, stride=2))
    x = torch.zeros(1, 3, 16, 16)
    a = from_module(net, x)
    b = from_module(net, x)
    assert [n.out_shape for n in a.nodes] == [n.out_shape for n in b.nodes]
    assert a.nodes[2].out_shape == (8, 7, 7)


def test_families_sample_hashes_are_stable() -> None:
    """A few specs of each family through graph_of twice (templates and memo warm): same graph."""
    rng = random.Random(0)
    for family in FAMILIES:
        space = get_space(FAMILY_SPACES[family])
        spec = space.spec_to_str(space.sample(1, seed=rng.randrange(100))[0])
        assert same(graph_of(family, spec), graph_of(family, spec))


def test_no_init_only_on_its_thread() -> None:
    import threading

    out = {}

    def other() -> None:
        out["w"] = torch.nn.Linear(64, 64).weight.detach().clone()

    with no_init():
        with no_init():  # nested
            t = threading.Thread(target=other)
            t.start()
            t.join()
    assert out["w"].abs().max() > 0 and out["w"].abs().max() <= 1 / 8  # kaiming bound 1/sqrt(64)
    assert not getattr(torch.nn.init.uniform_, "_gennape_no_init", False)


@pytest.mark.slow
@pytest.mark.parametrize("family", TEMPLATED)
def test_template_graphs_every_spec(family: str) -> None:
    """Every spec (NB-201: 15,625, ~15 min on one core; TransNAS micro: 4,096, ~3 min); the same
    check as ``benchmarks/graph_build.py --check all``."""
    space = get_space(FAMILY_SPACES[family])
    specs = space.enumerate(order="product") if family == "nb201" else space.enumerate()
    bad = [space.spec_to_str(s) for s in specs if not same(space.graph(s), space.traced_graph(s))]
    assert not bad, f"{len(bad)} of {len(specs)} differ, e.g. {bad[:3]}"
