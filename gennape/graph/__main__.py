"""``python -m gennape.graph MODEL.onnx [...] [--draw OUT.png]``: one JSON line per model.

Bad files print ``{"file", "error"}`` and a one-line message on stderr; the others still print.
Exit code 1 if any file failed. ``--verbose`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from gennape.graph.errors import GraphError
from gennape.graph.onnx_frontend import from_onnx


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gennape.graph", description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="ONNX files")
    ap.add_argument("--draw", type=Path, help="save a drawing (one model: this path; several: MODEL-stem suffix)")
    ap.add_argument("--verbose", action="store_true", help="show tracebacks")
    args = ap.parse_args(argv)
    failed = 0
    for path in args.models:
        try:
            cg = from_onnx(path)
            print(json.dumps({"file": str(path), **cg.summary()}), flush=True)
            if args.draw:
                from gennape.graph.draw import draw

                out = args.draw if len(args.models) == 1 else args.draw.with_name(f"{args.draw.stem}-{path.stem}{args.draw.suffix}")
                draw(cg, out)
        except Exception as e:  # every failure is reported per file; the batch goes on
            failed += 1
            msg = str(e) if isinstance(e, GraphError) else f"{path}: {type(e).__name__}: {e}"
            print(json.dumps({"file": str(path), "error": msg}), flush=True)
            print(f"error: {msg}", file=sys.stderr)
            if args.verbose:
                traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
