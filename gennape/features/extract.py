"""Featurise a whole family (or a folder of ONNX files) into its :class:`FeatureStore`, resumably.

:func:`extract` runs in two phases, both through an executor (see ``gennape.features.executors``):

1. *index*: architectures not yet in the store are traced in chunks, giving each key its graph
   hash (or why it has none, e.g. a corrupt ONNX file). Rows are written per chunk.
2. *features*: for every distinct hash lacking a requested feature, one task computes the missing
   features on ``to_torch(cg)``; the parent writes each architecture's results in one transaction
   as they arrive. A task over ``timeout_s`` is killed and its features recorded as missing,
   reason ``timeout``.

Whatever was written survives a ``kill -9``; rerunning the same command does only what is left.
``retry=true`` also redoes what was recorded as failed (index errors, timeouts, missing values).
"""

from __future__ import annotations

import importlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from gennape.features.catalog import RESOLUTIONS, default_features, get_feature, make_inputs
from gennape.features.executors import Executor, get_executor
from gennape.features.proxies import ProxyResult
from gennape.features.store import FeatureStore, default_path
from gennape.features.tasks import Arch, FeatureTask, index_archs, run_task

# Imported by every worker before its first task, so that a task's time bound does not count them.
WORKER_IMPORTS: list[str] = ["gennape.features.tasks", "gennape.spaces", "gennape.graph"]


@dataclass
class ExtractConfig:
    """Settings of one featurisation run (the CLI's ``key=value`` overrides).

    Args:
        family: benchmark family (``nb201``, ``nb101``, ``nb301``, ``transnas_macro``,
            ``transnas_micro``); with ``task``, names the store (``gennape.data.families.graph_variant``).
        task: the family's task whose networks are featurised (resolution and classes), e.g.
            ``imagenet16``; default: the family's default task.
        onnx: a folder whose ``*.onnx`` files (recursively) are featurised instead of a family.
        features: feature names (default: all proxies, flops, params; NNGP only when asked).
        proxies: the same as ``features`` (the issue's spelling); give one or the other.
        executor: ``local`` (process pool, default) or ``ray``.
        workers: parallel workers (default: CPU count, or the Ray cluster's CPUs).
        address: Ray cluster address (``executor=ray``); None starts a local Ray.
        timeout_s: time bound of one architecture (and of one index chunk).
        limit: featurise a reproducible subset of this many architectures, stratified by deciles
            of the family's default-task accuracy, the same cells for every task (a seeded random
            subset for ONNX folders).
        seed: model-initialisation and image seed; also draws the ``limit`` subset.
        batch_size: images in the proxy minibatch.
        image_size: side length of the proxy and NNGP images (default: the task's resolution; a
            smaller one makes large networks affordable, and is recorded in the store's settings).
        resolution: ``batch`` (every network at ``image_size``), ``own`` (each at its own
            resolution) or ``prefer`` (at ``image_size`` where the network runs at it, else its
            own); default ``prefer`` for the zoo and ONNX folders, ``batch`` for fixed-resolution
            families. Recorded in the store's settings.
        max_gflops: networks costing more GFLOPs per image at that side length get no image-based
            features (missing, with that reason). Recorded in the store's settings when set.
        nngp_images: NNGP training and held-out images (each).
        nngp_draws: NNGP random initialisations.
        store: the SQLite file (default ``data/features/<family>.sqlite``).
        retry: recompute what was recorded as failed.
        imports: modules imported in the parent and every worker first (extra features).
        index_chunk: architectures traced per index task.
        progress: show progress bars.
    """

    family: str | None = None
    task: str | None = None
    onnx: str | None = None
    features: list[str] | None = None
    proxies: list[str] | None = None
    executor: str = "local"
    workers: int | None = None
    address: str | None = None
    timeout_s: float = 600.0
    limit: int | None = None
    seed: int = 0
    batch_size: int = 64
    image_size: int | None = None
    resolution: str | None = None
    max_gflops: float | None = None
    nngp_images: int = 128
    nngp_draws: int = 2
    store: str | None = None
    retry: bool = False
    imports: list[str] = field(default_factory=list)
    index_chunk: int = 32
    progress: bool = True


@dataclass
class Summary:
    """What a run did and what the store holds for the architectures it was asked about.

    Args:
        store: the store's path.
        archs: architectures selected.
        graphs: distinct graph hashes among them.
        index_errors: ``key -> error`` of architectures whose graph could not be built.
        computed: architectures (hashes) computed in this run.
        rows: feature rows the store holds for the selected graphs and features.
        missing: per feature, ``reason -> count`` of missing values among the selected graphs.
        seconds_per_arch: mean feature time of one architecture in this run (worker time).
        wall_s: wall-clock time of the run.
    """

    store: Path
    archs: int
    graphs: int
    index_errors: dict[str, str]
    computed: int
    rows: int
    missing: dict[str, dict[str, int]]
    seconds_per_arch: float
    wall_s: float

    def __str__(self) -> str:
        lines = [f"store {self.store}: {self.archs} architectures, {self.graphs} distinct graphs, "
                 f"{self.rows} feature rows; {self.computed} computed now "
                 f"({self.seconds_per_arch:.2f} s/arch of worker time, {self.wall_s:.1f} s wall)"]
        if self.index_errors:
            lines.append(f"{len(self.index_errors)} architectures without a graph:")
            lines += [f"  {k}: {e}" for k, e in list(self.index_errors.items())[:10]]
        for feat, reasons in self.missing.items():
            if reasons:
                top = ", ".join(f"{r} x{n}" for r, n in Counter(reasons).most_common(3))
                lines.append(f"missing {feat}: {sum(reasons.values())} ({top})")
        return "\n".join(lines)


