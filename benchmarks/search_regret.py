"""How many (table look-up) trainings each search strategy needs: regret, queries to the top and
Pareto hypervolume over many seeds (gennape.search).

    python benchmarks/search_regret.py                       # 50 seeds, 200 queries, every task
    python benchmarks/search_regret.py --seeds 10 --tasks nb201/cifar10

Tasks: NB-201 CIFAR-10 / CIFAR-100 / ImageNet16-120 (the whole space, 15,625 cells) and the
TransNAS-Bench-101 micro and macro object-classification pools (711 / 662 labelled architectures;
every strategy proposes only pool architectures, and "the top 0.1 %" of a pool is its best one).

Strategies: random, evolution (regularized, NASLib's NB-201 settings), proxy (the table's best
stored proxy as a filter; an oracle choice), and predictor-guided twice: ``predictor`` with the
shipped checkpoint (trained on every corpus task, so it has seen labels of the searched task: an
in-family reference, not a transfer result) and ``predictor_lofo`` with the leave-one-family-out
checkpoint of the searched family (``--lofo-dir``/<family>/model.ckpt, trained without any task of
the family), where one exists.

Writes ``docs/search_regret.json`` (per task and strategy: median and interquartile range of the
regret at 10/25/50/100/200 queries and of the whole curve, median queries to the top 0.1 % / 1 %
with the share of seeds that got there, Pareto hypervolume ratio at 25/50/100 queries, seconds per
search) and ``docs/search_regret.png`` (regret against queries, medians and interquartile bands).
"""

from __future__ import annotations

import os

# One BLAS thread: the surrogate's matrices are small, and threads waiting for a busy core stall
# every call (measured: a 711 x 64 SVD took 0.9 s with the default threads on the 2 loaded cores).
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TASKS = ["nb201/cifar10", "nb201/cifar100", "nb201/imagenet16", "transnas_micro/class_object",
         "transnas_macro/class_object"]
STRATEGIES = ["random", "evolution", "proxy", "predictor", "predictor_lofo"]
REGRET_AT = [10, 25, 50, 100, 200]
HV_AT = [25, 50, 100]

_TABLES: dict = {}


def _table(task: str, checkpoint: str | None):
    from gennape.search import load_table

    key = (task, checkpoint)
    if key not in _TABLES:
        _TABLES[key] = load_table(task, checkpoint=checkpoint, workers=1)
    return _TABLES[key]


def _job(args: tuple) -> dict:
    task, strategy, checkpoint, seed, budget, objective = args
    from gennape.search import run_search

    t = _table(task, checkpoint)
    name = "predictor" if strategy.startswith("predictor") else strategy
    res = run_search(t, name, budget, seed=seed, objective=objective)
    out = {"task": task, "strategy": strategy, "seed": seed, "objective": objective, "seconds": res.seconds,
           "best_so_far": res.best_so_far.tolist(), "space_best": float(t.acc.max()),
           "top_0.1": res.queries_to(t.top_threshold(0.001)), "top_1": res.queries_to(t.top_threshold(0.01)),
           "proxy": res.settings.get("proxy")}
    if objective == "pareto":
        out["hv"] = res.hv_ratio(HV_AT)
        out["hv_median_ref"] = res.hv_ratio(HV_AT, reference="median")
    return out


def _iqr(v: np.ndarray, axis: int = 0) -> dict:
    q = np.nanpercentile(v, [25, 50, 75], axis=axis)
    return {"median": q[1].tolist(), "q25": q[0].tolist(), "q75": q[2].tolist()}


def _median_queries(q: list[float]) -> float | None:
    m = float(np.median(q))
    return None if not np.isfinite(m) else m


