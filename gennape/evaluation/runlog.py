"""A run's log file holds what the run shows: ``train.py``'s ``train.log``.

Hydra's job logging opens ``<run dir>/train.log`` for the root logger, but a training run reports
through ``print`` and Lightning's own logger (which keeps to its own console handler), so the file
stayed empty. :func:`log_output` copies both into it; the console shows the same as before.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

# Lightning's loggers print through their own handler and do not reach the root logger.
LIBRARY_LOGGERS = ("lightning.pytorch", "lightning.fabric")


class _Tee:
    """A text stream writing to ``console`` and to ``log``. Progress bars (writes that redraw a
    line with a carriage return) stay on the console."""

    def __init__(self, console: TextIO, log: TextIO) -> None:
        self.console, self.log = console, log

    def write(self, text: str) -> int:
        n = self.console.write(text)
        if "\r" not in text:
            try:
                self.log.write(text)
                self.log.flush()
            except (OSError, ValueError):  # the log closed at exit, a full disk: the console goes on
                pass
        return n

    def flush(self) -> None:
        self.console.flush()

    def __getattr__(self, name: str) -> object:  # isatty, fileno, encoding... of the console
        return getattr(self.console, name)


def log_output(path: str | Path | None = None) -> Path | None:
    """Copy what the run prints (stdout and stderr, warnings and errors included) and Lightning's
    log records into the run's log file: ``path``, or the file of the root logger's
    ``FileHandler`` (Hydra's ``<run dir>/<job>.log``). Returns the file, or None where there is
    none (no Hydra job logging): then nothing changes. Call it once, at the start of the run."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    if path is None:
        if not handlers:
            return None
        path = handlers[0].baseFilename
    path = Path(path)
    log = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - open for the whole run
    global _handler
    for name in ("stdout", "stderr"):  # a second call (the next job of a multirun) moves to its file
        stream = getattr(sys, name)
        if isinstance(stream, _Tee):
            stream.log.close()
            stream.log = log
        else:
            setattr(sys, name, _Tee(stream, log))
    # Lightning's records: also to the file (its console handler writes to the original stream).
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    for name in LIBRARY_LOGGERS:
        lg = logging.getLogger(name)
        if _handler is not None:
            lg.removeHandler(_handler)
        if not lg.propagate:  # records that reach the root logger are in the file already
            lg.addHandler(handler)
    _handler = handler
    return path


_handler: logging.Handler | None = None
