"""FeatureStore: one SQLite file per family caching features by graph hash.

Two tables, in long format so a new feature is new rows, never a new schema:

- ``archs(key, hash, error)``: an architecture's key (spec string, ONNX file name) and its graph
  hash, or why no graph could be built. Many keys share one hash (isomorphic cells); features
  are computed once per hash.
- ``features(hash, feature, value, reason, seconds)``: one row per (hash, feature). ``value`` is a
  finite number, or NULL with ``reason`` saying why it is missing (a CHECK constraint enforces
  exactly one of the two; NaN and infinities never reach the table).

Only one process writes (the parent of the workers). Every write is one transaction: all features
of one architecture together, so a ``kill -9`` at any moment leaves all of an architecture or
none of it. WAL mode lets readers (a progress monitor, a notebook) read while a run writes.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gennape.core.paths import PROJECT_ROOT
from gennape.features.proxies.registry import ProxyResult

DEFAULT_DIR = PROJECT_ROOT / "data" / "features"

# WITHOUT ROWID: rows live in their primary-key b-tree, so keys and hashes are stored once (the
# shipped NB-201 table, 15,625 keys, takes 2.9 MB instead of 6.2 MB with rowid tables and key indexes).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS archs(
    key TEXT PRIMARY KEY,
    hash TEXT,
    error TEXT,
    CHECK ((hash IS NULL) != (error IS NULL))
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS features(
    hash TEXT NOT NULL,
    feature TEXT NOT NULL,
    value REAL,
    reason TEXT,
    seconds REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (hash, feature),
    CHECK ((value IS NULL) != (reason IS NULL))
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def default_path(name: str) -> Path:
    """Where the store of family (or ONNX folder) ``name`` lives: ``data/features/<name>.sqlite``."""
    return DEFAULT_DIR / f"{name}.sqlite"


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    """SQLite limits the number of ``?`` parameters of one statement."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class FeatureStore:
    """Features of architectures, keyed by graph hash, in one SQLite file.

    Args:
        path: the ``.sqlite`` file (created with its folder if missing).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
        with self._db:
            self._db.executescript(_SCHEMA)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings ----------------------------------------------------------------------------

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """Record the settings values depend on (seed, batch size...) or check they are unchanged.

        Raises ``ValueError`` when the store was filled with other settings: mixing them would
        give one column values computed two ways.
        """
        want = json.dumps(dict(settings), sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE name = 'settings'").fetchone()
        if row is None:
            with self._db:
                self._db.execute("INSERT INTO meta VALUES ('settings', ?)", (want,))
        elif row[0] != want:
            raise ValueError(f"{self.path} holds features computed with {row[0]}; this run asks for "
                             f"{want}. Use another store= file, or delete this one to recompute.")

    # -- archs -------------------------------------------------------------------------------

    def put_archs(self, rows: Iterable[tuple[str, str | None, str | None]]) -> None:
        """Record ``(key, hash, error)`` rows in one transaction (one of hash / error is None)."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO archs VALUES (?, ?, ?)", list(rows))

    def archs(self, keys: Sequence[str] | None = None) -> dict[str, tuple[str | None, str | None]]:
        """``key -> (hash, error)`` for ``keys`` that are recorded (all keys when None)."""
        if keys is None:
            return {k: (h, e) for k, h, e in self._db.execute("SELECT key, hash, error FROM archs")}
        out: dict[str, tuple[str | None, str | None]] = {}
        for part in _chunks(list(keys)):
            q = f"SELECT key, hash, error FROM archs WHERE key IN ({','.join('?' * len(part))})"
            out.update({k: (h, e) for k, h, e in self._db.execute(q, part)})
        return out

    def forget_arch_errors(self, keys: Sequence[str]) -> None:
        """Drop the failed ``keys`` so that the next run tries to build them again."""
        with self._db:
            for part in _chunks(list(keys)):
                self._db.execute(f"DELETE FROM archs WHERE error IS NOT NULL AND key IN "
                                 f"({','.join('?' * len(part))})", part)

    # -- features ----------------------------------------------------------------------------

    def put(self, hash: str, results: Mapping[str, ProxyResult]) -> None:
        """Write all ``results`` of architecture ``hash`` in one transaction (replacing old rows).

        A non-finite value is stored as missing (reason ``nan`` / ``inf``), never as a number.
        """
        rows = []
        for name, r in results.items():
            value, reason = r.value, r.reason
            if value is not None and not math.isfinite(value):
                value, reason = None, "nan" if math.isnan(value) else "inf"
            if value is None and not reason:
                reason = "missing"
            rows.append((hash, name, value, None if value is not None else reason, float(r.seconds)))
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?)", rows)

    def missing(self, hashes: Iterable[str], features: Sequence[str],
                retry: bool = False) -> dict[str, list[str]]:
        """``hash -> features still to compute`` for those of ``hashes`` that lack any.

        Args:
            hashes: graph hashes.
            features: feature names wanted.
            retry: also count features recorded as missing (timeouts, errors) as to compute.
        """
        features = list(dict.fromkeys(features))
        have: set[tuple[str, str]] = set()
        for part in _chunks(features):
            q = f"SELECT hash, feature FROM features WHERE feature IN ({','.join('?' * len(part))})"
            if retry:
                q += " AND value IS NOT NULL"
            have.update(self._db.execute(q, part))
        out: dict[str, list[str]] = {}
        for h in dict.fromkeys(hashes):
            todo = [f for f in features if (h, f) not in have]
            if todo:
                out[h] = todo
        return out

    def done(self, hashes: Iterable[str], features: Sequence[str]) -> set[str]:
        """Those of ``hashes`` with a row (value or missing-with-reason) for every one of ``features``."""
        hashes = list(dict.fromkeys(hashes))
        todo = self.missing(hashes, features)
        return {h for h in hashes if h not in todo}

    def _long(self, features: Sequence[str] | None) -> pd.DataFrame:
        q = "SELECT hash, feature, value, reason, seconds FROM features"
        if features is None:
            return pd.read_sql_query(q, self._db)
        parts = [pd.read_sql_query(q + f" WHERE feature IN ({','.join('?' * len(p))})", self._db,
                                   params=list(p)) for p in _chunks(list(features))]
        return pd.concat(parts, ignore_index=True) if parts else pd.read_sql_query(q + " LIMIT 0", self._db)

    def _wide(self, column: str, features: Sequence[str] | None, by: str) -> pd.DataFrame:
        long = self._long(features)
        wide = long.pivot(index="hash", columns="feature", values=column)
        wide.columns.name = None
        cols = sorted(wide.columns) if features is None else list(features)
        wide = wide.reindex(columns=cols)
        wide = wide.astype("float64") if column == "value" else wide.astype(object).where(wide.notna(), None)
        if by == "key":
            keys = pd.read_sql_query("SELECT key, hash FROM archs WHERE hash IS NOT NULL", self._db)
            wide = keys.merge(wide, left_on="hash", right_index=True, how="left").set_index("key")
        elif by != "hash":
            raise ValueError(f"by must be 'hash' or 'key', got {by!r}")
        return wide

    def frame(self, features: Sequence[str] | None = None, by: str = "hash") -> pd.DataFrame:
        """Wide table of values: one row per hash (or per key, with a ``hash`` column when
        ``by="key"``), one float column per feature, NaN where missing or not computed."""
        return self._wide("value", features, by)

    def reasons(self, features: Sequence[str] | None = None, by: str = "hash") -> pd.DataFrame:
        """Like :meth:`frame`, with the reason a value is missing (None where it is present)."""
        return self._wide("reason", features, by)

    def rows(self, features: Sequence[str] | None = None) -> pd.DataFrame:
        """The features table itself, long format: ``hash, feature, value, reason, seconds``."""
        return self._long(features)
