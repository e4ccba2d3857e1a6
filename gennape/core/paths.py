"""Where benchmark data lives: the project's ``data/`` folder first, then the ``../shared/data`` mirror."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_MIRROR = PROJECT_ROOT.parent / "shared" / "data"
ENV_VAR = "GENNAPE_DATA"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Return the folder that holds the derived tables (``nb201/``, ``nb101/``, ...).

    Args:
        root: an explicit folder; wins over everything else.

    Order: ``root``, ``$GENNAPE_DATA``, the project's ``data/`` (after ``python -m gennape.data
    fetch``), then the mirror ``../shared/data``. Raises ``FileNotFoundError`` naming all tried.
    """
    if root is not None:
        if not (Path(root) / "nb201").is_dir():
            raise FileNotFoundError(f"{root}: no benchmark tables here (expected {root}/nb201/); "
                                    "run `python -m gennape.data fetch --out` into it first")
        return Path(root)
    candidates = []
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    candidates += [DEFAULT_DATA_DIR, DEFAULT_MIRROR]
    for c in candidates:
        if (c / "nb201").is_dir():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no benchmark data found (tried {tried}); run `python -m gennape.data fetch` first"
    )


def mirror_root() -> Path | None:
    """The offline mirror folder, or None when there is none on this machine."""
    return DEFAULT_MIRROR if DEFAULT_MIRROR.is_dir() else None
