"""Print the metrics of several runs side by side, offline.

    python -m gennape.evaluation.compare RUN_DIR [RUN_DIR ...] [--metric srcc] [--format md|csv]

A RUN_DIR is a folder with ``results.json`` (written by ``train.py``) or a folder holding such
folders (a Hydra multirun). Runs are labelled by their Hydra overrides when there are any.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gennape.model.metrics import list_metrics


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Every ``results.json`` under the given folders (a folder's own first), in order."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.name == "results.json":
            runs.append(p)
        elif (p / "results.json").is_file():
            runs.append(p / "results.json")
        elif p.is_dir():
            runs += sorted(p.rglob("results.json"))
        else:
            raise FileNotFoundError(f"{p}: no such run folder or results.json")
    if not runs:
        raise FileNotFoundError(f"no results.json under {', '.join(map(str, paths))}")
    return runs


def run_overrides(results_json: Path) -> list[str] | None:
    """The run's Hydra command-line overrides (None when the folder has no Hydra record)."""
    ov = results_json.parent / ".hydra" / "overrides.yaml"
    if not ov.is_file():
        return None
    return [ln.strip()[2:] for ln in ov.read_text().splitlines() if ln.strip().startswith("- ")]


def run_label(results_json: Path) -> str:
    """The run's Hydra overrides (``a=1 b=2``), else its folder path."""
    return " ".join(run_overrides(results_json) or []) or str(results_json.parent)


def load_rows(results_json: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(results_json.read_text())
        return list(data["rows"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{results_json}: not a gennape results file ({e})") from e


def compare(paths: list[str | Path], metric: str = "srcc") -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per (family, setting, method), one column per run."""
    if metric not in list_metrics():
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join(list_metrics())}")
    runs = find_runs(paths)
    table: dict[tuple[str, str, str], dict[int, str]] = {}
    for i, rj in enumerate(runs):
        for r in load_rows(rj):
            v, std = r.get(metric), r.get(metric + "_std")
            cell = "–" if v is None else f"{v:.3f}" + (f" ± {std:.3f}" if std is not None else "")
            table.setdefault((r["family"], r["setting"], r["method"]), {})[i] = cell
    header = ["family", "setting", "method", *[run_label(r) for r in runs]]
    rows = [[*key, *[cells.get(i, "") for i in range(len(runs))]] for key, cells in table.items()]
    return header, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gennape.evaluation.compare", description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders, multirun folders or results.json files")
    ap.add_argument("--metric", default="srcc", help=f"one of {', '.join(list_metrics())}")
    ap.add_argument("--format", choices=["md", "csv"], default="md")
    args = ap.parse_args(argv)
    try:
        header, rows = compare(args.runs, args.metric)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.format == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerows([header, *rows])
    else:
        print(f"metric: {args.metric}\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
