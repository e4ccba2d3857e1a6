"""A benchmark family as a list of encoded graphs with targets, built once and cached on disk.

Each architecture's spec is built by its search space, traced to a ComputeGraph, encoded
(``ComputeGraph.to_pyg``) and given its Laplacian spectrum. Building NB-201's 15,625 graphs takes
minutes, so the encodings are saved per family in ``data/cache/graphs_<family>.pt`` as a dict of
plain tensors, strings and lists (loaded with ``weights_only=True``, never unpickling objects).
The cache is keyed by spec string, grows when new specs are asked for, and is rebuilt when the
op vocabulary or the node features change, or when re-tracing a few cached specs no longer gives
the cached records (hash, params, node features: the frontend, the space or the canonical rules
changed what it builds).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from gennape.data.loaders import TARGETS, load_family, resolve_task
from gennape.core.paths import PROJECT_ROOT
from gennape.graph.encoding import FEATURE_NAMES
from gennape.graph.ir import ComputeGraph
from gennape.graph.ops import list_ops
from gennape.model.contrastive import DEFAULT_Q, laplacian_spectrum
from gennape.data.families import FAMILY_SPACES

CACHE_VERSION = 1
SAVE_EVERY = 10_000  # graphs built between two cache writes, at most (a write rewrites the file)...
SAVE_SECONDS = 60.0  # ...and at most this long, so a kill loses at most a minute of building
PROBES = 2  # cached specs re-traced on load to detect a changed frontend or search space
MIN_JOBS_PER_WORKER = 200  # graphs to build per extra worker process (see build_workers)
DEFAULT_CACHE_DIR = PROJECT_ROOT / "data" / "cache"


@dataclass
class Family:
    """One family's rows and their encoded graphs, in the same order.

    Args:
        name: family name (``nb201``...).
        target: accuracy column used as ``Data.y``.
        table: the family table restricted to the kept rows (index reset).
        graphs: one ``Data`` per row with ``op, feat, edge_index, flops, params, spectrum, y,
            row``; ``hash`` is the graph hash.
        task: the task's dataset (``cifar100``); None = the family's default task.
    """

    name: str
    target: str
    table: pd.DataFrame
    graphs: list[Data]
    task: str | None = None

    @property
    def key(self) -> str:
        """``name`` for the family's default task, else ``name/task`` (tables' family column)."""
        return self.name if self.task is None else f"{self.name}/{self.task}"

    @property
    def variant(self) -> str:
        """The graph variant, which names the task's graph cache and feature store."""
        from gennape.data.families import graph_variant

        return graph_variant(self.name, self.task)

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def y(self) -> np.ndarray:
        return self.table[self.target].to_numpy(dtype=np.float64)

    def subset(self, rows: Sequence[int]) -> "Family":
        """The family restricted to positions ``rows``."""
        rows = list(rows)
        return Family(self.name, self.target, self.table.iloc[rows].reset_index(drop=True),
                      [self.graphs[i] for i in rows], self.task)


def graph_to_record(cg: ComputeGraph, q: int = DEFAULT_Q) -> dict[str, object]:
    """The cacheable encoding of one graph: plain tensors and its hash."""
    d = cg.to_pyg()
    return {"op": d.op, "feat": d.feat, "edge_index": d.edge_index, "flops": float(cg.flops),
            "params": float(cg.params), "hash": cg.hash,
            "spectrum": laplacian_spectrum(d.edge_index, d.num_nodes, q)}


def record_to_data(rec: dict[str, object]) -> Data:
    """A ``Data`` from a record of :func:`graph_to_record` (``y`` is added by the caller)."""
    return Data(op=rec["op"], feat=rec["feat"], edge_index=rec["edge_index"],
                num_nodes=int(rec["op"].shape[0]), flops=torch.tensor([rec["flops"]]),
                params=torch.tensor([rec["params"]]), spectrum=rec["spectrum"].view(1, -1),
                hash=rec["hash"])


def build_record(family: str, spec: str, q: int = DEFAULT_Q, task: str | None = None) -> dict[str, object]:
    """Build, trace and encode one architecture of ``family`` as ``task`` trains it; errors name
    the spec."""
    from gennape.data.families import graph_of

    return graph_to_record(graph_of(family, spec, task), q)


def _build_worker(args: tuple[str, str, int, str | None]) -> dict[str, object]:
    """A record built in a worker process, its tensors as numpy arrays: torch would send each
    tensor through shared memory and a file descriptor, and a build of thousands of small records
    then fails in the parent ("received 0 items of ancdata")."""
    torch.set_num_threads(1)
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in build_record(*args).items()}


