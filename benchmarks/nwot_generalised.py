"""Does nwot's generalisation to every activation rank networks as NASLib's ReLU-only nwot does?

nwot reads each activation module's on/off code (``gennape/features/proxies/activation.py``): on
networks with ReLU alone it is NASLib's definition, on the others (GELU, SiLU, Hardswish, ...) it
gives a value where NASLib's gives none. On the timm zoo's store (``data/features/zoo.sqlite``),
the Spearman of nwot with the top-1 accuracy (median over recipes) on each group.

    python benchmarks/nwot_generalised.py      # -> docs/nwot_generalised.json
"""

from __future__ import annotations

import csv
import gzip
import json
import sqlite3
import statistics
from pathlib import Path

from gennape.model.metrics import srcc

ROOT = Path(__file__).resolve().parents[1]
ACTIVATIONS = {"ReLU", "ReLU6", "GELU", "SiLU", "HardSwish", "Tanh", "Sigmoid"}


def main() -> None:
    top1: dict[str, list[float]] = {}
    with open(ROOT / "data" / "zoo" / "timm_in1k_models.csv") as f:
        for r in csv.DictReader(f):
            top1.setdefault(r["arch"], []).append(float(r["top1"]))
    acc = {k: statistics.median(v) for k, v in top1.items()}
    with sqlite3.connect(ROOT / "data" / "features" / "zoo.sqlite") as db:
        nwot = dict(db.execute("SELECT hash, value FROM features WHERE feature = 'nwot' AND value IS NOT NULL"))
    groups: dict[str, list[tuple[float, float]]] = {"relu_only": [], "other_activations": []}
    with gzip.open(ROOT / "data" / "zoo" / "graphs.jsonl.gz", "rt") as f:
        for line in f:
            d = json.loads(line)
            if not d.get("ok") or d["hash"] not in nwot or d["arch"] not in acc:
                continue
            acts = {n["op"] for n in d["graph"]["nodes"]} & ACTIVATIONS
            groups["relu_only" if acts <= {"ReLU"} else "other_activations"].append((nwot[d["hash"]], acc[d["arch"]]))
    groups["all"] = groups["relu_only"] + groups["other_activations"]
    out = {"command": "python benchmarks/nwot_generalised.py",
           **{k: {"networks": len(v), "srcc": round(srcc([b for _, b in v], [a for a, _ in v]), 3)} for k, v in groups.items()}}
    (ROOT / "docs" / "nwot_generalised.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