def summarise(rows: list[dict], budget: int) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r["task"], {}).setdefault(r["strategy"], {"accuracy": [], "pareto": []})[r["objective"]].append(r)
    summary: dict = {}
    for task, by in out.items():
        summary[task] = {}
        for strat, runs in by.items():
            s: dict = {}
            acc = runs["accuracy"]
            if acc:
                curves = np.array([r["best_so_far"] for r in acc])
                regret = acc[0]["space_best"] - curves
                at = [q for q in REGRET_AT if q <= curves.shape[1]]
                s.update({
                    "seeds": len(acc),
                    "regret_at": {str(q): _iqr(regret[:, q - 1]) for q in at},
                    "regret_curve": _iqr(regret),
                    "queries_to_top_0.1pct": {"median": _median_queries([r["top_0.1"] for r in acc]),
                                              "reached": float(np.mean([np.isfinite(r["top_0.1"]) for r in acc]))},
                    "queries_to_top_1pct": {"median": _median_queries([r["top_1"] for r in acc]),
                                            "reached": float(np.mean([np.isfinite(r["top_1"]) for r in acc]))},
                    "seconds_per_search": {"median": float(np.median([r["seconds"] for r in acc])),
                                           "max": float(np.max([r["seconds"] for r in acc]))},
                })
                if acc[0].get("proxy"):
                    s["proxy"] = acc[0]["proxy"]
            par = runs["pareto"]
            if par:
                hv = np.array([r["hv"] for r in par])
                hvm = np.array([r["hv_median_ref"] for r in par])
                s["pareto"] = {"seeds": len(par), "hv_ratio_at": {str(q): _iqr(hv[:, i]) for i, q in enumerate(HV_AT)},
                               "hv_ratio_median_ref_at": {str(q): _iqr(hvm[:, i]) for i, q in enumerate(HV_AT)},
                               "seconds_per_search": float(np.median([r["seconds"] for r in par]))}
            summary[task][strat] = s
    return summary


