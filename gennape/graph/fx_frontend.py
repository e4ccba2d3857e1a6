"""PyTorch frontend: ``from_module(module, example_input)`` via torch.fx symbolic tracing.

Leaf modules (torch.nn layers and gennape's own op modules) and the functions / tensor methods
between them are mapped to ops by two registries in ``fx_handlers``. Shapes come from running the
traced graph once on the example input (eval mode, no grad; the module's mode is restored).

Only shapes matter, so that run is memoised: an op with a handler whose inputs derive from the
network input is computed once per (op, configuration, input shapes) in a process; later calls
get an uninitialised tensor of the remembered shape and strides (:data:`SHAPE_MEMO`). Values
that do not derive from the input (parameters and buffers, and what is computed from them alone)
are always computed, since handlers may read them as constants.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx, nn

from gennape.graph.canonical import to_compute_graph
from gennape.graph.errors import GraphError
from gennape.graph.fx_handlers import FUNCTION_HANDLERS, MODULE_HANDLERS, Ctx, method_key
from gennape.graph.ir import ComputeGraph
from gennape.graph.raw import RawGraph, Ref


class _Tracer(fx.Tracer):
    """Stops at every module type that has a handler."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m) in MODULE_HANDLERS or super().is_leaf_module(m, qualname)


class _LeafTracer(_Tracer):
    """Also stops at ``leaves`` (module types a caller handles itself)."""

    def __init__(self, leaves: tuple[type, ...]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, self.leaves) or super().is_leaf_module(m, qualname)


# (op, its configuration, input signature) -> (shape, strides, dtype) of the output tensor.
SHAPE_MEMO: dict[tuple, tuple] = {}
MEMOISE = True  # False: compute every node (tests compare the two)
_MEMO_LIMIT = 200_000  # entries; cleared when reached (a long-lived process building many zoos)


def _sig(a: Any, derived: bool = True) -> Any:
    """A hashable signature of an argument for :data:`SHAPE_MEMO`, or raise TypeError."""
    if isinstance(a, torch.Tensor):
        return ("T", tuple(a.shape), a.stride(), a.dtype)
    if a is None or isinstance(a, (bool, int, float, str)):
        return (type(a).__name__, a)
    if isinstance(a, (tuple, list)):
        return (type(a).__name__, tuple(_sig(x) for x in a))
    if isinstance(a, slice):
        return ("slice", _sig(a.start), _sig(a.stop), _sig(a.step))
    if isinstance(a, dict):
        return ("dict", tuple((k, _sig(v)) for k, v in a.items()))
    if isinstance(a, (torch.dtype, torch.device, torch.memory_format)):
        return ("torch", str(a))
    raise TypeError(type(a).__name__)


def module_config(m: nn.Module) -> tuple:
    """What fixes a leaf module's output shape: its type, public attributes and the shapes of its
    parameters and buffers (hashable)."""
    attrs = tuple((k, v) for k, v in m.__dict__.items() if k[0] != "_")
    try:
        hash(attrs)
    except TypeError:
        attrs = tuple((k, repr(v)) for k, v in attrs)
    tensors = tuple((k, tuple(v.shape)) for d in (m._parameters, m._buffers) for k, v in d.items() if v is not None)
    return (type(m), attrs, tensors)


class _Recorder(fx.Interpreter):
    """Runs the graph once, remembering each node's value (tensors as their shape); ops with a
    handler on input-derived values go through :data:`SHAPE_MEMO`."""

    def __init__(self, root: nn.Module, graph: fx.Graph) -> None:
        super().__init__(root, graph=graph)
        self.values: dict[fx.Node, Any] = {}
        self.derived: set[fx.Node] = set()
        self.configs: dict[str, tuple] = {}

    def _memo_key(self, n: fx.Node, args: tuple, kwargs: dict) -> tuple | None:
        if n.op == "call_module":
            mod = self.fetch_attr(n.target)
            if type(mod) not in MODULE_HANDLERS:
                return None
            what = self.configs.get(n.target)
            if what is None:
                what = self.configs[n.target] = module_config(mod)
        elif n.op == "call_function":
            if n.target not in FUNCTION_HANDLERS:
                return None
            what = n.target
        else:
            if method_key(n.target) not in FUNCTION_HANDLERS:
                return None
            what = method_key(n.target)
        try:
            return (what, _sig(args), _sig(kwargs))
        except TypeError:
            return None

    def run_node(self, n: fx.Node) -> Any:
        if MEMOISE and (n.op == "placeholder" or any(a in self.derived for a in n.all_input_nodes)):
            self.derived.add(n)
            key = self._memo_key(n, *self.fetch_args_kwargs_from_env(n)) if n.op.startswith("call_") else None
            hit = SHAPE_MEMO.get(key) if key is not None else None
            if hit is not None:
                out = torch.empty_strided(hit[0], hit[1], dtype=hit[2])
            else:
                out = super().run_node(n)
                if key is not None and isinstance(out, torch.Tensor):
                    if len(SHAPE_MEMO) >= _MEMO_LIMIT:
                        SHAPE_MEMO.clear()
                    SHAPE_MEMO[key] = (tuple(out.shape), out.stride(), out.dtype)
        else:
            out = super().run_node(n)
        self.values[n] = out
        return out


def trace(module: nn.Module, source: str, leaves: tuple[type, ...] = ()) -> fx.Graph:
    """Symbolically trace ``module`` with gennape's leaf rules (and ``leaves``, module types the
    caller maps itself), with a clear error on failure."""
    try:
        return (_LeafTracer(leaves) if leaves else _Tracer()).trace(module)
    except Exception as e:  # fx raises many types for untraceable code
        raise GraphError(source, f"cannot trace the module with torch.fx ({type(e).__name__}: {e})") from e


def record(module: nn.Module, graph: fx.Graph, example_input: torch.Tensor | tuple[torch.Tensor, ...],
           source: str) -> dict[fx.Node, Any]:
    """Every node's value on ``example_input`` (a tensor, or a tuple of the inputs) in eval mode,
    without grad; the module's modes are restored."""
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    was_training = [m.training for m in module.modules()]
    module.eval()
    try:
        rec = _Recorder(module, graph)
        with torch.no_grad():
            rec.run(*inputs)
    except Exception as e:
        raise GraphError(source, f"forward pass failed ({type(e).__name__}: {e})") from e
    finally:
        for m, t in zip(module.modules(), was_training):
            m.training = t
    return rec.values


def from_module(module: nn.Module, example_input: torch.Tensor, name: str | None = None) -> ComputeGraph:
    """The canonical ComputeGraph of a PyTorch module.

    Args:
        module: the network (any nn.Module that torch.fx can trace).
        example_input: one input batch, e.g. ``torch.randn(1, 3, 32, 32)``; fixes the shapes.
        name: a label for errors and the graph's ``name`` (default: the class name).
    """
    source = name or type(module).__name__
    graph = trace(module, source)
    return to_compute_graph(to_raw(module, graph, record(module, graph, example_input, source), source))


def to_raw(root: nn.Module, graph: fx.Graph, values: dict[fx.Node, Any], source: str,
           handlers: dict[type, Any] | None = None) -> RawGraph:
    """The RawGraph of a traced ``graph`` with the node ``values`` of :func:`record`; ``handlers``
    add module handlers (for the ``leaves`` given to :func:`trace`)."""
    module_handlers = MODULE_HANDLERS if not handlers else {**MODULE_HANDLERS, **handlers}
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
                handler = module_handlers.get(type(mod))
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