def _from_worker(rec: dict[str, object]) -> dict[str, object]:
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in rec.items()}


def _pack(specs: list[str], recs: list[dict[str, object]], q: int) -> dict[str, object]:
    """Concatenate records into a few big tensors (fast to save and load)."""
    return {
        "version": CACHE_VERSION, "vocab": list_ops(), "features": list(FEATURE_NAMES), "q": q,
        "specs": specs, "hashes": [r["hash"] for r in recs],
        "num_nodes": torch.tensor([r["op"].shape[0] for r in recs], dtype=torch.long),
        "num_edges": torch.tensor([r["edge_index"].shape[1] for r in recs], dtype=torch.long),
        "op": torch.cat([r["op"] for r in recs]) if recs else torch.zeros(0, dtype=torch.long),
        "feat": torch.cat([r["feat"] for r in recs]) if recs else torch.zeros(0, len(FEATURE_NAMES)),
        "edge_index": torch.cat([r["edge_index"] for r in recs], 1) if recs else torch.zeros(2, 0, dtype=torch.long),
        "flops": torch.tensor([r["flops"] for r in recs], dtype=torch.float64),
        "params": torch.tensor([r["params"] for r in recs], dtype=torch.float64),
        "spectrum": torch.stack([r["spectrum"] for r in recs]) if recs else torch.zeros(0, q),
    }


def _unpack(blob: dict[str, object]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    nodes = torch.split(blob["op"], blob["num_nodes"].tolist())
    feats = torch.split(blob["feat"], blob["num_nodes"].tolist())
    edges = torch.split(blob["edge_index"], blob["num_edges"].tolist(), dim=1)
    for i, spec in enumerate(blob["specs"]):
        out[spec] = {"op": nodes[i], "feat": feats[i], "edge_index": edges[i].contiguous(),
                     "flops": float(blob["flops"][i]), "params": float(blob["params"][i]),
                     "hash": blob["hashes"][i], "spectrum": blob["spectrum"][i]}
    return out


def load_cache(path: Path, q: int = DEFAULT_Q) -> dict[str, dict[str, object]]:
    """Records by spec from a cache file; empty if missing or stale (other vocabulary/features)."""
    if not path.is_file():
        return {}
    try:
        blob = torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"graph cache {path} is unreadable ({e}); delete it to rebuild") from e
    if (blob.get("version") != CACHE_VERSION or blob.get("vocab") != list_ops()
            or blob.get("features") != list(FEATURE_NAMES) or blob.get("q") != q):
        return {}
    return _unpack(blob)