def feature_names(cfg: ExtractConfig) -> list[str]:
    """The features a config asks for, validated (unknown names fail before any work)."""
    if cfg.features is not None and cfg.proxies is not None:
        raise ValueError("give features=[...] or proxies=[...], not both")
    names = cfg.features if cfg.features is not None else cfg.proxies
    names = list(dict.fromkeys(names)) if names is not None else default_features()
    for n in names:
        get_feature(n)
    if not names:
        raise ValueError("no features asked for")
    return names


def stratified_subset(values: np.ndarray, n: int, strata: int = 10, seed: int = 0) -> np.ndarray:
    """Sorted positions of ``n`` of ``values``, drawn evenly from their ``strata`` quantile bins.

    Each bin (NaN values form one more) gets its proportional share, remainders going to the
    largest fractions; within a bin the draw is seeded, so the subset is reproducible.
    """
    total = len(values)
    if n >= total:
        return np.arange(total)
    ranks = pd.Series(values).rank(method="first")
    labels = pd.qcut(ranks, min(strata, int(ranks.count()) or 1), labels=False).fillna(-1).to_numpy(int)
    groups = [np.flatnonzero(labels == g) for g in np.unique(labels)]
    share = np.array([len(g) * n / total for g in groups])
    quota = np.floor(share).astype(int)
    for i in np.argsort(-(share - quota), kind="stable")[: n - quota.sum()]:
        quota[i] += 1
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(g, q, replace=False) for g, q in zip(groups, quota)]))


def select_archs(cfg: ExtractConfig) -> tuple[str, list[Arch]]:
    """The store name and the architectures a config selects (``onnx`` folder or ``family``)."""
    if cfg.onnx is not None:
        folder = Path(cfg.onnx).resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"onnx={cfg.onnx}: not a folder")
        files = sorted(folder.rglob("*.onnx"))
        if not files:
            raise FileNotFoundError(f"onnx={cfg.onnx}: no .onnx files in it")
        if cfg.limit is not None and cfg.limit < len(files):
            pick = np.random.default_rng(cfg.seed).choice(len(files), cfg.limit, replace=False)
            files = [files[i] for i in sorted(pick)]
        archs = [Arch(f.relative_to(folder).as_posix(), "onnx", str(f)) for f in files]
        return cfg.family or f"onnx_{folder.name}", archs
    if cfg.family is None:
        raise ValueError("say what to featurise: family=nb201 (or nb101, nb301), or onnx=path/to/folder")
    from gennape.data.loaders import load_family, resolve_task
    from gennape.data.families import FAMILY_SPACES, graph_variant  # the family -> search space map

    if cfg.family not in FAMILY_SPACES:
        raise KeyError(f"no search space known for family {cfg.family!r}; known: {sorted(FAMILY_SPACES)}")
    task = resolve_task(cfg.family, cfg.task)
    table = load_family(cfg.family).drop_duplicates("spec").reset_index(drop=True)
    if cfg.limit is not None:  # strata of the default task's label: every task gets the same cells
        rows = stratified_subset(table[resolve_task(cfg.family).target].to_numpy(float), cfg.limit, seed=cfg.seed)
        table = table.iloc[rows]
    table = table[table[task.target].notna()]
    space = FAMILY_SPACES[cfg.family]
    archs = [Arch(s, "spec", s, space, task.input_shape, task.num_classes) for s in table["spec"]]
    return graph_variant(cfg.family, cfg.task), archs


def resolution_of(cfg: ExtractConfig) -> str:
    """The resolution mode (``gennape.features.catalog.RESOLUTIONS``): ``cfg.resolution``, else
    ``prefer`` for ONNX folders and families whose task fixes none (the zoo), else ``batch``."""
    if cfg.resolution is not None:
        if cfg.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution={cfg.resolution!r}; use one of {list(RESOLUTIONS)}")
        return cfg.resolution
    if cfg.onnx is not None or cfg.family is None:
        return "prefer"
    from gennape.data.loaders import resolve_task

    return "prefer" if resolve_task(cfg.family, cfg.task).input_shape is None else "batch"


def resolution_setting(image_size: int, resolution: str) -> int | str:
    """How a store's settings name the images' side length."""
    return {"batch": image_size, "own": "each network's own",
            "prefer": f"{image_size} where the network runs at it, else its own"}[resolution]


