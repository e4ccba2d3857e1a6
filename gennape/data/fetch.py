"""Fetch the pinned upstream files (mirror copy or download), check sha256, derive the tables.

The output folder gets the mirror's layout: ``upstream/<owner>/<repo>/<commit>/<path>``, the
derived tables (``nb201/``, ``nb101/``, ``nb301/``) and ``cifar10/``. Every file is written to a
temporary name in the same folder and renamed into place, so an interrupted run never leaves a
corrupt file; a second run skips every file that is already there with the right sha256.
Derived tables are gzip-compressed without a timestamp and their sha256 is recorded in
``.gennape_fetch.json``, which is how a re-run knows they are intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from gennape.data.derive import derive_table, get_table, list_tables, load_pickle, to_csv_gz_bytes
from gennape.core.paths import DEFAULT_DATA_DIR, PROJECT_ROOT, mirror_root
from gennape.data.sources import (
    ZOO_SPLIT,
    CIFAR10_FILES,
    CIFAR10_TARBALL_MD5,
    CIFAR10_TARBALL_URL,
    UPSTREAM,
    UpstreamFile,
)

MANIFEST_NAME = ".gennape_fetch.json"
# Inputs of derived tables that the project itself holds (split files), by short name.
PROJECT_INPUTS: dict[str, Path] = {"zoo_split": PROJECT_ROOT / "data" / ZOO_SPLIT}
_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's digest differs from the pinned one."""


class DownloadError(OSError):
    """A download failed (typically: no network)."""


@dataclass(frozen=True)
class FetchEvent:
    """What happened to one output file: copied, downloaded, derived, built or skipped."""

    relpath: str
    action: str


