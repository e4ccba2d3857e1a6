"""Search a benchmark space for its best architectures in few trainings (gennape.search).

    python search.py                                   # predictor-guided, NB-201 CIFAR-10, 200 queries
    python search.py strategy=evolution seed=3 budget=100
    python search.py task=transnas_micro/class_object objective=pareto

A "training" is a look-up of the benchmark's label, paid for from ``budget``; on TransNAS only the
labelled pool's architectures can be proposed. The run folder (Hydra's, printed at the end) gets
``queries.csv`` / ``queries.json`` (every query in order: spec, accuracy, FLOPs, best so far),
``best.json`` (the best found, and the Pareto front found with ``objective=pareto``) and
``search.log``.
"""

from __future__ import annotations

import os

# One BLAS thread: the surrogate's matrices are small, and threads waiting for a busy core stall
# every call (measured: a 711 x 64 SVD took 0.9 s with the default threads on the 2 loaded cores).
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import csv
import json
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("search")


def run(cfg: DictConfig, out_dir: Path) -> dict:
    from tqdm import tqdm

    from gennape.search import load_table, run_search

    name = cfg.strategy.name
    params = OmegaConf.to_container(cfg.strategy.params, resolve=True) or {}
    # one cached table per task and checkpoint (null: the shipped one), whatever the strategy
    table = load_table(cfg.task, checkpoint=cfg.checkpoint, workers=cfg.workers, progress=sys.stderr.isatty())
    bar = tqdm(total=min(cfg.budget, len(table)), desc=f"{name} {table.key}", unit="query",
               disable=not sys.stderr.isatty())

    def progress(done: int, total: int, best: float) -> None:
        bar.update(1)
        bar.set_postfix(best=f"{best:.2f}")

    res = run_search(table, name, cfg.budget, seed=cfg.seed, objective=cfg.objective, progress=progress, **params)
    bar.close()
    records = res.records()
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "queries.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(records[0]))
        w.writeheader()
        w.writerows(records)
    (out_dir / "queries.json").write_text(json.dumps({"settings": res.settings, "queries": records}, indent=1))
    best = records[int(res.labels.argmax())]
    report = [q for q in cfg.report_at if q <= len(res.rows)]
    top = {f"top_{p}": res.queries_to(table.top_threshold(p / 100)) for p in (0.1, 1)}
    summary = {
        "settings": res.settings, "best": best, "space_best": float(table.acc.max()),
        "regret": dict(zip(map(str, report), res.regret(report))),
        "queries_to": {k: (None if v == float("inf") else int(v)) for k, v in top.items()},
        "seconds": round(res.seconds, 3),
        "pool_note": None if table.exhaustive else "TransNAS: only the labelled pool's architectures could be proposed",
    }
    if cfg.objective == "pareto":
        summary["hv_ratio"] = dict(zip(map(str, report), res.hv_ratio(report)))
        summary["hv_ratio_median_ref"] = dict(zip(map(str, report), res.hv_ratio(report, reference="median")))
        summary["front"] = [records[i] for i in range(len(records)) if res.rows[i] in set(res.front().tolist())]
    (out_dir / "best.json").write_text(json.dumps(summary, indent=1))
    return summary


@hydra.main(version_base="1.3", config_path="conf/search", config_name="config")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    s = run(cfg, out_dir)
    b = s["best"]
    print(f"{s['settings']['strategy']} on {s['settings']['task']} ({s['settings']['budget']} queries, seed "
          f"{s['settings']['seed']}, {s['seconds']:.1f} s): best {b['accuracy']:.2f} at query {b['query']} "
          f"(space best {s['space_best']:.2f}) {b['spec']}")
    print("regret: " + ", ".join(f"{k} q {v:.2f}" for k, v in s["regret"].items()))
    print("queries to the top 0.1 % / 1 %: " + " / ".join(str(v) if v else "not reached" for v in s["queries_to"].values()))
    if "hv_ratio" in s:
        print("hypervolume ratio (reference: worst accuracy / median accuracy): " + ", ".join(
            f"{k} q {v:.3f} / {s['hv_ratio_median_ref'][k]:.3f}" for k, v in s["hv_ratio"].items()))
    if s["pool_note"]:
        print(s["pool_note"])
    print(f"run folder: {out_dir}")


if __name__ == "__main__":
    main()
