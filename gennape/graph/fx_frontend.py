"""PyTorch frontend: ``from_module(module, example_input)`` via torch.fx symbolic tracing.

Leaf modules (torch.nn layers and gennape's own op modules) and the functions / tensor methods
between them are mapped to ops by two registries in ``fx_handlers``. Shapes come from running the
traced graph once on the example input (eval mode, no grad; the module's mode is restored).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx, nn

from gennape.graph.canonical import to_compute_graph
from gennape.graph.errors import GraphError
from gennape.graph.fx_handlers import FUNCTION_HANDLERS, MODULE_HANDLERS, Ctx, Ref, method_key
from gennape.graph.ir import ComputeGraph
from gennape.graph.raw import RawGraph


class _Tracer(fx.Tracer):
    """Stops at every module type that has a handler."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m) in MODULE_HANDLERS or super().is_leaf_module(m, qualname)


class _Recorder(fx.Interpreter):
    """Runs the graph once, remembering each node's value (tensors as their shape)."""

    def __init__(self, root: nn.Module, graph: fx.Graph) -> None:
        super().__init__(root, graph=graph)
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.values[n] = out
        return out


def trace(module: nn.Module, source: str) -> fx.Graph:
    """Symbolically trace ``module`` with gennape's leaf rules, with a clear error on failure."""
    try:
        return _Tracer().trace(module)
    except Exception as e:  # fx raises many types for untraceable code
        raise GraphError(source, f"cannot trace the module with torch.fx ({type(e).__name__}: {e})") from e


def from_module(module: nn.Module, example_input: torch.Tensor, name: str | None = None) -> ComputeGraph:
    """The canonical ComputeGraph of a PyTorch module.

    Args:
        module: the network (any nn.Module that torch.fx can trace).
        example_input: one input batch, e.g. ``torch.randn(1, 3, 32, 32)``; fixes the shapes.
        name: a label for errors and the graph's ``name`` (default: the class name).
    """
    source = name or type(module).__name__
    graph = trace(module, source)
    was_training = [m.training for m in module.modules()]
    module.eval()
    try:
        rec = _Recorder(module, graph)
        with torch.no_grad():
            rec.run(example_input)
    except Exception as e:
        raise GraphError(source, f"forward pass failed ({type(e).__name__}: {e})") from e
    finally:
        for m, t in zip(module.modules(), was_training):
            m.training = t
    return to_compute_graph(_to_raw(module, graph, rec.values, source))


def _to_raw(root: nn.Module, graph: fx.Graph, values: dict[fx.Node, Any], source: str) -> RawGraph:
    g = RawGraph(source)
    ctx = Ctx(g, source)
    env: dict[fx.Node, Any] = {}
    modules = dict(root.named_modules())

    def resolve(a: Any) -> Any:
        if isinstance(a, fx.Node):
            return env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(resolve(x) for x in a)
        return a

    for n in graph.nodes:
        val = values.get(n)
        shape = tuple(val.shape[1:]) if isinstance(val, torch.Tensor) else None
        if n.op == "placeholder":
            env[n] = Ref(g.emit("Input", [], shape, where=n.name), shape)
        elif n.op == "get_attr":
            env[n] = val  # a parameter or buffer: a constant
        elif n.op == "output":
            outs = resolve(n.args[0])
            for o in outs if isinstance(outs, (list, tuple)) else [outs]:
                if isinstance(o, Ref):
                    g.outputs.append(g.emit("Output", [o.id], o.shape, where="output"))
        elif not isinstance(val, torch.Tensor):
            env[n] = val  # sizes and other Python values computed along the way
        else:
            args, kwargs = resolve(n.args), resolve(n.kwargs)
            if n.op == "call_module":
                mod = modules[n.target]
                handler = MODULE_HANDLERS.get(type(mod))
                if handler is None:
                    raise GraphError(source, f"module {type(mod).__name__} at {n.target!r} is not in the vocabulary")
                env[n] = handler(ctx, mod, n.target, args, kwargs, shape)
            else:
                key = method_key(n.target) if n.op == "call_method" else n.target
                handler = FUNCTION_HANDLERS.get(key)
                if handler is None:
                    what = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", n.target)
                    raise GraphError(source, f"op {what} at node {n.name!r} is not in the vocabulary")
                ctx.where = n.name
                env[n] = handler(ctx, args, kwargs, shape)
    return g
