"""Read an ONNX model's structure without reading its weights.

``onnx.load`` reads the whole file into memory and then parses it, copying every initializer's
payload: a 500 MB model costs 1 GB of memory for a graph that needs none of it. Here the file is
memory-mapped and the protobuf wire format is walked: every initializer with more than
``max_elements`` elements is copied without its values (dims, type, name, external-data fields
kept), everything else byte for byte, and only that small message is parsed. The weight bytes are
never read. Anything unexpected falls back to ``onnx.load`` (which then reports a broken file
as it always did).
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterator

import onnx

# TensorProto fields holding values: float_data, int32_data, string_data, int64_data, raw_data,
# double_data, uint64_data.
_PAYLOAD = frozenset({4, 5, 6, 7, 9, 10, 11})
_MODEL_GRAPH, _GRAPH_INITIALIZER, _TENSOR_DIMS = 7, 5, 1


class _Malformed(ValueError):
    pass


def _varint(buf: mmap.mmap | bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed("bad varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: mmap.mmap | bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, value start, value end) of a message's fields."""
    pos = start
    while pos < end:
        tag, p = _varint(buf, pos, end)
        fn, wt = tag >> 3, tag & 7
        if wt == 0:
            vs, (_, ve) = p, _varint(buf, p, end)
        elif wt == 1:
            vs, ve = p, p + 8
        elif wt == 2:
            n, vs = _varint(buf, p, end)
            ve = vs + n
        elif wt == 5:
            vs, ve = p, p + 4
        else:
            raise _Malformed(f"wire type {wt}")
        if ve > end or fn == 0:
            raise _Malformed("truncated")
        yield fn, wt, pos, vs, ve
        pos = ve


def _delimited(fn: int, body: bytes) -> bytes:
    return _encode_varint(fn << 3 | 2) + _encode_varint(len(body)) + body


def _tensor(buf: mmap.mmap, start: int, end: int, max_elements: int) -> bytes:
    fields = list(_fields(buf, start, end))
    dims: list[int] = []
    for fn, wt, _, vs, ve in fields:
        if fn == _TENSOR_DIMS:
            if wt == 0:
                dims.append(_varint(buf, vs, ve)[0])
            else:  # packed
                p = vs
                while p < ve:
                    d, p = _varint(buf, p, ve)
                    dims.append(d)
    if math.prod(dims) <= max_elements:
        return buf[start:end]
    return b"".join(buf[fs:ve] for fn, _, fs, _, ve in fields if fn not in _PAYLOAD)


def _graph(buf: mmap.mmap, start: int, end: int, max_elements: int) -> bytes:
    parts = []
    for fn, wt, fs, vs, ve in _fields(buf, start, end):
        if fn == _GRAPH_INITIALIZER and wt == 2:
            parts.append(_delimited(fn, _tensor(buf, vs, ve, max_elements)))
        else:
            parts.append(buf[fs:ve])
    return b"".join(parts)


def skim(buf: mmap.mmap, max_elements: int) -> bytes:
    """The serialized ModelProto in ``buf`` without the values of initializers bigger than
    ``max_elements`` elements."""
    parts = []
    for fn, wt, fs, vs, ve in _fields(buf, 0, len(buf)):
        if fn == _MODEL_GRAPH and wt == 2:
            parts.append(_delimited(fn, _graph(buf, vs, ve, max_elements)))
        else:
            parts.append(buf[fs:ve])
    return b"".join(parts)


def load_structure(path: str | os.PathLike, max_elements: int) -> onnx.ModelProto:
    """``onnx.load(path, load_external_data=False)``, less the values of the initializers with
    more than ``max_elements`` elements, read without reading them."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            data = skim(buf, max_elements)
        return onnx.load_model_from_string(data)
    except Exception:  # noqa: BLE001 - an empty, truncated or odd file: onnx says what is wrong
        return onnx.load(str(path), load_external_data=False)
