"""Rank ONNX models by predicted accuracy after training, without training them.

    python predict.py model_a.onnx model_b.onnx
    python predict.py models/ --format json
    python predict.py a.onnx --checkpoint outputs/.../model.ckpt --format csv
    python predict.py dynamic_hw.onnx --input-size 224 224

Folders are searched for ``*.onnx``. Files that fail are reported with the reason and never stop
the others; the exit code is 1 if any failed. A model exported with a dynamic height and width
needs ``--input-size H W`` (models with a fixed resolution keep theirs). The uncertainty column is the spread of the fuzzy
heads around the prediction (accuracy points): higher means the heads disagree. How far that
tracks the error on families the predictor has not seen is measured in docs/results.md (for the
shipped model: on NB-301, not on NB-101).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Callable

from gennape.inference import DEFAULT_CHECKPOINT, Prediction, predict_files, quiet_libraries
from gennape.model.checkpoint import CheckpointError

COLUMNS = ("rank", "predicted_accuracy", "uncertainty", "flops", "params", "file", "error")


def _num(v: float | None, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def as_table(preds: list[Prediction]) -> str:
    """A plain-text table, best first, failures at the end."""
    rows = [("rank", "pred. acc", "± unc.", "MFLOPs", "params", "file")]
    for p in preds:
        if p.error is None:
            rows.append((str(p.rank), _num(p.predicted_accuracy, ".2f"), _num(p.uncertainty, ".2f"),
                         _num(p.flops / 1e6 if p.flops is not None else None, ",.1f"),
                         _num(p.params, ",.0f"), p.file))
        else:
            rows.append(("-", "failed", "", "", "", p.error))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows)


def as_csv(preds: list[Prediction]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for p in preds:
        w.writerow({k: v for k, v in p.as_dict().items() if k in COLUMNS})
    return buf.getvalue().rstrip("\n")


def as_json(preds: list[Prediction]) -> str:
    out = []
    for p in preds:
        d = p.as_dict()
        if p.error is None:
            d.pop("error")
        out.append(d)
    return json.dumps(out, indent=2)


FORMATS: dict[str, Callable[[list[Prediction]], str]] = {"table": as_table, "csv": as_csv, "json": as_json}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="ONNX files or folders of them")
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                    help="predictor checkpoint (default: the one shipped with gennape)")
    ap.add_argument("--format", choices=sorted(FORMATS), default="table")
    ap.add_argument("--no-features", action="store_true",
                    help="skip the auxiliary features the checkpoint takes (the shipped one: FLOPs and params "
                         "quantiles among the files given); they count as missing")
    ap.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"),
                    help="input resolution for models exported with a dynamic height and width")
    args = ap.parse_args(argv)
    if args.input_size is not None and min(args.input_size) < 1:
        ap.error("--input-size takes two positive integers")
    quiet_libraries()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        preds = predict_files(args.paths, args.checkpoint, timings, features=not args.no_features,
                              input_size=tuple(args.input_size) if args.input_size else None)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not preds:
        print("error: no .onnx files found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    print(FORMATS[args.format](preds))
    failed = sum(p.error is not None for p in preds)
    print(f"{len(preds) - failed} ranked, {failed} failed in {time.perf_counter() - t0:.2f} s "
          f"(graphs {timings['graphs']:.2f} s, features and prediction {timings['predict']:.2f} s)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
