"""What the shipped checkpoint's auxiliary features cost per file in ``predict.py``, on one core.

For a ResNet-50 (224 px ONNX, run at 32 px: it has a global pool) and an NB-201 cell (32 px), the
time of ``compute_for_graphs`` with the checkpoint's features, cold (no feature cache) and warm
(the per-user cache, ``gennape.features.file_cache``), each feature's share from one cold call,
and the whole ``python predict.py FILE`` command cold, with and without ``--no-features``.

    python benchmarks/feature_cost.py [--out docs/feature_cost.json] [--repeats 3]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "feature_cost.json")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from cli_speed import export

    from gennape.features.catalog import compute_features, make_inputs
    from gennape.features.settings import FILE_SETTINGS
    from gennape.inference.predict import DEFAULT_CHECKPOINT, load_graph, load_predictor
    from gennape.runtime.auxiliary import compute_for_graphs
    from gennape.spaces import get_space

    names = list(load_predictor(DEFAULT_CHECKPOINT).aux_features)
    work = Path(tempfile.mkdtemp(prefix="feature_cost-"))
    resnet = export(work / "models")["resnet50"]
    nb201 = get_space("nb201")
    cell = nb201.graph("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    graphs = {"resnet50": load_graph(resnet), "nb201_cell": cell}
    out: dict = {"command": "python benchmarks/feature_cost.py", "features": names, "settings": FILE_SETTINGS,
                 "threads": 1, "files": {}}
    inputs = make_inputs(names, **FILE_SETTINGS)
    for name, cg in graphs.items():
        cold, warm = [], []
        for r in range(args.repeats):
            os.environ["GENNAPE_CACHE_DIR"] = str(work / f"cache-{name}-{r}")
            t = time.perf_counter()
            compute_for_graphs([cg], names)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            compute_for_graphs([cg], names)
            warm.append(time.perf_counter() - t)
        per = compute_features(cg, names, inputs)
        out["files"][name] = {
            "gflops_per_image_native": round(cg.flops / 1e9, 3), "input": list(cg.input_shape),
            "cold_s": round(statistics.median(cold), 3), "warm_s": round(statistics.median(warm), 4),
            "per_feature_s": {n: round(r.seconds, 3) for n, r in per.items()},
            "missing": {n: r.reason for n, r in per.items() if r.value is None}}
        print(name, out["files"][name])
    env = {**os.environ, "GENNAPE_CACHE_DIR": ""}
    for name, path in (("resnet50", resnet),):
        for flag in ([], ["--no-features"]):
            walls = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                subprocess.run([sys.executable, str(ROOT / "predict.py"), str(path), *flag], check=True,
                               capture_output=True, env=env, cwd=ROOT)
                walls.append(time.perf_counter() - t)
            key = f"cli_{name}" + ("_no_features" if flag else "")
            out[key + "_s"] = round(statistics.median(walls), 3)
            print(key, out[key + "_s"])
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
