"""Where a run's numbers come from: the code's commit, the command's overrides, an earlier call's info."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import gennape
from gennape.core.paths import PROJECT_ROOT


def code_version() -> str:
    """The commit the run's code came from (``+changes`` when the work tree differs from it), or
    the package version outside a git checkout, so every result can be traced to its code."""
    root = PROJECT_ROOT
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "gennape", "conf", "train.py"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"gennape {gennape.__version__}"
    return head + ("+changes" if dirty else "")


def previous_info(run_dir: Path) -> dict[str, Any] | None:
    """The ``info`` of the run's last finished call, if it finished (``first_*`` keys keep the first
    call's wall time and code across re-evaluations)."""
    path = run_dir / "results.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("info", {})


def overrides() -> list[str]:
    """The command-line overrides of this run (empty outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under @hydra.main (tests compose the config themselves)
        return []
