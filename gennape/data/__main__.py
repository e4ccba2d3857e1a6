"""Command line: ``python -m gennape.data fetch [--mirror DIR] [--out DIR] [--verbose]``."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from gennape.data.fetch import fetch


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gennape.data", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser(
        "fetch",
        help="fetch pinned upstream files (mirror copy or download), check sha256, derive tables",
    )
    f.add_argument(
        "--mirror",
        metavar="DIR",
        default=None,
        help="folder with the same layout (upstream/...); default: ../shared/data if present",
    )
    f.add_argument("--no-mirror", action="store_true", help="download even if a mirror exists")
    f.add_argument("--out", metavar="DIR", help="output folder; default: the project's data/")
    f.add_argument("--no-cifar10", action="store_true", help="skip the CIFAR-10 arrays")
    f.add_argument("--no-progress", action="store_true", help="no progress bars")
    f.add_argument("--verbose", action="store_true", help="list files; traceback on error")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        events = fetch(
            out=args.out,
            mirror=args.mirror,
            use_mirror=not args.no_mirror,
            cifar10=not args.no_cifar10,
            progress=not args.no_progress,
        )
    except Exception as e:  # one clear line unless --verbose
        if args.verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.verbose:
        for ev in events:
            print(f"{ev.action:>10}  {ev.relpath}")
    counts = ", ".join(f"{n} {a}" for a, n in sorted(Counter(e.action for e in events).items()))
    print(f"gennape data: {counts} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
