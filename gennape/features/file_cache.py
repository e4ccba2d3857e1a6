"""A per-user cache of the features of single networks (``predict.py``), keyed by graph hash.

Proxies and NNGP run the network (about a second for a ResNet-50 at 32 px); a file ranked again,
or adapted to labels after being ranked, reads them back instead. One SQLite file, by default
``~/.cache/gennape/features-<settings digest>.sqlite`` (``GENNAPE_CACHE_DIR`` moves it; an empty
value turns the cache off), so values computed with other settings are never mixed in. Plain
sqlite3: a warm run imports neither torch nor pandas. A cache that cannot be opened or written is
skipped, never an error.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

Value = float | None  # None: missing (the reason is kept beside it)


def cache_path(settings: Mapping[str, Any]) -> Path | None:
    """The cache file for these feature settings, or None when ``GENNAPE_CACHE_DIR`` is empty."""
    root = os.environ.get("GENNAPE_CACHE_DIR")
    if root == "":
        return None
    base = Path(root) if root else Path.home() / ".cache" / "gennape"
    digest = hashlib.sha256(json.dumps(dict(settings), sort_keys=True).encode()).hexdigest()[:12]
    return base / f"features-{digest}.sqlite"


class FileCache:
    """``hash -> feature -> value or missing-with-reason``; a no-op when ``path`` is None or unusable."""

    def __init__(self, path: Path | None) -> None:
        self._db: sqlite3.Connection | None = None
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=10)
            self._db.execute("CREATE TABLE IF NOT EXISTS features(hash TEXT, feature TEXT, value REAL, "
                             "reason TEXT, PRIMARY KEY (hash, feature)) WITHOUT ROWID")
        except (OSError, sqlite3.Error):
            self._db = None

    def get(self, hashes: Sequence[str], names: Sequence[str]) -> dict[str, list[Value]]:
        """The hashes that have every one of ``names``, with their values in that order."""
        if self._db is None or not hashes or not names:
            return {}
        found: dict[tuple[str, str], Value] = {}
        try:
            for i in range(0, len(hashes), 400):
                part = list(hashes[i : i + 400])
                q = (f"SELECT hash, feature, value FROM features WHERE hash IN ({','.join('?' * len(part))}) "
                     f"AND feature IN ({','.join('?' * len(names))})")
                found.update({(h, f): v for h, f, v in self._db.execute(q, [*part, *names])})
        except sqlite3.Error:
            return {}
        return {h: [found[(h, n)] for n in names] for h in hashes if all((h, n) in found for n in names)}

    def put(self, hash: str, values: Mapping[str, tuple[Value, str | None]]) -> None:
        """Store ``feature -> (value, reason)`` of one network (a non-finite value as missing)."""
        if self._db is None:
            return
        rows = [(hash, f, v if v is not None and math.isfinite(v) else None,
                 None if v is not None and math.isfinite(v) else (r or "missing")) for f, (v, r) in values.items()]
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def as_rows(values: Iterable[Value]) -> list[float]:
    """Values with None as NaN (the heads' missing)."""
    return [math.nan if v is None else float(v) for v in values]
