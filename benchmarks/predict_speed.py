"""Speed of prediction with a trained checkpoint.

1. Throughput: graphs per second when scoring all 15,625 NB-201 computation graphs (already
   encoded, from the graph cache; building them is measured in ``graph_speed.py``) with the numpy
   runtime that prediction uses (``gennape.runtime.net``), and with the torch network beside it;
   then ranking them as ``predict_files`` does, where graphs with one hash (NB-201's isomorphic
   cells: 5,746 distinct networks) are predicted once.
2. One ResNet-50-sized ONNX file: the time ``predict_files`` takes (graph + prediction, checkpoint
   loaded once) as a ratio to building its ComputeGraph alone, and the wall time of the whole
   ``python predict.py resnet50.onnx`` command (interpreter start and imports included).

    python benchmarks/predict_speed.py [--checkpoint C] [--nb201 15625] [--out docs/predict_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from gennape.graph import from_onnx
from gennape.inference.predict import DEFAULT_CHECKPOINT, predict_encoded, predict_files
from gennape.runtime.auxiliary import attach_features
from gennape.model.checkpoint import load_checkpoint
from gennape.model.dataset import load_graphs
from gennape.model.pipeline import predict
from gennape.runtime.net import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from zoo import resnet50  # noqa: E402  (the reference networks of the tests)

ROOT = Path(__file__).resolve().parents[1]


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def throughput(ckpt_path: Path, n: int | None, repeats: int) -> dict:
    ckpt, runtime = load_checkpoint(ckpt_path), Runtime.load(ckpt_path)
    fam = load_graphs("nb201", limit=n)
    if ckpt.aux_features:  # the heads' features from the family's store, as in train.py
        attach_features(fam.graphs, fam.name, ckpt.aux_features, ckpt.aux_scaling)
    keys = ("op", "feat", "edge_index", "flops", *(("aux", "aux_mask") if ckpt.aux_features else ()))
    encoded = [{k: d[k].numpy() for k in keys} for d in fam.graphs]  # as the cache would hold them in numpy
    seconds = _median(lambda: runtime.predict(encoded), repeats)
    hashes = [d.hash for d in fam.graphs]  # ranking as predict_files does: each distinct network once
    rank_seconds = _median(lambda: predict_encoded(runtime, encoded, hashes), repeats)
    torch_seconds = _median(lambda: predict(ckpt.net, fam.graphs), repeats)
    return {"graphs": len(fam), "seconds": round(seconds, 3), "graphs_per_s": round(len(fam) / seconds, 1),
            "torch_seconds": round(torch_seconds, 3), "torch_graphs_per_s": round(len(fam) / torch_seconds, 1),
            "ranking": {"distinct": len(set(hashes)), "seconds": round(rank_seconds, 3),
                        "graphs_per_s": round(len(fam) / rank_seconds, 1)}}


def resnet50_file(ckpt_path: Path, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "resnet50.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(resnet50().eval(), (torch.randn(1, 3, 224, 224),), str(path), dynamo=False,
                              opset_version=17)
        ckpt = load_checkpoint(ckpt_path)
        t_cg = _median(lambda: from_onnx(path), repeats)
        t_pred = _median(lambda: predict_files([path], ckpt), repeats)
        t = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "predict.py"), str(path), "--checkpoint", str(ckpt_path)],
                       check=True, capture_output=True)
        t_cli = time.perf_counter() - t
        return {"file_mb": round(path.stat().st_size / 2**20, 1), "cg_seconds": round(t_cg, 3),
                "predict_seconds": round(t_pred, 3), "ratio_to_cg": round(t_pred / t_cg, 2),
                "cli_wall_seconds": round(t_cli, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--nb201", type=int, default=None, help="architectures to score (default: all 15,625)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (torch; numpy's BLAS through "
                    "OPENBLAS_NUM_THREADS, which this script sets before numpy loads)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "predict_speed.json")
    args = ap.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):  # numpy's BLAS reads it when it loads
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "OPENBLAS_NUM_THREADS": str(args.threads)})
    torch.set_num_threads(args.threads)
    res = {"threads": args.threads, "checkpoint": str(args.checkpoint.relative_to(ROOT))
           if args.checkpoint.is_relative_to(ROOT) else str(args.checkpoint),
           "nb201_throughput": throughput(args.checkpoint, args.nb201, args.repeats),
           "resnet50_onnx": resnet50_file(args.checkpoint, args.repeats)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
