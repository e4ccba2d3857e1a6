"""The predictor checkpoint file, read and written with numpy only (prediction never imports torch).

A checkpoint is a numpy ``.npz`` archive (a zip of ``.npy`` arrays, read with
``allow_pickle=False``, so it can hold no Python object): one array per entry of the network's
state dict (weights, node-feature normalisation, frozen FCM centroids, target transform and
auxiliary-feature statistics), and a ``__header__`` array holding one JSON document: the format,
the gennape version, the op vocabulary and node-feature names it was trained with, the
``build_net`` arguments, its auxiliary features and their scaling, what its outputs are
(``labels``) and free-form metadata. ``gennape.model.checkpoint`` builds the torch network from
it; ``gennape.runtime.net`` predicts from it with numpy.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickletools
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from gennape.graph.encoding import FEATURE_NAMES
from gennape.graph.errors import first_line
from gennape.graph.ops import list_ops
from gennape.runtime.vocab import remap_rows

FORMAT = "gennape-predictor"
FORMAT_VERSION = 2
HEADER = "__header__"
OP_EMBED = "encoder.op_embed.weight"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = str(path), problem


def write_checkpoint_file(path: str | os.PathLike, header: Mapping[str, Any],
                          arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``header`` (plain JSON data; ``format`` and ``format_version`` are added) and the
    named ``arrays`` to ``path`` atomically: the file is complete or absent, never half-written.

    The folder must exist (it is never created). The data goes to a temporary file in that folder
    first, then is renamed over ``path``. On Linux it is an unnamed file (``O_TMPFILE``): nothing
    is visible under any name until it is complete, so a failure, a Ctrl-C or even a kill -9 while
    it is written leaves nothing behind. Where the system offers no unnamed files it is
    ``.NAME.PID.tmp``, removed on any failure and on Ctrl-C; a kill -9 cannot run any clean-up,
    so the temporary files of processes that no longer run are removed by the next write to that
    folder (:func:`remove_stale_temps`). Either way, a kill -9 in the instant between naming the
    finished file and renaming it over ``path`` can leave one, removed the same way.
    """
    if HEADER in arrays:
        raise ValueError(f"{HEADER!r} is reserved for the header")
    text = json.dumps({**header, "format": FORMAT, "format_version": FORMAT_VERSION}, default=_plain)
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder" if not folder.exists() else "not a folder",
                                str(folder))
    remove_stale_temps(folder)
    tmp = _temp_name(path, os.getpid())
    try:
        with _open_temp(folder, tmp) as (f, name_it):
            np.savez(f, **{HEADER: np.array(text)}, **{k: np.asarray(v) for k, v in arrays.items()})
            f.flush()
            os.fsync(f.fileno())
            name_it()
        os.replace(tmp, path)
    except BaseException:  # any failure and Ctrl-C: the temporary file goes
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


@contextlib.contextmanager
def _open_temp(folder: Path, tmp: Path) -> Iterator[tuple[BinaryIO, Callable[[], None]]]:
    """A binary file to write in ``folder`` and a function that makes it ``tmp`` once complete:
    an unnamed file (Linux's ``O_TMPFILE``) linked in by name only then, where the system and the
    file system allow it; else ``tmp`` itself from the start (and the function does nothing)."""
    fd = _unnamed_file(folder)
    if fd is None:
        with open(tmp, "xb") as f:
            yield f, lambda: None
        return
    with os.fdopen(fd, "wb") as f:

        def name_it() -> None:
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:  # linkat(AT_SYMLINK_FOLLOW): os.link uses plain link() without a dir fd
                os.link(f"/proc/self/fd/{f.fileno()}", tmp.name, dst_dir_fd=dir_fd, follow_symlinks=True)
            except OSError:  # the file system refuses: copy it to a named file
                with open(f"/proc/self/fd/{f.fileno()}", "rb") as src, open(tmp, "xb") as dst:
                    shutil.copyfileobj(src, dst)
                    dst.flush()
                    os.fsync(dst.fileno())
            finally:
                os.close(dir_fd)

        yield f, name_it


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


def _temp_name(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}.{pid}.tmp")