def file_digest(path: str | os.PathLike, algo: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_digest(path: Path, expected: str, algo: str = "sha256", label: str | None = None) -> None:
    """Raise :class:`ChecksumError` naming ``label`` (or ``path``) when the digest differs.

    Args:
        path: file to check.
        expected: the pinned hex digest.
        algo: ``sha256`` or ``md5``.
        label: how to name the file in the error (e.g. its URL).
    """
    got = file_digest(path, algo)
    if got != expected:
        raise ChecksumError(
            f"{label or path}: {algo} mismatch (expected {expected}, got {got}); "
            "the file is corrupt or not the pinned version"
        )


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` if the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download(url: str, dest: Path, progress: bool = True) -> None:
    """Stream ``url`` into ``dest`` (not atomic by itself; callers pass a temporary path).

    Raises :class:`DownloadError` with the URL and a hint to use ``--mirror`` when offline.
    """
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name.strip("."),
                      disable=not progress, leave=False) as bar:  # fmt: skip
                while chunk := resp.read(_CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"cannot download {url}: {reason}. Offline? Pass --mirror DIR, a folder with the "
            "same relative layout (upstream/<owner>/<repo>/<commit>/<path>)."
        ) from e


def _read_manifest(out: Path) -> dict[str, dict]:
    path = out / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}  # a broken manifest only costs a re-derive


def _write_manifest(out: Path, manifest: dict[str, dict]) -> None:
    with atomic_path(out / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))


def fetch_upstream_file(
    src: UpstreamFile, out: Path, mirror: Path | None, progress: bool = True
) -> str:
    """Put one pinned upstream file at ``out/src.relpath``; return the action taken.

    Args:
        src: the manifest entry.
        out: output data folder.
        mirror: folder with ``upstream/...`` copies, or None to download.
        progress: show a byte progress bar while downloading.
    """
    dest = out / src.relpath
    if dest.is_file() and file_digest(dest) == src.sha256:
        return "skipped"
    local = mirror / src.relpath if mirror is not None else None
    with atomic_path(dest) as tmp:
        if local is not None and local.is_file():
            shutil.copyfile(local, tmp)
            check_digest(tmp, src.sha256, label=str(local))
            return "copied"
        download(src.url, tmp, progress=progress)
        check_digest(tmp, src.sha256, label=src.url)
    return "downloaded"


def derive_tables(out: Path, manifest: dict[str, dict]) -> Iterator[FetchEvent]:
    """Derive every registered table from ``out/upstream``; skip those recorded intact.

    Args:
        out: output folder already holding the upstream files.
        manifest: the fetch manifest; updated in place with each table's sha256.
    """
    paths = {name: out / src.relpath for name, src in UPSTREAM.items()}
    paths.update(PROJECT_INPUTS)
    for relpath in list_tables():
        inputs = {n: UPSTREAM[n].sha256 if n in UPSTREAM else file_digest(paths[n])
                  for n in get_table(relpath).inputs}
        dest = out / relpath
        rec = manifest.get(relpath)
        if (rec and rec.get("inputs") == inputs and dest.is_file()
                and file_digest(dest) == rec.get("sha256")):  # fmt: skip
            yield FetchEvent(relpath, "skipped")
            continue
        data = to_csv_gz_bytes(derive_table(relpath, paths))
        with atomic_path(dest) as tmp:
            tmp.write_bytes(data)
        manifest[relpath] = {"sha256": file_digest(dest), "inputs": inputs}
        yield FetchEvent(relpath, "derived")


def build_cifar10_arrays(
    batches: list[dict], per_class: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Take the first ``per_class`` images of each class (in file order), shuffle with ``seed``.

    Args:
        batches: CIFAR-10 python batches (dicts with ``data`` N×3072 uint8 and ``labels``).
        per_class: images kept per class.
        seed: ``numpy.random.default_rng`` seed of the permutation (the mirror's convention).
    """
    data = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
    labels = np.concatenate([np.asarray(b["labels"], dtype=np.int64) for b in batches])
    idx = []
    for c in range(10):
        hits = np.flatnonzero(labels == c)[:per_class]
        if len(hits) < per_class:
            raise ValueError(
                f"CIFAR-10 batches hold {len(hits)} images of class {c}, need {per_class}"
            )
        idx.append(hits)
    order = np.concatenate(idx)[np.random.default_rng(seed).permutation(10 * per_class)]
    x = data[order].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels[order].astype(np.uint8)


def _read_tar_batches(tar_path: Path, names: list[str]) -> list[dict]:
    batches = []
    with tarfile.open(tar_path, "r:gz") as tar:
        for name in names:
            member = tar.extractfile(f"cifar-10-batches-py/{name}")
            if member is None:
                raise ValueError(f"{tar_path}: no cifar-10-batches-py/{name}")
            raw = load_pickle(member, encoding="bytes")  # md5-pinned tarball, allow-list unpickler
            batches.append({"data": raw[b"data"], "labels": raw[b"labels"]})
    return batches


def build_cifar10_from_tarball(tar_path: Path, out: Path, per_class: int = 1000) -> list[Path]:
    """Write ``cifar10_{train,test}_10000.npz`` from the official python tarball.

    These arrays have the mirror's shapes, dtypes and class balance (``per_class`` per class,
    shuffled with ``default_rng(0)``) but are NOT byte-identical to the mirror's, which were decoded
    from a JPEG copy of CIFAR-10: pixel values differ by the JPEG loss and the images chosen differ.

    Args:
        tar_path: ``cifar-10-python.tar.gz`` (md5-checked by the caller).
        out: output data folder; files go to ``out/cifar10/``.
        per_class: images per class in each split (1,000 gives 10,000-image files).
    """
    written = []
    splits = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    for split, names in splits.items():
        x, y = build_cifar10_arrays(_read_tar_batches(tar_path, names), per_class)
        dest = out / CIFAR10_FILES[split].relpath
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path
                np.savez_compressed(f, x=x, y=y)
        written.append(dest)
    return written


def fetch_cifar10(
    out: Path, mirror: Path | None, manifest: dict[str, dict], progress: bool = True
) -> list[FetchEvent]:
    """Copy the pinned CIFAR-10 npz files from the mirror, or build them from the official tarball.

    Args:
        out: output data folder.
        mirror: mirror folder holding ``cifar10/``, or None.
        manifest: the fetch manifest; built files are recorded in it.
        progress: show a byte progress bar while downloading.
    """
    events, todo = [], []
    for split, mf in CIFAR10_FILES.items():
        dest = out / mf.relpath
        known = {mf.sha256, manifest.get(str(mf.relpath), {}).get("sha256")}
        if dest.is_file() and file_digest(dest) in known:
            events.append(FetchEvent(str(mf.relpath), "skipped"))
        else:
            todo.append((split, mf))
    if not todo:
        return events
    if mirror is not None and all((mirror / mf.relpath).is_file() for _, mf in todo):
        for _, mf in todo:
            with atomic_path(out / mf.relpath) as tmp:
                shutil.copyfile(mirror / mf.relpath, tmp)
                check_digest(tmp, mf.sha256, label=str(mirror / mf.relpath))
            events.append(FetchEvent(str(mf.relpath), "copied"))
        return events
    tar_path = out / "cifar10" / "cifar-10-python.tar.gz"
    if not (tar_path.is_file() and file_digest(tar_path, "md5") == CIFAR10_TARBALL_MD5):
        with atomic_path(tar_path) as tmp:
            download(CIFAR10_TARBALL_URL, tmp, progress=progress)
            check_digest(tmp, CIFAR10_TARBALL_MD5, algo="md5", label=CIFAR10_TARBALL_URL)
    for dest in build_cifar10_from_tarball(tar_path, out):
        rel = str(dest.relative_to(out).as_posix())
        source = f"{CIFAR10_TARBALL_URL} md5 {CIFAR10_TARBALL_MD5}"
        manifest[rel] = {"sha256": file_digest(dest), "source": source}
        events.append(FetchEvent(rel, "built"))
    return events


def fetch(
    out: str | os.PathLike | None = None,
    mirror: str | os.PathLike | None = None,
    use_mirror: bool = True,
    cifar10: bool = True,
    progress: bool = True,
) -> list[FetchEvent]:
    """Fetch upstream files, derive the tables and get CIFAR-10 into ``out``.

    Args:
        out: output data folder (default: the project's ``data/``).
        mirror: mirror folder (default: ``paths.mirror_root()``, the ``../shared/data`` copy).
        use_mirror: False forces downloads even when a mirror exists.
        cifar10: also fetch the CIFAR-10 arrays.
        progress: show tqdm progress bars.
    """
    out = Path(out) if out is not None else DEFAULT_DATA_DIR
    mirror_dir = (Path(mirror) if mirror is not None else mirror_root()) if use_mirror else None
    if mirror_dir is not None and not mirror_dir.is_dir():
        raise FileNotFoundError(f"mirror folder {mirror_dir} does not exist")
    if mirror_dir is not None and out.resolve() == mirror_dir.resolve():
        raise ValueError(f"--out {out} is the mirror itself; choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(out)
    before = json.dumps(manifest, sort_keys=True)
    events: list[FetchEvent] = []
    n_steps = len(UPSTREAM) + len(list_tables()) + (len(CIFAR10_FILES) if cifar10 else 0)
    with tqdm(total=n_steps, desc="gennape data", unit="file", disable=not progress) as bar:
        for src in UPSTREAM.values():
            bar.set_postfix_str(src.relpath.name)
            action = fetch_upstream_file(src, out, mirror_dir, progress)
            events.append(FetchEvent(str(src.relpath), action))
            bar.update()
        try:
            for ev in derive_tables(out, manifest):
                events.append(ev)
                bar.set_postfix_str(Path(ev.relpath).name)
                bar.update()
            if cifar10:
                cifar_events = fetch_cifar10(out, mirror_dir, manifest, progress)
                events += cifar_events
                bar.update(len(cifar_events))
        finally:  # keep what was done even if a later step fails; untouched when nothing changed
            if json.dumps(manifest, sort_keys=True) != before:
                _write_manifest(out, manifest)
    return events
