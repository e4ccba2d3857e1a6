"""Print the metrics of several runs side by side, offline.

    python -m gennape.evaluation.compare RUN [RUN ...] [--metric srcc] [--format md|csv]

A RUN is a folder with ``results.json`` (written by ``train.py``), a W&B run folder
(``<run>/wandb/offline-run-*``, or a ``wandb/`` folder or run folder holding such runs: read from
its record log, :mod:`gennape.evaluation.wandb_read`), or a folder holding any of these (a Hydra
multirun); both kinds may be mixed. A run folder with ``results.json`` is read from it, not from
its own ``wandb/`` (the same run). Runs are labelled by their Hydra overrides (a W&B run: its tags)
when there are any, less those every run shares (named above the table). A line under the table
says why a cell shows "–".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gennape.evaluation.footnotes import DASH, footnotes
from gennape.evaluation.metric_keys import ROWS_KEY, rows_from_metrics
from gennape.evaluation.wandb_read import read_run
from gennape.model.metrics import list_metrics

RESULTS = "results.json"
WANDB_LOG = "run-*.wandb"


@dataclass(frozen=True)
class Source:
    """One run to compare: ``kind`` (a key of :data:`READERS`) and where it is."""

    kind: str
    path: Path


@dataclass
class Run:
    """A run's rows, and what names it: its overrides (None: it has no record of them), else ``where``."""

    rows: list[dict[str, Any]]
    overrides: list[str] | None
    where: str


@dataclass
class Comparison:
    """A table of one metric: ``header`` (family, setting, method, then one column a run, named by
    its overrides but the ``shared`` ones), ``rows``, and ``notes`` saying why a cell shows "–"."""

    header: list[str]
    rows: list[list[str]]
    notes: list[str]
    shared: list[str]


def _wandb_runs(folder: Path) -> list[Source]:
    """The W&B runs under ``folder`` (itself one, or holding some), each once."""
    logs = sorted(folder.glob(WANDB_LOG)) or sorted(folder.rglob(WANDB_LOG))
    return [Source("wandb", p) for p in dict.fromkeys(f.parent.resolve() for f in logs)]


def _search(folder: Path) -> list[Source]:
    """Every run under ``folder``: each ``results.json``, and each W&B run not beside one."""
    found = [Source("results", p) for p in sorted(folder.rglob(RESULTS))]
    done = {s.path.parent.resolve() for s in found}
    for s in _wandb_runs(folder):
        owner = s.path.parent.parent if s.path.parent.name == "wandb" else None  # <run>/wandb/<W&B run>
        if owner is None or owner.resolve() not in done:
            found.append(s)
    return found


def find_runs(paths: list[str | Path]) -> list[Source]:
    """The runs the given paths name, in order (see the module's doc)."""
    runs: list[Source] = []
    for p in map(Path, paths):
        if p.is_file() and p.name == RESULTS:
            runs.append(Source("results", p))
        elif p.is_file() and p.suffix == ".wandb":
            runs.append(Source("wandb", p.parent))
        elif (p / RESULTS).is_file():
            runs.append(Source("results", p / RESULTS))
        elif p.is_dir():
            runs += _search(p)
        else:
            raise FileNotFoundError(f"{p}: no such run folder, results.json or W&B run")
    if not runs:
        raise FileNotFoundError(f"no results.json or W&B run under {', '.join(map(str, paths))}")
    return runs


def run_overrides(results_json: Path) -> list[str] | None:
    """The run's Hydra command-line overrides (None when the folder has no Hydra record)."""
    ov = results_json.parent / ".hydra" / "overrides.yaml"
    if not ov.is_file():
        return None
    return [ln.strip()[2:] for ln in ov.read_text().splitlines() if ln.strip().startswith("- ")]


def load_rows(results_json: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(results_json.read_text())
        return list(data["rows"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{results_json}: not a gennape results file ({e})") from e


def _read_results(path: Path) -> Run:
    return Run(load_rows(path), run_overrides(path), str(path.parent))


def _read_wandb(path: Path) -> Run:
    run = read_run(path)
    rows = rows_from_metrics(run.summary, run.summary.get(ROWS_KEY))
    if not rows:
        raise ValueError(f"{run.path}: the W&B run logged no results (a run that did not finish, or not train.py's)")
    return Run(rows, run.tags or None, run.name or str(path))


READERS: dict[str, Callable[[Path], Run]] = {"results": _read_results, "wandb": _read_wandb}


def _labels(runs: list[Run], sources: list[Source]) -> tuple[list[str], list[str]]:
    """Each run's column label (its overrides but those every run shares, else where it is; a
    label two runs share gets the run's path after it) and the shared overrides."""
    lists = [r.overrides or [] for r in runs]
    shared = [o for o in lists[0] if all(o in ov for ov in lists[1:])] if len(runs) > 1 else []
    labels = [" ".join(o for o in ov if o not in shared) or r.where for ov, r in zip(lists, runs)]
    return [f"{lab} ({s.path})" if labels.count(lab) > 1 else lab for lab, s in zip(labels, sources)], shared


def _cell(row: dict[str, Any], metric: str) -> str:
    v, std = row.get(metric), row.get(metric + "_std")
    return DASH if v is None else f"{v:.3f}" + (f" ± {std:.3f}" if std is not None else "")


def compare_table(paths: list[str | Path], metric: str = "srcc") -> Comparison:
    """``metric`` of every run under ``paths``: one row per (family, setting, method), one column a run."""
    if metric not in list_metrics():
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join(list_metrics())}")
    sources = find_runs(paths)
    runs = [READERS[s.kind](s.path) for s in sources]
    table: dict[tuple[str, str, str], dict[int, str]] = {}
    dashed: list[dict[str, Any]] = []
    for i, run in enumerate(runs):
        for r in run.rows:
            table.setdefault((r["family"], r["setting"], r["method"]), {})[i] = _cell(r, metric)
            if r.get(metric) is None:
                dashed.append(r)
    labels, shared = _labels(runs, sources)
    rows = [[*key, *[cells.get(i, "") for i in range(len(runs))]] for key, cells in table.items()]
    return Comparison(["family", "setting", "method", *labels], rows, footnotes(dashed, {metric: metric}), shared)


def compare(paths: list[str | Path], metric: str = "srcc") -> tuple[list[str], list[list[str]]]:
    """Header and rows of :func:`compare_table`."""
    c = compare_table(paths, metric)
    return c.header, c.rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gennape.evaluation.compare", description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders, W&B run folders, multirun folders or results.json files")
    ap.add_argument("--metric", default="srcc", help=f"one of {', '.join(list_metrics())}")
    ap.add_argument("--format", choices=["md", "csv"], default="md")
    args = ap.parse_args(argv)
    try:
        c = compare_table(args.runs, args.metric)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 1
    if args.format == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerows([c.header, *c.rows])
        for note in c.notes:  # the table stays machine-readable
            print(note, file=sys.stderr)
    else:
        print(f"metric: {args.metric}" + (f"; every run: {' '.join(c.shared)}" if c.shared else "") + "\n")
        print("| " + " | ".join(c.header) + " |")
        print("|" + "---|" * len(c.header))
        for r in c.rows:
            print("| " + " | ".join(r) + " |")
        if c.notes:
            print("\n" + "\n".join(c.notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
