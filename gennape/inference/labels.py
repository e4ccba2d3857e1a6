"""The user's labels for ``predict.py --labels known.csv`` (numpy only: a bad file is reported
before torch is loaded to adapt anything; ``gennape.inference.adapt`` adapts to them).

``known.csv`` has the columns ``file,accuracy``; a row's file is matched to an input by its path as
given on the command line, else by its base name (which must then be unique among the inputs).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MIN_LABELS = 2


class LabelError(ValueError):
    """A labels file that cannot be used. ``problems``: one line per problem, each naming the file,
    the line and the reason (the message is all of them, one a line)."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def read_labels(path: str | os.PathLike, inputs: Sequence[str]) -> dict[int, float]:
    """The labelled inputs: position in ``inputs`` -> accuracy, from a ``file,accuracy`` CSV.

    Raises:
        LabelError: with every problem of the file, one each (line and reason): missing columns,
            a row whose file matches no input (or several by base name), a file labelled twice, an
            accuracy that is not a finite number; a file that is not CSV text.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: no such labels file")
    by_path = {str(p): i for i, p in enumerate(inputs)}
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(inputs):
        by_name.setdefault(Path(p).name, []).append(i)
    out: dict[int, float] = {}
    problems: list[str] = []
    first_line: dict[int, int] = {}
    reader = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            cols = [c.strip() for c in reader.fieldnames or []]
            if "file" not in cols or "accuracy" not in cols:
                raise LabelError(f"{path}: expected the columns file,accuracy; found {','.join(cols) or 'none'}")
            reader.fieldnames = cols
            for row in reader:
                line = reader.line_num
                name, value = (row.get("file") or "").strip(), (row.get("accuracy") or "").strip()
                where = f"{path}, line {line}"
                i = None
                if name in by_path:
                    i = by_path[name]
                elif len(by_name.get(Path(name).name, [])) == 1:
                    i = by_name[Path(name).name][0]
                elif Path(name).name in by_name:
                    problems.append(f"{where}: {name!r} matches several inputs by name; give its path as on the "
                                    f"command line")
                else:
                    problems.append(f"{where}: {name!r} matches no input file")
                try:
                    acc = float(value)
                except ValueError:
                    problems.append(f"{where}: accuracy {value!r} of {name!r} is not a number")
                    acc = None
                if acc is not None and not math.isfinite(acc):
                    problems.append(f"{where}: accuracy of {name!r} is {value}, not a finite number")
                    acc = None
                if i is not None and i in first_line:
                    problems.append(f"{where}: {inputs[i]} is labelled twice (first on line {first_line[i]})")
                elif i is not None:
                    first_line[i] = line
                    if acc is not None:
                        out[i] = acc
    except UnicodeDecodeError:
        problems.append(f"{path}: not a text file (not UTF-8)")
    except csv.Error as e:
        problems.append(f"{path}, line {reader.line_num if reader else 1}: not valid CSV ({str(e).splitlines()[0]})")
    if problems:
        raise LabelError(problems)
    return out


def check_labels(y: Sequence[float], source: str) -> None:
    """Refuse labels nothing can be learnt from: fewer than two, or all equal."""
    if len(y) < MIN_LABELS:
        raise LabelError(f"{source}: {len(y)} usable label(s); adapting needs at least {MIN_LABELS}")
    if np.ptp(np.asarray(y, dtype=float)) == 0:
        raise LabelError(f"{source}: every label is {y[0]}; adapting needs at least two different accuracies")