def figure(summary: dict, path: Path, budget: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(summary)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    colours = {"random": "tab:gray", "evolution": "tab:blue", "proxy": "tab:green", "predictor": "tab:red",
               "predictor_lofo": "tab:orange"}
    for ax, task in zip(axes[0], tasks):
        for strat, s in summary[task].items():
            if "regret_curve" not in s:
                continue
            c = s["regret_curve"]
            x = np.arange(1, len(c["median"]) + 1)
            ax.plot(x, c["median"], color=colours.get(strat), label=strat)
            ax.fill_between(x, c["q25"], c["q75"], color=colours.get(strat), alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_xlabel("queries (trainings paid for)")
        pool = "" if task.startswith("nb201") else "\n(pool only)"
        ax.set_title(task + pool, fontsize=9)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("regret (accuracy points, symlog)")
    axes[0][-1].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _q(v: dict | None) -> str:
    med, reached = v["median"], v["reached"]
    return (f"{med:.0f}" if med is not None else "> budget") + f" ({reached:.0%})"


def markdown(result: dict) -> str:
    """The JSON's tables as markdown (docs/search.md pastes them)."""
    lines = []
    for task, by in result["results"].items():
        n = result["space_size"][task]
        lines += [f"**{task}** ({n} architectures{'' if task.startswith('nb201') else ', the labelled pool: only its architectures are proposed'}; "
                  f"best {result['space_best'][task]:.2f})", "",
                  "| strategy | regret @10 | @25 | @50 | @100 | @200 | queries to top 0.1 % (share reached) | to top 1 % | HV ratio @25 / @50 / @100 (worst-acc ref) | (median-acc ref) | s / search |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for strat, s in by.items():
            if "regret_at" not in s:
                continue
            reg = [s["regret_at"].get(str(q)) for q in REGRET_AT]
            cells = [f"{r['median']:.2f} [{r['q25']:.2f}, {r['q75']:.2f}]" if r else "" for r in reg]
            hv = s.get("pareto", {})
            h1 = " / ".join(f"{hv['hv_ratio_at'][str(q)]['median']:.3f}" for q in HV_AT) if hv else ""
            h2 = " / ".join(f"{hv['hv_ratio_median_ref_at'][str(q)]['median']:.3f}" for q in HV_AT) if hv else ""
            name = strat + (f" ({s['proxy']})" if s.get("proxy") else "")
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {_q(s['queries_to_top_0.1pct'])} | "
                         f"{_q(s['queries_to_top_1pct'])} | {h1} | {h2} | {s['seconds_per_search']['median']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--pareto-budget", type=int, default=100)
    p.add_argument("--pareto-seeds", type=int, default=None, help="default: --seeds")
    p.add_argument("--tasks", nargs="+", default=TASKS)
    p.add_argument("--strategies", nargs="+", default=STRATEGIES)
    p.add_argument("--lofo-dir", default=str(ROOT / "outputs" / "lofo_features"))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "docs" / "search_regret.json"))
    p.add_argument("--figure", default=str(ROOT / "docs" / "search_regret.png"))
    p.add_argument("--render", default=None, help="print the tables of this JSON as markdown and stop")
    a = p.parse_args(argv)
    if a.render:
        print(markdown(json.loads(Path(a.render).read_text())))
        return {}
    from gennape.inference.predict import DEFAULT_CHECKPOINT
    from gennape.model.corpus import family_of
    from gennape.search.space import _file_id

    start = time.time()
    jobs, checkpoints, skipped = [], {}, []
    for task in a.tasks:
        for strat in a.strategies:
            ckpt = str(DEFAULT_CHECKPOINT)
            if strat == "predictor_lofo":
                ckpt = str(Path(a.lofo_dir) / family_of(task) / "model.ckpt")
                if not Path(ckpt).is_file():
                    skipped.append(f"{strat} on {task}: no {ckpt}")
                    continue
            checkpoints.setdefault(task, {})[strat] = {"path": os.path.relpath(ckpt, ROOT), "sha256_12": _file_id(ckpt)}
            _table(task, ckpt)  # build / load once in the parent
            jobs += [(task, strat, ckpt, s, a.budget, "accuracy") for s in range(a.seeds)]
            jobs += [(task, strat, ckpt, s, a.pareto_budget, "pareto") for s in range(a.pareto_seeds or a.seeds)]
    print(f"{len(jobs)} searches; tables ready after {time.time() - start:.0f} s", flush=True)
    from tqdm import tqdm

    if a.workers > 1:
        with mp.get_context("fork").Pool(a.workers) as pool:
            rows = list(tqdm(pool.imap(_job, jobs, chunksize=4), total=len(jobs), disable=not sys.stderr.isatty()))
    else:
        rows = [_job(j) for j in tqdm(jobs, disable=not sys.stderr.isatty())]
    summary = summarise(rows, a.budget)
    result = {
        "command": "python benchmarks/search_regret.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seeds": a.seeds, "budget": a.budget, "pareto_budget": a.pareto_budget,
        "pareto_seeds": a.pareto_seeds or a.seeds, "checkpoints": checkpoints, "skipped": skipped,
        "space_best": {t: float(_table(t, str(DEFAULT_CHECKPOINT)).acc.max()) for t in a.tasks},
        "space_size": {t: len(_table(t, str(DEFAULT_CHECKPOINT))) for t in a.tasks},
        "wall_seconds": round(time.time() - start, 1), "workers": a.workers, "machine": platform.machine(),
        "results": summary,
    }
    Path(a.out).write_text(json.dumps(result, indent=1))
    figure(summary, Path(a.figure), a.budget)
    print(f"wrote {a.out} and {a.figure} in {result['wall_seconds']} s")
    for task, by in summary.items():
        for strat, s in by.items():
            if "regret_at" in s:
                r = " ".join(f"{q}:{v['median']:.2f}" for q, v in s["regret_at"].items())
                t1 = s["queries_to_top_0.1pct"]["median"]
                t2 = s["queries_to_top_1pct"]["median"]
                hv = s.get("pareto", {}).get("hv_ratio_at", {})
                hvm = s.get("pareto", {}).get("hv_ratio_median_ref_at", {})
                h = " ".join(f"{q}:{v['median']:.3f}/{hvm[q]['median']:.3f}" for q, v in hv.items())
                print(f"{task:30s} {strat:15s} regret {r} | top0.1% {t1} top1% {t2} | hv {h} | "
                      f"{s['seconds_per_search']['median']:.2f} s")
    return result


if __name__ == "__main__":
    main()
