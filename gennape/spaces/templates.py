"""Fast graphs of a search space's specs: shape-only builds and traced templates.

Tracing a whole network per spec (build the nn.Module, torch.fx, run it for shapes) costs tens of
milliseconds; NB-201 has 15,625 cells. Two things make it cheaper without a second description of
any network:

* :func:`no_init`: only shapes matter for a graph (parameters are counted from shapes), so
  :meth:`SearchSpace.graph` builds its module without initialising the weights.
* :class:`SlotTemplate`: a space whose specs only choose the op at fixed positions of a fixed
  network (NB-201's 6 edges, TransNAS micro's) builds that network once with a :class:`Slot` at
  each position, from its own classes, and traces it once. The graph of a spec is that RawGraph
  with each Slot replaced by the raw nodes of the op the spec picks there, traced once per (op,
  its constructor arguments, input shapes) from the space's own op factory. The nodes come in the
  order, and with the module paths (weight keys), that tracing the spec's network gives, and the
  same canonical passes run on them, so the ComputeGraph is the same node for node; tests compare
  it with :meth:`SearchSpace.traced_graph` (the reference) on samples of every such space, and
  ``benchmarks/graph_build.py --check all`` on every spec.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import init

from gennape.graph.canonical import to_compute_graph
from gennape.graph.errors import GraphError
from gennape.graph.fx_handlers import Ctx
from gennape.graph.fx_frontend import record, to_raw, trace
from gennape.graph.ir import ComputeGraph
from gennape.graph.raw import RawGraph, RawNode, Ref

_INIT_FUNCTIONS = [n for n in dir(init) if n.endswith("_") and not n.startswith("_")]


@contextlib.contextmanager
def no_init() -> Iterator[None]:
    """Modules built inside get uninitialised weights: ``torch.nn.init``'s in-place initialisers
    (which every torch.nn layer's ``reset_parameters`` uses) do nothing. For graphs only: the
    shapes are right, the values are whatever memory held. Other threads still initialise (the
    initialisers are swapped for the whole process, but only skip work on this thread)."""
    saved = {n: getattr(init, n) for n in _INIT_FUNCTIONS}
    if any(getattr(f, "_gennape_no_init", False) for f in saved.values()):
        yield  # nested: already skipping
        return
    owner = threading.get_ident()
    try:
        for n, f in saved.items():
            setattr(init, n, _skipping(f, owner))
        yield
    finally:
        for n, f in saved.items():
            setattr(init, n, f)


def _skipping(f: Callable[..., torch.Tensor], owner: int) -> Callable[..., torch.Tensor]:
    def initialiser(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return tensor if threading.get_ident() == owner else f(tensor, *args, **kwargs)

    initialiser._gennape_no_init = True  # type: ignore[attr-defined]
    return initialiser


@dataclass(frozen=True)
class Choice:
    """Stands for the spec's choice at position ``index`` where a template network is built."""

    index: int


class Slot(nn.Module):
    """A template network's placeholder for the op a spec picks at position ``index``.

    Args:
        index: the position (what :meth:`SearchSpace.slot_choices` lists the choices by).
        args: the op factory's other arguments here (channels, stride...).
        stand_in: one of the choices, run for the template's shapes (all choices must give the
            same output shape).
    """

    def __init__(self, index: int, args: tuple, stand_in: nn.Module) -> None:
        super().__init__()
        self.index, self.args = index, tuple(args)
        self.stand_in = stand_in

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.stand_in(*xs)


def slot_factory(make_op: Callable[..., nn.Module], stand_in: Any) -> Callable[..., nn.Module]:
    """An op factory for template networks: called as ``make_op`` would be, with a :class:`Choice`
    in place of the op, it gives a :class:`Slot` (standing in with ``make_op(stand_in, ...)``)."""

    def factory(choice: Choice, *args: Any) -> nn.Module:
        if not isinstance(choice, Choice):
            raise TypeError(f"template networks are built with Choice ops, got {choice!r}")
        return Slot(choice.index, args, make_op(stand_in, *args))

    return factory


class _Holder(nn.Module):
    """Calls ``op`` as a submodule, so that it is traced as it is inside a network (a leaf layer
    stays a module call, paths are ``op...``)."""

    def __init__(self, op: nn.Module) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class _Holder2(_Holder):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.op(x, y)


def _slot_handler(ctx: Ctx, m: Slot, path: str, args: tuple, kw: dict, shape: Any) -> Ref:
    if kw or not all(isinstance(a, Ref) for a in args):
        raise ctx.fail(f"a Slot takes tensors only, got {args!r} {kw!r}")
    return ctx.emit("Slot", list(args), shape, key=path, index=m.index, args=m.args)


@dataclass
class _Fragment:
    nodes: list[tuple[int, RawNode]]  # (raw id, node), Input and Output excluded
    inputs: list[int]  # raw ids of the fragment's Input nodes, in argument order
    output: int  # raw id whose value the fragment returns


class SlotTemplate:
    """A network traced once with Slots; :meth:`graph` splices a spec's ops in.

    Args:
        network: the network built with :func:`slot_factory` ops.
        input_shape: (C, H, W) of the input, without batch.
        make_op: the space's op factory, ``make_op(choice, *slot.args)``.
        source: the graphs' name when none is given (the network's class name).
    """

    def __init__(self, network: nn.Module, input_shape: Sequence[int], make_op: Callable[..., nn.Module],
                 source: str | None = None) -> None:
        self.source = source or type(network).__name__
        self.make_op = make_op
        graph = trace(network, self.source, leaves=(Slot,))
        values = record(network, graph, torch.zeros(1, *input_shape), self.source)
        self.raw = to_raw(network, graph, values, self.source, handlers={Slot: _slot_handler})
        self.slots = sorted({n.attrs["index"] for n in self.raw.nodes.values() if n.op == "Slot"})
        self._fragments: dict[tuple, _Fragment] = {}

    def fragment(self, choice: Any, args: tuple, in_shapes: tuple) -> _Fragment:
        """The raw nodes of ``make_op(choice, *args)`` on inputs of ``in_shapes`` (cached)."""
        key = (choice, args, in_shapes)
        frag = self._fragments.get(key)
        if frag is None:
            where = f"{self.source}: op {choice!r}{args}"
            holders = {1: _Holder, 2: _Holder2}
            if len(in_shapes) not in holders:
                raise GraphError(where, f"slots take 1 or 2 inputs, this one has {len(in_shapes)}")
            with no_init():
                holder = holders[len(in_shapes)](self.make_op(choice, *args))
            graph = trace(holder, where)
            values = record(holder, graph, tuple(torch.zeros(1, *s) for s in in_shapes), where)
            raw = to_raw(holder, graph, values, where)
            inputs = [i for i, n in raw.nodes.items() if n.op == "Input"]
            outs = raw.outputs
            if len(outs) != 1:
                raise GraphError(where, f"an op in a slot must return one tensor, got {len(outs)}")
            body = [(i, n) for i, n in raw.nodes.items() if n.op not in ("Input", "Output")]
            frag = self._fragments[key] = _Fragment(body, inputs, raw.nodes[outs[0]].inputs[0])
        return frag

    def raw_graph(self, choices: Sequence[Any], name: str | None = None) -> RawGraph:
        """The RawGraph that tracing the network of ``choices`` (one per slot index) gives."""
        g = RawGraph(name or self.source)
        nodes = g.nodes
        new: dict[int, int] = {}  # template id -> id in g
        nid = 0
        for tid, t in self.raw.nodes.items():
            if t.op != "Slot":
                nodes[nid] = RawNode(t.op, [new[s] for s in t.inputs], list(t.in_shapes), t.out_shape,
                                     dict(t.attrs), t.key, t.where)
                new[tid] = nid
                nid += 1
                continue
            frag = self.fragment(choices[t.attrs["index"]], t.attrs["args"], tuple(t.in_shapes))
            local = {f: new[s] for f, s in zip(frag.inputs, t.inputs)}
            prefix = t.key  # the op's path in the network: "<slot path>" + what follows "op"
            for fid, f in frag.nodes:
                key = f.key if f.key is None else prefix + f.key[2:]
                nodes[nid] = RawNode(f.op, [local[s] for s in f.inputs], list(f.in_shapes), f.out_shape,
                                     dict(f.attrs), key, f.where)
                local[fid] = nid
                nid += 1
            out = local[frag.output]
            if nodes[out].out_shape != t.out_shape:
                raise GraphError(g.source, f"op {choices[t.attrs['index']]!r} at {t.key} gives shape "
                                           f"{nodes[out].out_shape}, its slot {t.out_shape}")
            new[tid] = out
        g._next = nid
        g.outputs = [new[o] for o in self.raw.outputs]
        return g

    def graph(self, choices: Sequence[Any], name: str | None = None) -> ComputeGraph:
        """The canonical graph of the network with op ``choices[i]`` at slot ``i``."""
        return to_compute_graph(self.raw_graph(choices, name))


_TEMPLATES: dict[tuple, SlotTemplate] = {}


def cached_template(key: tuple, make: Callable[[], SlotTemplate]) -> SlotTemplate:
    """The template of ``key`` (space, sizes, input shape), made once per process."""
    t = _TEMPLATES.get(key)
    if t is None:
        t = _TEMPLATES[key] = make()
    return t
