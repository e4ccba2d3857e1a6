"""The predictor checkpoint file, read and written with numpy only (prediction never imports torch).

A checkpoint is a numpy ``.npz`` archive (a zip of ``.npy`` arrays, read with
``allow_pickle=False``, so it can hold no Python object): one array per entry of the network's
state dict (weights, node-feature normalisation, frozen FCM centroids, target transform and
auxiliary-feature statistics), and a ``__header__`` array holding one JSON document: the format,
the gennape version, the op vocabulary and node-feature names it was trained with, the
``build_net`` arguments, its auxiliary features and their scaling, what its outputs are
(``labels``) and free-form metadata. ``gennape.model.checkpoint`` builds the torch network from
it; ``gennape.model.runtime`` predicts from it with numpy.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gennape.graph.encoding import FEATURE_NAMES
from gennape.graph.errors import first_line
from gennape.graph.ops import list_ops
from gennape.model.vocab import remap_rows

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
    named ``arrays`` to ``path`` atomically."""
    if HEADER in arrays:
        raise ValueError(f"{HEADER!r} is reserved for the header")
    text = json.dumps({**header, "format": FORMAT, "format_version": FORMAT_VERSION}, default=_plain)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **{HEADER: np.array(text)}, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)
    return path


def _plain(value: Any) -> Any:
    """numpy scalars and arrays in the header as JSON numbers and lists; anything else is refused."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"a checkpoint header holds plain data only, not {type(value).__name__}")


def _is_torch_file(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("data.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_checkpoint_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a checkpoint, with the op embedding re-indexed to this version's op
    vocabulary (:func:`gennape.model.vocab.remap_rows`); errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    if _is_torch_file(path):
        raise CheckpointError(path, "a checkpoint of the older torch format (version 1); convert it with "
                                    f"`python -m gennape.model.checkpoint upgrade {path}`")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - any reason numpy gives is reported as one line
        raise CheckpointError(path, f"not a readable gennape checkpoint ({first_line(e)})") from None
    try:
        header = json.loads(str(arrays.pop(HEADER)))
    except (KeyError, ValueError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(path, f"not a gennape predictor checkpoint (expected format {FORMAT!r})")
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