def image_size_of(cfg: ExtractConfig) -> int:
    """Side length of the proxy images: ``image_size``, else the task's resolution, else 32."""
    if cfg.image_size is not None:
        return int(cfg.image_size)
    if cfg.family is not None and cfg.onnx is None:
        from gennape.data.loaders import resolve_task

        shape = resolve_task(cfg.family, cfg.task).input_shape
        if shape is not None:
            return int(shape[-1])
    return 32


def _chunks(items: Sequence[Arch], size: int) -> list[list[Arch]]:
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


def _index(store: FeatureStore, archs: Sequence[Arch], executor: Callable[[], Executor], cfg: ExtractConfig) -> None:
    if cfg.retry:
        store.forget_arch_errors([a.key for a in archs])
    known = store.archs([a.key for a in archs])
    todo = [a for a in archs if a.key not in known]
    if not todo:
        return
    with tqdm(total=len(todo), desc="index", unit="arch", disable=not cfg.progress) as bar:
        for chunk, out in executor().map(index_archs, _chunks(todo, cfg.index_chunk), cfg.timeout_s):
            store.put_archs(out.value if out.ok else [(a.key, None, out.error) for a in chunk])
            bar.update(len(chunk))


def _tasks(store: FeatureStore, archs: Sequence[Arch], names: Sequence[str], retry: bool) -> list[FeatureTask]:
    known = store.archs([a.key for a in archs])
    first: dict[str, Arch] = {}
    for a in archs:
        h = known[a.key][0]
        if h is not None:
            first.setdefault(h, a)
    missing = store.missing(list(first), names, retry=retry)
    return [FeatureTask(first[h], h, tuple(fs)) for h, fs in missing.items()]


def _start_executor(cfg: ExtractConfig, names: Sequence[str]) -> Executor:
    inputs = make_inputs(names, cfg.seed, cfg.batch_size, cfg.nngp_images, cfg.nngp_draws, image_size_of(cfg),
                         resolution_of(cfg), cfg.max_gflops)
    return get_executor(cfg.executor)(workers=cfg.workers, shared=inputs, address=cfg.address,
                                      imports=[*WORKER_IMPORTS, *cfg.imports])


def extract(cfg: ExtractConfig) -> Summary:
    """Compute the asked features of every selected architecture into the store; see the module doc."""
    start = time.perf_counter()
    for module in cfg.imports:
        importlib.import_module(module)
    names = feature_names(cfg)
    get_executor(cfg.executor)  # fail on a typo before any work
    store_name, archs = select_archs(cfg)
    path = Path(cfg.store) if cfg.store else default_path(store_name)
    settings = {"seed": cfg.seed, "batch_size": cfg.batch_size, "nngp_images": cfg.nngp_images,
                "nngp_draws": cfg.nngp_draws}
    if image_size_of(cfg) != 32 or resolution_of(cfg) != "batch":  # stores made before images were resized: 32
        settings["image_size"] = resolution_setting(image_size_of(cfg), resolution_of(cfg))
    if cfg.max_gflops is not None:
        settings["max_gflops"] = cfg.max_gflops
    seconds: list[float] = []
    with FeatureStore(path) as store, ExitStack() as stack:
        store.check_settings(settings)
        started: list[Executor] = []

        def executor() -> Executor:  # started on first use: a run with nothing left starts no workers
            if not started:
                started.append(stack.enter_context(_start_executor(cfg, names)))
            return started[0]

        _index(store, archs, executor, cfg)
        tasks = _tasks(store, archs, names, cfg.retry)
        if tasks:
            with tqdm(total=len(tasks), desc="features", unit="arch", disable=not cfg.progress) as bar:
                for task, out in executor().map(run_task, tasks, cfg.timeout_s):
                    results = out.value if out.ok else {
                        f: ProxyResult(None, out.error, cfg.timeout_s if out.error == "timeout" else 0.0)
                        for f in task.features}
                    store.put(task.hash, results)  # all features of the architecture, one transaction
                    seconds.append(sum(r.seconds for r in results.values()))
                    bar.update()
        return _summarise(store, archs, names, len(tasks), seconds, time.perf_counter() - start)


def _summarise(store: FeatureStore, archs: Iterable[Arch], names: Sequence[str], computed: int,
               seconds: Sequence[float], wall: float) -> Summary:
    archs = list(archs)
    known = store.archs([a.key for a in archs])
    hashes = {h for h, _ in known.values() if h is not None}
    errors = {k: e for k, (h, e) in known.items() if h is None}
    rows = store.rows(names)
    rows = rows[rows["hash"].isin(hashes)]
    missing = {n: rows.loc[(rows["feature"] == n) & rows["value"].isna(), "reason"].value_counts().to_dict()
               for n in names}
    return Summary(store.path, len(archs), len(hashes), errors, computed, len(rows), missing,
                   float(np.mean(seconds)) if seconds else 0.0, wall)

