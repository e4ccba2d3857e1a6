"""Read a W&B run folder offline: its summary, group and tags, from the run's record log.

An offline run (``<run>/wandb/offline-run-<time>-<id>/``) keeps what it logged only in its
``run-<id>.wandb`` file, the records ``wandb sync`` uploads; no summary file lies beside it. That
file is a LevelDB-style log (a 7-byte header ``:W&B``, magic ``0xBEE1``, version 0; then 32 KiB blocks
of chunks, each ``crc32 (4) | length (2) | type (1) | data``, a record split over FIRST/MIDDLE/LAST
chunks) of ``wandb_internal_pb2.Record`` messages. wandb 0.31 reads it only in its Go core, so this
module walks the chunks itself and parses the records with wandb's own protobuf classes: the
``run`` record (group, tags, name), the ``config`` and ``summary`` updates, applied in order. A run that was
killed mid-write is read up to its last whole record.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32 * 1024
CHUNK = struct.Struct("<IHB")  # crc32 of type byte + data, data length, chunk type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class WandbRun:
    """What compare needs of a logged run."""

    path: Path  # the run-<id>.wandb file
    run_id: str = ""
    name: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def run_file(folder: Path) -> Path:
    """The record log of an ``offline-run-*`` / ``run-*`` folder."""
    files = sorted(folder.glob("run-*.wandb"))
    if len(files) != 1:
        found = "none" if not files else ", ".join(f.name for f in files)
        raise ValueError(f"{folder}: a W&B run folder holds one run-<id>.wandb file, found {found}")
    return files[0]


def _chunks(data: bytes, path: Path) -> Iterator[tuple[int, bytes]]:
    """``(type, data)`` of every whole chunk after the header."""
    pos = len(HEADER)
    while pos + CHUNK.size <= len(data):
        if BLOCK - pos % BLOCK < CHUNK.size:  # a block's tail too short for a chunk header is padding
            pos += BLOCK - pos % BLOCK
            continue
        crc, length, kind = CHUNK.unpack_from(data, pos)
        body = data[pos + CHUNK.size:pos + CHUNK.size + length]
        if len(body) < length:
            return  # the run stopped mid-write: the last record is incomplete
        if zlib.crc32(body, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            if crc == length == kind == 0:
                return  # zero padding after the last chunk
            raise ValueError(f"{path}: corrupt record at byte {pos} (checksum mismatch)")
        yield kind, body
        pos += CHUNK.size + length


def records(path: Path) -> Iterator[Any]:
    """Every whole ``wandb_internal_pb2.Record`` of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    if not data.startswith(HEADER):
        raise ValueError(f"{path}: not a W&B run log (no ':W&B' header of version 0)")
    parts: list[bytes] = []
    for kind, body in _chunks(data, path):
        if kind in (FULL, FIRST):
            parts = [body]
        elif parts:  # MIDDLE / LAST continue a record; one without its start is skipped
            parts.append(body)
        if kind in (FULL, LAST) and parts:
            record = pb.Record()
            record.ParseFromString(b"".join(parts))
            parts = []
            yield record


def _set(summary: dict[str, Any], item: Any) -> None:
    """Apply one summary ``update`` item (``key``, or a ``nested_key`` path) to ``summary``."""
    path = [item.key] if item.key else list(item.nested_key)
    node = summary
    for k in path[:-1]:
        node = node.setdefault(k, {})
    node[path[-1]] = json.loads(item.value_json)


def _remove(summary: dict[str, Any], item: Any) -> None:
    path = [item.key] if item.key else list(item.nested_key)
    node = summary
    for k in path[:-1]:
        node = node.get(k, {})
    node.pop(path[-1], None)


def _on_run(run: WandbRun, record: Any) -> None:
    r = record.run
    run.run_id, run.name, run.group, run.tags = r.run_id, r.display_name, r.run_group, list(r.tags)
    for item in r.config.update:
        _set(run.config, item)


def _on_config(run: WandbRun, record: Any) -> None:
    for item in record.config.update:
        _set(run.config, item)
    for item in record.config.remove:
        _remove(run.config, item)


def _on_summary(run: WandbRun, record: Any) -> None:
    for item in record.summary.update:
        _set(run.summary, item)
    for item in record.summary.remove:
        _remove(run.summary, item)


# record type -> what it adds to the run (the others: history, config, files, stats... are skipped)
HANDLERS = {"run": _on_run, "config": _on_config, "summary": _on_summary}


def read_run(folder: str | Path) -> WandbRun:
    """A run's id, name, group, tags, config and final summary, from its folder's record log."""
    path = run_file(Path(folder))
    run = WandbRun(path)
    for record in records(path):
        handler = HANDLERS.get(record.WhichOneof("record_type"))
        if handler is not None:
            handler(run, record)
    if not run.run_id:
        raise ValueError(f"{path}: no run record (not a W&B run log)")
    return run
