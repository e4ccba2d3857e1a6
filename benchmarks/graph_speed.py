"""Speed of building ComputeGraphs.

1. ONNX: ``from_onnx`` on a ResNet-50 file (~100 MB, weights embedded) as a ratio to
   ``onnx.load`` + ``onnx.shape_inference.infer_shapes`` of the same file (target: <= 2x), and
   the peak extra memory of each.
2. Specs: CGs per second for NB-201 architectures built from their arch strings
   (``--nb201 N``; all 15,625 by default), via the space's nn.Module and ``from_module``.

    python benchmarks/graph_speed.py [--nb201 15625] [--repeats 3] [--out docs/graph_speed.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import onnx
import torch
from tqdm import tqdm

from gennape.graph import from_module, from_onnx
from gennape.spaces import get_space

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from zoo import resnet50  # noqa: E402  (the reference networks of the tests)


def _timed(fn, repeats: int) -> tuple[float, float]:
    """Median seconds over ``repeats`` runs and peak traced Python memory (MB) of one run."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), peak


def onnx_ratio(repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "resnet50.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(resnet50().eval(), (torch.randn(1, 3, 224, 224),), str(path), dynamo=False, opset_version=17)
        size_mb = path.stat().st_size / 2**20

        def baseline() -> None:
            onnx.shape_inference.infer_shapes(onnx.load(str(path)))

        t_base, m_base = _timed(baseline, repeats)
        t_cg, m_cg = _timed(lambda: from_onnx(path), repeats)
        cg = from_onnx(path)
    return {"file_mb": round(size_mb, 1), "nodes": len(cg), "params": cg.params, "flops": cg.flops,
            "onnx_load_infer_s": round(t_base, 3), "from_onnx_s": round(t_cg, 3), "ratio": round(t_cg / t_base, 2),
            "onnx_load_infer_peak_mb": round(m_base, 1), "from_onnx_peak_mb": round(m_cg, 1)}


def nb201_rate(n: int) -> dict:
    space = get_space("nb201")
    specs = space.enumerate()[:n]
    x = torch.randn(1, 3, 32, 32)
    t = time.perf_counter()
    hashes = set()
    for spec in tqdm(specs, desc="NB-201 CGs", unit="arch"):
        hashes.add(from_module(space.build(spec), x).hash)
    dt = time.perf_counter() - t
    return {"archs": n, "seconds": round(dt, 1), "cgs_per_s": round(n / dt, 1), "unique_hashes": len(hashes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb201", type=int, default=15625)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("docs/graph_speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = {"resnet50_onnx": onnx_ratio(args.repeats), "nb201_from_specs": nb201_rate(args.nb201),
              "torch_threads": 1}
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
