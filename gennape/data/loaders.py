"""Per-family benchmark records: ``spec`` + accuracy columns + ``ref_*`` reference columns.

Every family table has one row per architecture with

- ``spec``: the raw spec string its search space builds from (NB-201 arch string; NB-101 JSON
  ``{"adjacency": [[..]], "ops": [..]}``; DARTS genotype JSON ``{"normal": .., "reduce": ..}``),
- the accuracy columns in % (``TARGETS[name]`` is the default training target),
- the published reference values (params and flops in millions, zero-cost proxies), prefixed
  ``ref_``; NaN where the reference has no value for that architecture.

Data come from :func:`gennape.core.paths.data_root` (``root``, ``$GENNAPE_DATA``, the project's
``data/``, then the ``../shared/data`` mirror).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from gennape.core.paths import DEFAULT_DATA_DIR, data_root
from gennape.data.sources import CIFAR10_FILES
from gennape.data.tasks import Task, default_task, get_task, list_tasks

FETCH_HINT = "run `python -m gennape.data fetch` first"

TARGETS: dict[str, str] = {}
_LOADERS: dict[str, Callable[[Path], pd.DataFrame]] = {}


def register_family(name: str, target: str) -> Callable:
    """Decorator registering a loader ``fn(root) -> DataFrame`` and its default target column."""

    def deco(fn: Callable[[Path], pd.DataFrame]) -> Callable[[Path], pd.DataFrame]:
        if name in _LOADERS:
            raise ValueError(f"family {name!r} registered twice")
        _LOADERS[name] = fn
        TARGETS[name] = target
        return fn

    return deco


def list_families() -> list[str]:
    """Names of the benchmark families with a loader."""
    return list(_LOADERS)


def load_table(relpath: str, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read one derived table, e.g. ``nb201/nb201_hw_latency_cifar10.csv.gz``.

    Args:
        relpath: path relative to the data root.
        root: data folder; see :func:`gennape.core.paths.data_root`.
    """
    base = data_root(root)
    path = base / relpath
    if not path.is_file() and root is None and (DEFAULT_DATA_DIR / relpath).is_file():
        path = DEFAULT_DATA_DIR / relpath
    if not path.is_file():
        path = _derive_missing(base, relpath)
    return pd.read_csv(path)


def _derive_missing(base: Path, relpath: str) -> Path:
    """Derive a table the data folder lacks (a mirror made before the table existed) from the
    sha256-checked upstream files of ``base``, into the project's ``data/``; else FileNotFoundError."""
    from gennape.data.derive import derive_table, get_table, list_tables, to_csv_gz_bytes
    from gennape.data.fetch import PROJECT_INPUTS, atomic_path, check_digest
    from gennape.data.sources import UPSTREAM

    if relpath not in list_tables():
        raise FileNotFoundError(f"{base / relpath} not found; {FETCH_HINT}")
    paths = {}
    for name in get_table(relpath).inputs:
        if name in PROJECT_INPUTS:
            paths[name] = PROJECT_INPUTS[name]
            continue
        src = UPSTREAM[name]
        paths[name] = next((b / src.relpath for b in (base, DEFAULT_DATA_DIR) if (b / src.relpath).is_file()), None)
        if paths[name] is None:
            raise FileNotFoundError(f"{base / relpath} not found, nor its input {src.relpath}; {FETCH_HINT}")
        check_digest(paths[name], src.sha256)
    dest = DEFAULT_DATA_DIR / relpath
    with atomic_path(dest) as tmp:
        tmp.write_bytes(to_csv_gz_bytes(derive_table(relpath, paths)))
    return dest


def load_family(name: str, root: str | os.PathLike | None = None, task: str | None = None) -> pd.DataFrame:
    """One row per architecture of family ``name``: ``spec``, labels, ``ref_*`` columns.

    Args:
        name: one of :func:`list_families` (``nb201``, ``nb101``, ``nb301``, ``transnas_macro``,
            ``transnas_micro``, ``zoo``).
        root: data folder; see :func:`gennape.core.paths.data_root`.
        task: a task of the family (``cifar100`` or ``nb201/cifar100``; see
            :func:`gennape.data.tasks.list_tasks`): keep the rows labelled for it, and give its
            reference values as the ``ref_*`` columns. None: every row, the default task's
            references.
    """
    if name not in _LOADERS:
        raise KeyError(f"unknown family {name!r}; known: {', '.join(_LOADERS)}")
    df = _LOADERS[name](data_root(root))
    t = resolve_task(name, task)
    # Reference values of other tasks (``<dataset>.<proxy>`` columns, or the default task's ``ref_*``
    # when this task has its own or none) go; this task's become ``ref_<proxy>``.
    per_task = [c for c in df.columns if "." in c]
    if t.reference != "ref_":
        df = df.drop(columns=[c for c in df.columns if c.startswith("ref_")])
    own = {c: "ref_" + c.split(".", 1)[1] for c in per_task if t.reference and c.startswith(t.reference)}
    df = df.drop(columns=[c for c in per_task if c not in own]).rename(columns=own)
    if task is not None:
        df = df[df[t.target].notna()].reset_index(drop=True)
    return df