def build_workers(workers: int | None, jobs: int) -> int:
    """Processes that build ``jobs`` graphs: ``workers`` (None or 0: every core this process may
    use), but no more than one per :data:`MIN_JOBS_PER_WORKER` jobs, since a spawned worker takes
    seconds to start (importing torch) and a graph takes milliseconds."""
    if workers is None or workers <= 0:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(workers, jobs // MIN_JOBS_PER_WORKER))


def encode_specs(family: str, specs: Sequence[str], cache_dir: str | os.PathLike | None = None,
                 workers: int | None = None, q: int = DEFAULT_Q,
                 progress: Callable[[int, int], None] | None = None,
                 task: str | None = None) -> list[dict[str, object]]:
    """Records of ``specs``, from the cache where present, else built (then cached).

    Graphs of one family differ by task when its resolution or class count does; each such
    variant has its own cache file, ``graphs_<variant>.pt`` (see ``gennape.data.families.graph_variant``).

    Args:
        family: family name (key of ``FAMILY_SPACES``).
        specs: spec strings as in the family table.
        cache_dir: cache folder (default ``data/cache`` in the project).
        workers: processes used to build missing graphs (None: every core; see
            :func:`build_workers`).
        q: spectrum length.
        progress: called as ``progress(done, total)`` while building.
        task: the task whose networks to build (default: the family's default task).
    """
    from gennape.data.families import graph_variant

    if family not in FAMILY_SPACES:
        raise KeyError(f"no search space known for family {family!r}; known: {', '.join(FAMILY_SPACES)}")
    path = Path(cache_dir or DEFAULT_CACHE_DIR) / f"graphs_{graph_variant(family, task)}.pt"
    cache = load_cache(path, q)
    probes = list(cache)[:PROBES]
    if probes and any(not _same_record(build_record(family, s, q, task), cache[s]) for s in probes):
        cache = {}  # graphs built today differ from the cached ones: the cache is stale
    missing = list(dict.fromkeys(s for s in specs if s not in cache))
    if not missing:
        return [cache[s] for s in specs]
    jobs = [(family, s, q, task) for s in missing]
    workers = build_workers(workers, len(jobs))
    pool = mp.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        built = (map(_from_worker, pool.imap(_build_worker, jobs, chunksize=16)) if pool
                 else map(_build_worker_local, jobs))
        chunk: dict[str, dict[str, object]] = {}
        last_save = time.monotonic()
        for i, (spec, rec) in enumerate(zip(missing, built)):
            chunk[spec] = rec
            if progress and ((i + 1) % 100 == 0 or i + 1 == len(jobs)):
                progress(i + 1, len(jobs))
            # Saving as we go keeps an interrupted build's work (NB-201 takes a while).
            if len(chunk) >= SAVE_EVERY or i + 1 == len(jobs) or time.monotonic() - last_save > SAVE_SECONDS:
                cache.update(chunk)
                _save(path, cache, q)
                chunk, last_save = {}, time.monotonic()
    finally:
        if pool:
            pool.terminate()
    return [cache[s] for s in specs]


def _same_record(a: dict[str, object], b: dict[str, object]) -> bool:
    """Whether two records of one spec encode the same graph: hash, params and node features (a
    change to how params or features are counted keeps the hash)."""
    return (a["hash"] == b["hash"] and a["params"] == b["params"] and a["feat"].shape == b["feat"].shape
            and bool(torch.equal(a["feat"], b["feat"])))


def _build_worker_local(args: tuple[str, str, int, str | None]) -> dict[str, object]:
    return build_record(*args)


def _save(path: Path, cache: dict[str, dict[str, object]], q: int) -> None:
    """Merge ``cache`` with what is on disk now (another run may have added specs), then write
    atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    on_disk = load_cache(path, q)
    for spec, rec in on_disk.items():
        cache.setdefault(spec, rec)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # unique: two runs may build at once
    torch.save(_pack(list(cache), list(cache.values()), q), tmp)
    os.replace(tmp, path)


def load_graphs(family: str, target: str | None = None, limit: int | None = None, seed: int = 0,
                root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                workers: int | None = None, progress: Callable[[int, int], None] | None = None,
                task: str | None = None) -> Family:
    """A family's architectures with a target, as encoded graphs.

    Args:
        family: ``nb201`` | ``nb101`` | ``nb301`` | ``transnas_macro`` | ``transnas_micro`` | ``zoo``.
        target: label column (default: the task's); rows where it is NaN are dropped.
        limit: keep a random subset of this many rows (reproducible with ``seed``); None = all.
        seed: seed of the subset.
        root: data folder (see ``gennape.core.paths.data_root``).
        cache_dir: graph cache folder.
        workers: processes for building missing graphs (None: every core).
        progress: build progress callback ``(done, total)``.
        task: the task (``cifar100`` or ``nb201/cifar100``): its label, its references and its
            networks (resolution, classes); default: the family's default task.
    """
    table = load_family(family, root, task=task)
    target = target or (resolve_task(family, task).target if task else TARGETS[family])
    if target not in table.columns:
        raise KeyError(f"{family}: no target column {target!r}; columns: {', '.join(table.columns)}")
    table = table[table[target].notna()].reset_index(drop=True)
    if limit is not None and limit < len(table):
        rows = np.sort(np.random.default_rng(seed).choice(len(table), size=limit, replace=False))
        table = table.iloc[rows].reset_index(drop=True)
    return family_from_table(family, table, target, cache_dir, workers, progress, task)


def family_from_table(family: str, table: pd.DataFrame, target: str, cache_dir: str | os.PathLike | None = None,
                      workers: int = 1, progress: Callable[[int, int], None] | None = None,
                      task: str | None = None) -> Family:
    """The rows of ``table`` (a family table's, labelled in ``target``) with their encoded graphs."""
    table = table.reset_index(drop=True)
    recs = encode_specs(family, table["spec"].tolist(), cache_dir, workers, progress=progress, task=task)
    graphs = []
    for i, (rec, y) in enumerate(zip(recs, table[target].to_numpy(dtype=np.float32))):
        d = record_to_data(rec)
        d.y, d.row = torch.tensor([float(y)]), torch.tensor([i])
        graphs.append(d)
    return Family(family, target, table, graphs, task)
