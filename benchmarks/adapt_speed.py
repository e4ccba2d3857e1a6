"""The user's adaptation path end to end: ``predict.py --labels`` on real ONNX files, cold and warm.

Exports ``--files`` NB-201 networks (cells stratified by CIFAR-10 accuracy, the legacy exporter at
opset 17) to a temporary folder, writes ``known.csv`` with the published CIFAR-10 accuracies of
``--labels`` of them, and runs ``python predict.py FOLDER --labels known.csv --format json`` as a
user would, twice:

- ``cold``: the first run, a fresh interpreter with an empty feature cache (``GENNAPE_CACHE_DIR``
  a new temporary folder, so the user's own cache is neither read nor written): imports, graphs,
  the files' features, adaptation and prediction;
- ``warm``: the same command again in a new interpreter (features read back from the cache, the
  OS file cache warm).

Each run reports its wall time (spawn to exit) and peak RSS (GNU ``/usr/bin/time``'s ``%M``: the
process and any it waited for), and predict.py's own split of the time (its last stderr line).
The child processes get the environment as it is: OMP_NUM_THREADS only if the caller set it.
Then the same checkpoint without labels (zero-shot) is run once. On the unlabelled files it
reports Spearman and MAE of the cold run against the published accuracies, beside FLOPs, params
and the least-squares size fit on the same labels, and the zero-shot ranking. Use
``--checkpoint`` with a model that never saw NB-201 (the leave-one-family-out fold's
``<run>/nb201/model.ckpt``) for an honest number; ``--files 20 --labels 10 --out /tmp/x.json`` is
a quick check that it works.

    python benchmarks/adapt_speed.py [--checkpoint C] [--files 300] [--labels 50] [--out docs/adapt_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from gennape.features.extract import stratified_subset
from gennape.graph import from_onnx
from gennape.inference.predict import DEFAULT_CHECKPOINT
from gennape.model.dataset import graph_to_record, record_to_data
from gennape.model.metrics import score
from gennape.model.size import size_fit
from gennape.data.loaders import load_family, resolve_task
from gennape.spaces import get_space

ROOT = Path(__file__).resolve().parents[1]
TIME = "/usr/bin/time"  # GNU time: the command's own peak RSS (%M, KiB)


def export_cells(folder: Path, n: int, seed: int) -> dict[str, float]:
    """``n`` NB-201 cells as ONNX files in ``folder``: file name -> CIFAR-10 accuracy."""
    table = load_family("nb201").drop_duplicates("spec").reset_index(drop=True)
    target = resolve_task("nb201").target
    rows = table.iloc[stratified_subset(table[target].to_numpy(float), n, seed=seed)]
    space = get_space("nb201")
    out = {}
    for i, (spec, acc) in enumerate(zip(rows["spec"], rows[target])):
        name = f"cell{i:04d}.onnx"
        torch.manual_seed(i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(space.build(spec).eval(), (torch.randn(1, 3, 32, 32),), str(folder / name),
                              dynamo=False, opset_version=17)
        out[name] = float(acc)
    return out


def run_predict(folder: Path, checkpoint: Path, labels: Path | None, cache: Path,
                features: bool = True) -> tuple[list[dict], dict]:
    """``python predict.py FOLDER --format json [--labels L]`` in a fresh interpreter, the feature
    cache in ``cache``: its JSON output and ``{wall_s, peak_rss_mb, summary}``."""
    cmd = [sys.executable, str(ROOT / "predict.py"), str(folder), "--checkpoint", str(checkpoint), "--format", "json"]
    if labels is not None:
        cmd += ["--labels", str(labels)]
    if not features:
        cmd.append("--no-features")
    env = {**os.environ, "GENNAPE_CACHE_DIR": str(cache)}
    with tempfile.TemporaryDirectory() as tmp:
        timing = Path(tmp) / "time"
        # Peak RSS through /usr/bin/time: a child forked from this process (torch loaded, for the
        # export) would report this process's memory as its own peak (Linux keeps the larger
        # high-water mark across exec), while time's child is forked from time itself.
        t = time.perf_counter()
        res = subprocess.run([TIME, "-o", str(timing), "-f", "%M", *cmd], capture_output=True, text=True,
                             cwd=ROOT, env=env)
        wall = time.perf_counter() - t
        code, stdout, stderr = res.returncode, res.stdout, res.stderr
        words = timing.read_text().split() if timing.is_file() else []
    if code != 0:  # a file or the labels failed: the timing would not be of the whole path
        raise SystemExit(f"predict.py failed ({code}): {stderr.strip()[-2000:]}")
    lines = stderr.strip().splitlines()
    return json.loads(stdout), {"wall_s": round(wall, 2), "peak_rss_mb": round(float(words[-1]) / 1024, 1),
                                "summary": lines[-1] if lines else ""}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--labels", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-features", action="store_true", help="run predict.py with --no-features")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "adapt_speed.json")
    args = ap.parse_args(argv)
    if not Path(TIME).is_file():
        ap.error(f"{TIME} (GNU time) is needed to measure peak memory: apt-get install time")
    if not 2 <= args.labels < args.files:
        ap.error("--labels must be at least 2 and fewer than --files")
    args.out.parent.mkdir(parents=True, exist_ok=True)  # fail now, not after the runs
    load = os.getloadavg()[0]
    torch.set_num_threads(1)  # the export, in this process; the runs get the environment as it is
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "models"
        folder.mkdir()
        cache = Path(tmp) / "feature_cache"  # empty: the first run is cold
        t = time.perf_counter()
        acc = export_cells(folder, args.files, args.seed)
        export_s = time.perf_counter() - t
        names = sorted(acc)
        labelled = [names[i] for i in np.random.default_rng(args.seed).permutation(len(names))[:args.labels]]
        known = Path(tmp) / "known.csv"
        known.write_text("file,accuracy\n" + "".join(f"{n},{acc[n]}\n" for n in labelled))
        features = not args.no_features
        tuned, cold = run_predict(folder, args.checkpoint, known, cache, features)
        again, warm = run_predict(folder, args.checkpoint, known, cache, features)
        zero, zero_run = run_predict(folder, args.checkpoint, None, cache, features)
        rest = [n for n in names if n not in set(labelled)]
        graphs = {n: record_to_data(graph_to_record(from_onnx(folder / n))) for n in names}
    by = {Path(o["file"]).name: o for o in tuned}
    by0 = {Path(o["file"]).name: o for o in zero}
    y = np.array([acc[n] for n in rest])
    fit = size_fit([graphs[n] for n in labelled], np.array([acc[n] for n in labelled]), [graphs[n] for n in rest])
    result = {
        "checkpoint": str(args.checkpoint.resolve().relative_to(ROOT)) if args.checkpoint.resolve().is_relative_to(ROOT)
        else str(args.checkpoint),
        "files": len(names), "labels": len(labelled), "export_seconds": round(export_s, 1),
        "features": features, "cpus": os.cpu_count(), "load_average_1min": round(load, 2),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "with_labels": {"cold": cold, "warm": warm,
                        "warm_same_predictions": [o["predicted_accuracy"] for o in tuned]
                        == [o["predicted_accuracy"] for o in again]},
        "without_labels": zero_run,
        "predict_with_labels_wall_s": cold["wall_s"], "predict_without_labels_wall_s": zero_run["wall_s"],
        "unlabelled": len(rest),
        "adapted": score(y, np.array([by[n]["predicted_accuracy"] for n in rest])),
        "zero_shot": score(y, np.array([by0[n]["score"] for n in rest]), ("srcc", "kendall", "ndcg10")),
        "size_fit": score(y, fit),
        "flops": score(y, np.array([by[n]["flops"] for n in rest]), ("srcc", "kendall", "ndcg10")),
        "params": score(y, np.array([by[n]["params"] for n in rest]), ("srcc", "kendall", "ndcg10")),
        "labelled_rows_flagged": sum(bool(by[n]["labelled"]) for n in labelled),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