def resolve_task(family: str, task: str | None = None) -> Task:
    """The :class:`Task` ``task`` of ``family`` (its default task when None); errors list the known ones."""
    if task is None:
        return default_task(family)
    name = task if "/" in task else f"{family}/{task}"
    if not name.startswith(f"{family}/") or name not in list_tasks(family):
        raise KeyError(f"family {family!r} has no task {task!r}; known: {', '.join(list_tasks(family))}")
    return get_task(name)


def _read(root: Path, relpath: str) -> pd.DataFrame:
    return load_table(relpath, root)


def _prefix_ref(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return df.rename(columns={c: f"ref_{c}" for c in columns})


@register_family("nb201", target="cifar10_valid_200ep")
def _load_nb201(root: Path) -> pd.DataFrame:
    """15,625 NB-201 cells; CIFAR-10 zero-cost references joined by arch (9,445 unique cells), and the
    ImageNet16-120 ones (``imagenet16.<proxy>``; its rows follow the CIFAR-10 table's)."""
    acc = _read(root, "nb201/nb201_accuracies.csv.gz").rename(columns={"arch": "spec"})
    ref = _read(root, "nb201/nb201_zc_reference_cifar10.csv.gz").rename(columns={"arch": "spec"})
    im16 = _read(root, "nb201/nb201_zc_reference_imagenet16.csv.gz")
    if len(im16) != len(ref):
        raise ValueError(f"{root}/nb201: the ImageNet16 reference has {len(im16)} rows, CIFAR-10's {len(ref)}")
    ref = pd.concat([_prefix_ref(ref, [c for c in ref.columns if c != "spec"]),
                     im16.add_prefix("imagenet16.")], axis=1)
    if not ref["spec"].is_unique:
        raise ValueError(f"{root}/nb201/nb201_zc_reference_cifar10.csv.gz: duplicate arch strings")
    out = acc.merge(ref, on="spec", how="left", validate="one_to_one")
    return out[["spec", *[c for c in out.columns if c != "spec"]]]


@register_family("nb101", target="val_accuracy")
def _load_nb101(root: Path) -> pd.DataFrame:
    """500 NB-101 cells from NASLib with their zero-cost references."""
    df = _read(root, "nb101/nb101_500.csv.gz")
    spec = [
        json.dumps({"adjacency": json.loads(a), "ops": json.loads(o)})
        for a, o in zip(df["adjacency"], df["ops"], strict=True)
    ]
    rest = df.drop(columns=["adjacency", "ops"])
    rest = _prefix_ref(rest, [c for c in rest.columns if c != "val_accuracy"])
    return pd.concat([pd.DataFrame({"spec": spec}), rest], axis=1)


@register_family("nb301", target="val_accuracy_surrogate")
def _load_nb301(root: Path) -> pd.DataFrame:
    """725 DARTS cells from NASLib: NB-301 surrogate accuracy (weak labels) and references."""
    df = _read(root, "nb301/nb301_725.csv.gz").rename(columns={"genotype": "spec"})
    return _prefix_ref(df, [c for c in df.columns if c not in ("spec", "val_accuracy_surrogate")])


def _load_transnas(root: Path, space: str) -> pd.DataFrame:
    return _read(root, f"transnas/transnas_{space}.csv.gz").rename(columns={"arch": "spec"})


@register_family("transnas_macro", target="class_object")
def _load_transnas_macro(root: Path) -> pd.DataFrame:
    """725 TransNAS-Bench-101 macro skeletons; 662 labelled on the classification tasks."""
    return _load_transnas(root, "macro")


@register_family("transnas_micro", target="class_object")
def _load_transnas_micro(root: Path) -> pd.DataFrame:
    """711 TransNAS-Bench-101 micro cells, labelled on every task."""
    return _load_transnas(root, "micro")


@register_family("zoo", target="top1")
def _load_zoo(root: Path) -> pd.DataFrame:
    """556 timm architectures trained on ImageNet-1k: median top-1 over their recipes."""
    df = _read(root, "zoo/zoo_in1k.csv.gz").rename(columns={"arch": "spec", "param_count_m": "ref_params"})
    return df


def load_cifar10(
    split: str, root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 images ``x`` (uint8 N×32×32×3, HWC) and labels ``y`` (uint8 N).

    Args:
        split: ``"train"`` or ``"test"`` (10,000 images each, 1,000 per class).
        root: data folder; see :func:`gennape.core.paths.data_root`.
    """
    if split not in CIFAR10_FILES:
        raise ValueError(f"unknown CIFAR-10 split {split!r}; use one of {', '.join(CIFAR10_FILES)}")
    path = data_root(root) / CIFAR10_FILES[split].relpath
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {FETCH_HINT}")
    with np.load(path) as z:
        x, y = z["x"], z["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or y.shape != (len(x),):
        raise ValueError(f"{path}: expected x uint8 N×32×32×3, y (N,); got {x.shape}, {y.shape}")
    return x, y.astype(np.uint8)
