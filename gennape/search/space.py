"""What a search runs on: a *search table*, every architecture a strategy may propose, with the
label a query pays for and everything free (FLOPs, params, stored proxies, a predictor's zero-shot
score and embedding).

- NB-201 (``nb201/cifar10``, ``nb201/cifar100``, ``nb201/imagenet16``): the whole space, all 15,625
  cells with their published accuracies (the 200-epoch columns of the task).
- TransNAS-Bench-101 (``transnas_micro/class_object``, ``transnas_macro/class_object`` and the
  scene tasks): the *labelled pool* the corpus holds (711 micro, 662 macro architectures of the
  4,096 / 3,256 of the benchmark). Only pool architectures can be proposed, so a search there is
  a search of the pool (``SearchTable.exhaustive`` is False).

A "training" is a look-up of ``acc``; the search loop (``gennape.search.loop``) is what charges
for it. Building a table once builds every graph of the space (NB-201: about 15,625 graphs, a few
minutes on 2 cores) and scores them with the checkpoint; the result is cached under
``data/cache/search/`` (graphs in their own cache there, seeded from ``data/cache``).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


# The published NB-201 op order (one index per edge op; a spec's encoding is its six op indices).
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_NB201_EDGE = re.compile(r"([a-z_0-9x]+)~\d")

CACHE_VERSION = 1


@dataclass
class SearchTable:
    """Every architecture a search may propose, in a fixed order (index = architecture).

    Args:
        key: the task (``nb201/cifar10``...) or a test name.
        specs: the architectures' spec strings ``[N]``.
        acc: the label a query reveals ``[N]`` (the task's metric; higher is better).
        flops: FLOPs of each canonical graph ``[N]`` (free: read off the graph).
        params: parameters of each canonical graph ``[N]``.
        encoding: integer choices ``[N, L]``; two architectures one mutation apart differ in one
            column (NB-201: the op of each of the 6 edges; TransNAS: NASLib's tuple).
        choices: how many values each column takes ``[L]``.
        exhaustive: the table is the whole space (NB-201), not a labelled pool (TransNAS).
        proxies: label-free scores defined for every architecture (higher = predicted better;
            FLOPs and params included), by name.
        score, uncertainty: a checkpoint's zero-shot score and head spread ``[N]`` (None: none).
        embedding: the checkpoint's pooled graph embedding ``[N, D]`` (None: none).
        checkpoint: where ``score`` came from.
    """

    key: str
    specs: np.ndarray
    acc: np.ndarray
    flops: np.ndarray
    params: np.ndarray
    encoding: np.ndarray
    choices: np.ndarray
    exhaustive: bool
    proxies: dict[str, np.ndarray] = field(default_factory=dict)
    score: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    embedding: np.ndarray | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        self._index: dict[tuple[int, ...], int] | None = None

    def __len__(self) -> int:
        return len(self.acc)

    @property
    def cost(self) -> np.ndarray:
        """The second objective as the hypervolume measures it: log10 FLOPs."""
        return np.log10(np.maximum(self.flops, 1.0))

    def index_of(self, code: tuple[int, ...]) -> int | None:
        """The architecture with this encoding, or None if it is not in the table."""
        if self._index is None:
            self._index = {tuple(int(v) for v in row): i for i, row in enumerate(self.encoding)}
        return self._index.get(tuple(int(v) for v in code))

    def top_threshold(self, fraction: float) -> float:
        """The accuracy of the ``ceil(fraction * N)``-th best architecture: reaching it is reaching
        the top ``fraction`` (at least the best one)."""
        k = max(1, int(np.ceil(fraction * len(self))))
        return float(np.sort(self.acc)[::-1][k - 1])

    def subset(self, rows: np.ndarray) -> SearchTable:
        """The table restricted to ``rows`` (a smaller space for tests)."""
        rows = np.asarray(rows)
        opt = lambda a: None if a is None else a[rows]  # noqa: E731
        return SearchTable(self.key, self.specs[rows], self.acc[rows], self.flops[rows], self.params[rows],
                           self.encoding[rows], self.choices, False,
                           {k: v[rows] for k, v in self.proxies.items()}, opt(self.score), opt(self.uncertainty),
                           opt(self.embedding), self.checkpoint)


def nb201_encoding(spec: str) -> tuple[int, ...]:
    """The six op indices of an NB-201 cell string (edges in the string's order)."""
    ops = _NB201_EDGE.findall(spec)
    if len(ops) != 6:
        raise ValueError(f"not an NB-201 cell: {spec!r}")
    return tuple(NB201_OPS.index(o) for o in ops)


def toy_table(n_choices: int = 4, n_slots: int = 4, seed: int = 0, with_predictor: bool = True) -> SearchTable:
    """A small synthetic space for tests: every combination of ``n_slots`` choices among
    ``n_choices`` values, an additive accuracy with noise, FLOPs growing with the choices, and
    a noisy 'zero-shot score' and embedding that carry information about the accuracy."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n_choices)] * n_slots, indexing="ij"), -1).reshape(-1, n_slots)
    effect = rng.normal(size=(n_slots, n_choices))
    acc = 70 + 3 * effect[np.arange(n_slots), grid].sum(1) + rng.normal(scale=1.0, size=len(grid))
    flops = 1e6 * (1 + grid.sum(1) + rng.uniform(0, 1, len(grid)))
    params = flops / 100
    onehot = np.eye(n_choices)[grid].reshape(len(grid), -1)
    score = acc + rng.normal(scale=3.0, size=len(grid)) if with_predictor else None
    table = SearchTable(f"toy{n_choices}x{n_slots}", np.array(["-".join(map(str, g)) for g in grid]), acc,
                        flops, params, grid, np.full(n_slots, n_choices), True,
                        {"flops": np.log(flops), "params": np.log(params), "noisy": acc + rng.normal(scale=4.0, size=len(grid))},
                        score, np.abs(rng.normal(size=len(grid))) if with_predictor else None,
                        onehot + rng.normal(scale=0.1, size=onehot.shape) if with_predictor else None,
                        "toy" if with_predictor else None)
    return table


# --- real tables ---------------------------------------------------------------------------------

def _cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    from gennape.model.dataset import DEFAULT_CACHE_DIR

    return Path(cache_dir) if cache_dir else Path(DEFAULT_CACHE_DIR) / "search"


def _file_id(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def _seed_graph_cache(family: str, task: str | None, cache: Path) -> None:
    """Start the search's graph cache from the corpus's (same records), so only the missing
    architectures are built; the corpus cache itself is never written."""
    from gennape.model.dataset import DEFAULT_CACHE_DIR
    from gennape.data.families import graph_variant

    name = f"graphs_{graph_variant(family, task)}.pt"
    src, dst = Path(DEFAULT_CACHE_DIR) / name, cache / name
    if src.is_file() and not dst.exists():
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def _encodings(family: str, table) -> tuple[np.ndarray, np.ndarray]:
    if family == "nb201":
        enc = np.array([nb201_encoding(s) for s in table["spec"]], dtype=np.int64)
        return enc, np.full(6, len(NB201_OPS))
    enc = np.array([ast.literal_eval(v) if isinstance(v, str) else tuple(v) for v in table["naslib"]], dtype=np.int64)
    return enc, enc.max(0) + 1


def load_table(key: str, checkpoint: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
               workers: int | None = None, progress: bool = False) -> SearchTable:
    """The search table of task ``key`` with the zero-shot scores of ``checkpoint`` (default: the
    shipped one; ``"none"``: no predictor), cached per task and checkpoint file.

    Proxies kept are those defined for every architecture of the table: FLOPs and params of the
    graphs, and on TransNAS the stored (NASLib-published) proxies of the pool. NB-201's stored
    proxies (``data/features``: 3,000 cells; the NASLib reference columns: 9,445 cells) cover only
    part of the space and are left out.
    """
    from gennape.data.loaders import resolve_task
    from gennape.inference.predict import DEFAULT_CHECKPOINT
    from gennape.model.corpus import parse_key, task_table

    family, task = parse_key(key)
    t = resolve_task(family, task)
    ckpt = None if str(checkpoint) == "none" else Path(checkpoint or DEFAULT_CHECKPOINT)
    cache = _cache_dir(cache_dir)
    tag = _file_id(ckpt) if ckpt else "none"
    path = cache / f"table_{t.name.replace('/', '_')}_{tag}.npz"
    if path.is_file():
        return _read(path)
    table = task_table(family, task, nb201_cells=None)
    enc, choices = _encodings(family, table)
    _seed_graph_cache(family, task, cache)
    from gennape.model.dataset import encode_specs

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(table), desc=f"graphs {t.name}", unit="graph")
    recs = encode_specs(family, table["spec"].tolist(), cache, workers,
                        progress=(lambda d, n: bar.update(d - bar.n)) if bar else None, task=task)
    if bar:
        bar.close()
    flops = np.array([r["flops"] for r in recs], float)
    params = np.array([r["params"] for r in recs], float)
    proxies = {"flops": flops, "params": params}
    for col in table.columns:  # the stored reference proxies (NASLib's), where they cover the table
        name = col[4:]
        if col.startswith("ref_") and name not in proxies:
            v = table[col].to_numpy(float)
            if np.isfinite(v).all() and np.ptp(v) > 0:
                proxies[name] = v
    out = SearchTable(t.name, table["spec"].to_numpy(str), table[t.target].to_numpy(float), flops, params,
                      enc, choices, family == "nb201", proxies)
    if ckpt:
        from gennape.search.predictor import score_records

        out.score, out.uncertainty, out.embedding = score_records(ckpt, recs)
        out.checkpoint = str(ckpt)
    _write(path, out)
    return out


def _write(path: Path, t: SearchTable) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"specs": t.specs, "acc": t.acc, "flops": t.flops, "params": t.params, "encoding": t.encoding,
              "choices": t.choices, "meta": np.array([CACHE_VERSION, int(t.exhaustive)])}
    arrays.update({f"proxy__{k}": v for k, v in t.proxies.items()})
    for k in ("score", "uncertainty", "embedding"):
        if getattr(t, k) is not None:
            arrays[k] = getattr(t, k)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, key=np.array(t.key), checkpoint=np.array(t.checkpoint or ""), **arrays)
    os.replace(tmp, path)


def _read(path: Path) -> SearchTable:
    z = np.load(path, allow_pickle=False)
    version, exhaustive = z["meta"]
    if version != CACHE_VERSION:
        raise RuntimeError(f"{path}: search table of another version; delete it to rebuild")
    get = lambda k: z[k] if k in z.files else None  # noqa: E731
    return SearchTable(str(z["key"]), z["specs"], z["acc"], z["flops"], z["params"], z["encoding"], z["choices"],
                       bool(exhaustive), {k[7:]: z[k] for k in z.files if k.startswith("proxy__")},
                       get("score"), get("uncertainty"), get("embedding"), str(z["checkpoint"]) or None)