def _unnamed_file(folder: Path) -> int | None:
    """A file descriptor of an unnamed file in ``folder`` that can be linked in later (Linux's
    ``O_TMPFILE``), or None where the system or the file system has none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o644)
    except OSError:
        return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or no such number): leave its file alone
    return True


def _our_temp(path: Path) -> bool:
    """Whether a file is one of ours: empty (killed before writing) or an archive whose first
    entry is the header, as :func:`write_checkpoint_file` writes it."""
    try:
        with open(path, "rb") as f:
            start = f.read(128)
    except OSError:
        return False
    return not start or (start.startswith(b"PK") and f"{HEADER}.npy".encode() in start)


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary checkpoint files (``.NAME.PID.tmp``, empty or holding a checkpoint's
    start) in ``folder`` left by processes that no longer run (killed with kill -9 while writing);
    returns them. Files of running processes, and any other file, are left alone."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMP.match(p.name)
        if m is None or _running(int(m["pid"])) or not _our_temp(p):
            continue
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


def _plain(value: Any) -> Any:
    """numpy scalars and arrays in the header as JSON numbers and lists; anything else is refused."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"a checkpoint header holds plain data only, not {type(value).__name__}")


_MEMO_OPS = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}


def file_kind(path: str | os.PathLike) -> str:
    """What a file is, looked at without loading anything: ``"npz"`` (a numpy archive: today's
    format, if it holds a gennape header), ``"v1"`` (a version-1 gennape checkpoint, a
    ``torch.save`` zip), ``"torch"`` (a ``torch.save`` zip of something else) or ``"other"``.
    The pickle of a torch file is only scanned for its strings and numbers (``pickletools``),
    never run."""
    try:
        with zipfile.ZipFile(path) as z:
            pickles = [i for i in z.infolist() if i.filename.endswith("data.pkl")]
            if not pickles:
                return "npz"
            if pickles[0].file_size > 64 << 20:
                return "torch"
            data = z.read(pickles[0])
    except (zipfile.BadZipFile, OSError, ValueError):
        return "other"
    try:
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data) if op.name not in _MEMO_OPS]
    except Exception:  # noqa: BLE001 - a pickle pickletools cannot parse is no gennape file
        return "torch"
    strings = {arg for _, arg in ops if isinstance(arg, str)}
    if FORMAT not in strings or "state_dict" not in strings:
        return "torch"
    version = next((ops[i + 1][1] for i, (_, arg) in enumerate(ops[:-1]) if arg == "format_version"), None)
    return "v1" if version == 1 else "torch"


NOT_OURS = "not a gennape checkpoint"


def check_file(path: Path) -> None:
    """A CheckpointError unless ``path`` is a file."""
    if path.is_dir():
        raise CheckpointError(path, "a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(path, "no such file")


def read_checkpoint_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a checkpoint, with the op embedding re-indexed to this version's op
    vocabulary (:func:`gennape.runtime.vocab.remap_rows`); errors name the file and the problem."""
    path = Path(path)
    check_file(path)
    kind = file_kind(path)
    if kind == "v1":
        raise CheckpointError(path, "a gennape checkpoint of the older torch format (version 1); convert it with "
                                    f"`python -m gennape.model.checkpoint upgrade {path}`")
    if kind != "npz":
        raise CheckpointError(path, NOT_OURS + (" (a torch file of something else)" if kind == "torch" else ""))
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise CheckpointError(path, f"not a readable gennape checkpoint ({first_line(e)})") from None
        # numpy's message suggests allow_pickle=True: running code from a file, which gennape never does
        raise CheckpointError(path, "not a readable gennape checkpoint: it holds pickled Python objects, which "
                                    "gennape never loads") from None
    except Exception as e:  # noqa: BLE001 - any other reason numpy gives is reported as one line
        raise CheckpointError(path, f"not a readable gennape checkpoint ({first_line(e)})") from None
    try:
        header = json.loads(str(arrays.pop(HEADER)))
    except (KeyError, ValueError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(path, f"{NOT_OURS} (a numpy archive without gennape's header)")
    if header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(path, f"checkpoint format version {header.get('format_version')} is not "
                                    f"{FORMAT_VERSION}, which this gennape reads")
    if header.get("node_features") != list(FEATURE_NAMES):
        raise CheckpointError(path, "it was trained with other node features "
                                    f"({header.get('node_features')}); retrain it with this gennape")
    if OP_EMBED not in arrays:
        raise CheckpointError(path, f"its weights do not fit the network it describes (no {OP_EMBED})")
    try:
        arrays[OP_EMBED] = remap_rows(arrays[OP_EMBED], header.get("vocab", []), list_ops())
    except KeyError as e:
        raise CheckpointError(path, f"its weights do not fit the network it describes ({first_line(e)})") from None
    return header, arrays
