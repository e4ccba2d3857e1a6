"""ONNX frontend: ``from_onnx(path)``, reading structure and shapes but never the weights.

The model is loaded without external data; every initializer bigger than a few numbers is
replaced by a typed graph input of the same shape before shape inference, so the weights are
neither needed nor held twice. Small constants (scalars, shape and slice arguments) keep their
values; one stored as external data is read alone from its file (a model whose weights file,
e.g. the dynamo exporter's ``model.onnx.data``, is missing still reads, unless a small constant
it needs is in there: then the error names the file). Each ONNX op is mapped by a handler
registered in ``onnx_handlers``.

A model exported with a dynamic height and width (``dynamic_axes={"input": {2: "h", 3: "w"}}``,
or dynamo ``dynamic_shapes``) has no resolution of its own: give one with ``input_size``. A
dynamic batch axis needs nothing (graphs are at batch 1).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper, numpy_helper, shape_inference

from gennape.graph.canonical import to_compute_graph
from gennape.graph.errors import GraphError
from gennape.graph.ir import ComputeGraph
from gennape.graph.onnx_handlers import HANDLERS, MOVED_AWARE, Const, Moved, OnnxCtx
from gennape.graph.raw import RawGraph, Ref
from gennape.graph.onnx_skim import load_structure

SMALL = 64  # initializers with at most this many elements keep their values
CONTROL_FLOW = {"If", "Loop", "Scan", "SequenceMap"}


def _load(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise GraphError(str(path), "no such file")
    try:
        model = load_structure(path, SMALL)  # onnx.load without the big initializers' values
    except (DecodeError, RuntimeWarning, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
        raise GraphError(str(path), f"not a readable ONNX model ({type(e).__name__}: {e})") from e
    except Exception as e:  # protobuf reports truncation with several types
        raise GraphError(str(path), f"not a readable ONNX model ({type(e).__name__}: {e})") from e
    if not model.graph.node or not model.opset_import:
        raise GraphError(str(path), "not an ONNX model (no graph nodes or opset); truncated or another format?")
    return model


def _external_file(init: onnx.TensorProto) -> str:
    return next((e.value for e in init.external_data if e.key == "location"), "?")


def _strip_weights(model: onnx.ModelProto, folder: Path, missing: dict[str, str]) -> dict[str, Const]:
    """Turn big initializers into graph inputs; return name -> Const (value None when stripped).

    A small initializer stored as external data is read alone from its file (offset and length);
    an external data file that cannot be read is added to ``missing`` (its path -> why)."""
    consts: dict[str, Const] = {}
    keep, inputs = [], []
    existing = {i.name for i in model.graph.input}
    for init in model.graph.initializer:
        numel = int(np.prod(init.dims)) if init.dims else 1
        if numel <= SMALL and init.data_location == onnx.TensorProto.EXTERNAL:
            try:
                external_data_helper.load_external_data_for_tensor(init, str(folder))
                init.data_location = onnx.TensorProto.DEFAULT
                del init.external_data[:]
            except Exception:  # noqa: BLE001 - missing or short file: the value stays unknown
                where = folder / _external_file(init)
                missing[str(where)] = "is missing" if not where.exists() else "cannot be read"
        if numel <= SMALL and init.data_location != onnx.TensorProto.EXTERNAL:
            consts[init.name] = Const(numpy_helper.to_array(init), tuple(init.dims))
            keep.append(init)
        else:
            consts[init.name] = Const(None, tuple(init.dims))
            if init.name not in existing:
                inputs.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(keep)
    model.graph.input.extend(inputs)
    return consts


def _fix_input_shapes(model: onnx.ModelProto, source: str, weights: dict[str, Const],
                      input_size: tuple[int, int] | None) -> None:
    """Fix the graph inputs' dynamic axes: the batch to 1 (the graph is at batch 1, so that shape
    arithmetic on it folds), the height and width of an image input (N, C, H, W) to
    ``input_size`` (a fixed resolution is kept); any other dynamic axis is an error."""
    for inp in model.graph.input:
        if inp.name in weights or not inp.type.tensor_type.HasField("shape"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
        free = [j for j, d in enumerate(dims) if j > 0 and not d.HasField("dim_value")]
        if not free:
            continue
        desc = "(" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else repr(d.dim_param or "?")
                               for d in dims) + ")"
        if len(dims) != 4 or 1 in free:
            raise GraphError(source, f"cannot infer the shape of graph input {inp.name!r}: its shape {desc} has "
                                     f"dynamic axes other than the batch, height and width; export with them fixed")
        if input_size is None:
            raise GraphError(source, f"cannot infer the shape of graph input {inp.name!r}: its height and width are "
                                     f"dynamic, shape {desc}; give the resolution with --input-size H W "
                                     f"(Python: input_size=(H, W))")
        for j, v in zip((2, 3), input_size):
            if not dims[j].HasField("dim_value"):
                dims[j].dim_value = int(v)


def _shapes(model: onnx.ModelProto, source: str) -> dict[str, tuple[int | None, ...]]:
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:
        raise GraphError(source, f"shape inference failed ({str(e).splitlines()[0][:300]})") from e
    shapes: dict[str, tuple[int | None, ...]] = {}
    g = inferred.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return shapes


def _fold_constants(model: onnx.ModelProto, consts: dict[str, Const]) -> None:
    """Evaluate nodes whose inputs are all known small constants (the shape arithmetic of legacy
    exports) and replace them by initializers, so that shape inference sees their values."""
    kept = []
    for node in model.graph.node:
        ins = [i for i in node.input if i]
        if node.op_type == "Constant" or (ins and all(i in consts and consts[i].value is not None for i in ins)):
            from onnx.reference import ReferenceEvaluator  # 0.3 s to import: only when there is a node to fold

            try:
                feeds = {i: consts[i].value for i in ins}
                values = ReferenceEvaluator(node).run(None, feeds)
            except Exception:  # not evaluable by the reference runtime: leave it to the frontend
                kept.append(node)
                continue
            for name, v in zip(node.output, values):
                v = np.asarray(v)
                consts[name] = Const(v, tuple(v.shape))
                model.graph.initializer.append(numpy_helper.from_array(v, name))
        else:
            kept.append(node)
    model.graph.ClearField("node")
    model.graph.node.extend(kept)


def _fold_shapes(model: onnx.ModelProto, consts: dict[str, Const], shapes: dict) -> bool:
    """Replace each ``Shape`` of a tensor whose shape inference fully knows by a constant; whether
    any was replaced."""
    kept, changed = [], False
    for node in model.graph.node:
        s = shapes.get(node.input[0]) if node.op_type == "Shape" and node.input else None
        if s is None or not s or any(d is None for d in s) or node.output[0] in consts:
            kept.append(node)
            continue
        a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
        v = np.array(s, dtype=np.int64)[a.get("start", 0):a.get("end", None)]
        consts[node.output[0]] = Const(v, tuple(v.shape))
        model.graph.initializer.append(numpy_helper.from_array(v, node.output[0]))
        changed = True
    if changed:
        model.graph.ClearField("node")
        model.graph.node.extend(kept)
    return changed


def _evaluate(node: onnx.NodeProto, names, args: list) -> list[np.ndarray] | None:
    """The outputs of a node all of whose inputs are known constants (shape arithmetic after a
    ``Shape``, e.g. a TF-"same" padding), or None when a value is unknown or not evaluable."""
    if any(a is not None and (not isinstance(a, Const) or a.value is None) for a in args):
        return None
    from onnx.reference import ReferenceEvaluator  # 0.3 s to import: only when there is a node to evaluate

    try:
        feeds = {n: a.value for n, a in zip(names, args) if n and a is not None}
        return [np.asarray(v) for v in ReferenceEvaluator(node).run(None, feeds)]
    except Exception:  # not evaluable by the reference runtime: leave it unknown
        return None


def from_onnx(path: str | os.PathLike, input_size: tuple[int, int] | None = None) -> ComputeGraph:
    """The canonical ComputeGraph of an ONNX file (any opset the onnx package knows).

    Args:
        path: the ``.onnx`` file (external data, if any, beside it; the weights are not read).
        input_size: (H, W) for an image input whose height or width the export left dynamic;
            an input with a fixed resolution keeps its own.
    """
    path = Path(path)
    source = str(path)
    if input_size is not None and (len(input_size) != 2 or min(int(v) for v in input_size) < 1):
        raise ValueError(f"input_size must be two positive integers (H, W), not {input_size!r}")
    missing: dict[str, str] = {}
    try:
        return _from_onnx(path, source, input_size, missing)
    except GraphError as e:
        if not missing:
            raise
        files = ", ".join(f"{f!r}, which {why}" for f, why in sorted(missing.items()))
        raise GraphError(source, f"{e.problem} (a constant it needs is in the external data file {files})") from e


def _from_onnx(path: Path, source: str, input_size: tuple[int, int] | None,
               missing: dict[str, str]) -> ComputeGraph:
    model = _load(path)
    consts = _strip_weights(model, path.parent, missing)
    _fix_input_shapes(model, source, consts, input_size)
    for n in model.graph.node:
        if n.op_type in CONTROL_FLOW:
            raise GraphError(source, f"control flow ({n.op_type}) at node {n.name!r} is not supported")
    _fold_constants(model, consts)
    shapes = _shapes(model, source)
    for _ in range(8):  # shapes known only now fold more shape arithmetic (dynamic "same" pads)
        if not _fold_shapes(model, consts, shapes):
            break
        _fold_constants(model, consts)
        shapes = _shapes(model, source)
    g = RawGraph(source)
    ctx = OnnxCtx(g, source, shapes)
    env: dict[str, Ref | Const] = dict(consts)
    for inp in model.graph.input:
        if inp.name in env:
            continue
        shape = ctx.shape(inp.name, "graph input")  # fixed by _fix_input_shapes
        env[inp.name] = Ref(g.emit("Input", [], shape, where=inp.name), shape)
    for node in model.graph.node:
        ctx.where = node.name or node.op_type
        args = [env[i] if i else None for i in node.input]
        if not any(isinstance(a, Ref) for a in args):  # a constant sub-graph
            values = _evaluate(node, node.input, args)
            for j, o in enumerate(node.output):
                v = values[j] if values is not None and j < len(values) else None
                env[o] = Const(v, tuple(v.shape)) if v is not None else Const(None, tuple(shapes.get(o, ())))
            continue
        moved = [a for a in args if isinstance(a, Moved)]
        if moved and node.op_type not in MOVED_AWARE:
            raise GraphError(source, f"op {node.op_type} on a tensor whose batch axis was moved, at node "
                                     f"{ctx.where!r}, is not supported")
        if node.domain not in ("", "ai.onnx"):
            raise GraphError(source, f"op {node.domain}::{node.op_type} at node {ctx.where!r} is not in the vocabulary")
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            raise GraphError(source, f"op {node.op_type} at node {ctx.where!r} is not in the vocabulary")
        out = handler(ctx, node, args)
        if isinstance(out, list):  # a multi-output op (Split)
            for o, r in zip(node.output, out):
                env[o] = r
        else:
            env[node.output[0]] = out
    for o in model.graph.output:
        ref = env[o.name]
        if isinstance(ref, Ref):
            g.outputs.append(g.emit("Output", [ref.id], ref.shape, where=o.name))
    return to_compute_graph(g)
