"""Speed and faithfulness of building graphs (and graph-cache records) from search-space specs.

1. Timing, per family, on one core (torch and BLAS on one thread; CPU time of this process per
   spec, so another job on the machine does not count), over ``--n`` sampled specs:
   ``before``: the route of the previous release, the spec's network built with initialised
   weights, traced with torch.fx and run for shapes in full (``fx_frontend.MEMOISE = False``),
   canonicalised; ``traced``: today's reference route (:meth:`SearchSpace.traced_graph`:
   weights left uninitialised, shape memo); ``graph``: what ``graph_of`` does (the space's
   template where it has one, else ``traced``); ``record``: the rest of a cache record
   (``to_pyg`` and the Laplacian spectrum), ``record_before`` with BLAS on its default threads.
2. Check: ``graph_of`` against :meth:`traced_graph` node for node (nodes, inputs, hash) on every
   spec of the templated families with ``--check all`` (NB-201's 15,625, TransNAS micro's 4,096),
   on ``--n`` sampled specs otherwise; and, with ``--against DIR``, the hashes against the
   ``graphs_<family>.pt`` caches there (built by earlier code).
3. Cache build: ``encode_specs`` of ``--cache-specs`` NB-201 cells into a fresh folder with
   ``workers=None`` (every core), wall time.

    python benchmarks/graph_build.py [--n 100] [--no-timing] [--check sample|all|none] [--workers 1]
        [--against data/cache] [--against-n N] [--cache-specs 15625] [--out docs/graph_build.json]
        [--md docs/graph_build.md] [--render]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from gennape.data.tasks import get_task, list_tasks
from gennape.graph import fx_frontend, from_module
from gennape.model import contrastive
from gennape.model.contrastive import laplacian_spectrum
from gennape.data.families import FAMILY_SPACES, graph_of
from gennape.spaces import get_space

FAMILIES = [f for f, s in FAMILY_SPACES.items() if s != "timm"]


def _specs(family: str, n: int, seed: int = 0) -> list[str]:
    space = get_space(FAMILY_SPACES[family])
    return [space.spec_to_str(s) for s in space.sample(n, seed=seed)]


def _cpu_ms(fn, items) -> tuple[float, list]:
    t = time.process_time()
    out = [fn(x) for x in items]
    return 1000 * (time.process_time() - t) / max(1, len(items)), out


def before_graph(family: str, spec: str):
    """The previous release's route: initialised weights, every node computed."""
    space, t = get_space(FAMILY_SPACES[family]), get_task(list_tasks(family)[0])
    memo, fx_frontend.MEMOISE = fx_frontend.MEMOISE, False
    try:
        module = space.build(space.parse(spec), num_classes=t.num_classes)
        return from_module(module, torch.zeros(1, *t.input_shape), name=spec)
    finally:
        fx_frontend.MEMOISE = memo


def traced_graph(family: str, spec: str):
    t = get_task(list_tasks(family)[0])
    return get_space(FAMILY_SPACES[family]).traced_graph(spec, t.input_shape, t.num_classes)


def _record(cg) -> None:
    d = cg.to_pyg()
    laplacian_spectrum(d.edge_index, d.num_nodes)


def timing(n: int) -> dict:
    out = {}
    for family in FAMILIES:
        specs = _specs(family, n)
        graph_of(family, specs[0]), traced_graph(family, specs[0]), before_graph(family, specs[0])  # warm
        fx_frontend.SHAPE_MEMO.clear()  # the memo warms up within the sample, as in a cache build
        row = {"specs": len(specs)}
        row["before_ms"], ref = _cpu_ms(lambda s: before_graph(family, s), specs)
        row["traced_ms"], _ = _cpu_ms(lambda s: traced_graph(family, s), specs)
        row["graph_ms"], cgs = _cpu_ms(lambda s: graph_of(family, s), specs)
        row["record_ms"], _ = _cpu_ms(_record, cgs)
        with _default_blas_threads():
            row["record_before_ms"], _ = _cpu_ms(_record, cgs)
        row = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}
        row["speedup_graph"] = round(row["before_ms"] / row["graph_ms"], 1)
        row["speedup_record_total"] = round((row["before_ms"] + row["record_before_ms"])
                                            / (row["graph_ms"] + row["record_ms"]), 1)
        row["nodes_mean"] = round(sum(len(c) for c in cgs) / len(cgs), 1)
        row["same_hash_as_before"] = sum(a.hash == b.hash for a, b in zip(cgs, ref))
        out[family] = row
        print(family, row, flush=True)
    return out


@contextlib.contextmanager
def _default_blas_threads():
    saved = contrastive._one_blas_thread
    contrastive._one_blas_thread = contextlib.nullcontext
    try:
        yield
    finally:
        contrastive._one_blas_thread = saved


def _check_one(args: tuple[str, str, str | None]) -> tuple[str, bool]:
    family, spec, task = args
    t = get_task(task or list_tasks(family)[0])
    space = get_space(FAMILY_SPACES[family])
    a = space.graph(spec, t.input_shape, t.num_classes)
    b = space.traced_graph(spec, t.input_shape, t.num_classes)
    return spec, a.nodes == b.nodes and a.inputs == b.inputs and a.hash == b.hash


def _init_worker() -> None:
    torch.set_num_threads(1)


def check(mode: str, n: int, workers: int) -> dict:
    out = {}
    for family in FAMILIES:
        space = get_space(FAMILY_SPACES[family])
        templated = space.template() is not None
        if mode == "all" and templated:
            specs = [space.spec_to_str(s) for s in space.enumerate()]
        else:
            specs = _specs(family, n, seed=1)
        jobs = [(family, s, None) for s in specs]
        # Other tasks (resolution, classes) on a few specs each.
        jobs += [(family, s, task) for task in list_tasks(family)[1:] for s in specs[:20]]
        t = time.perf_counter()
        if workers > 1:
            with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
                res = pool.map(_check_one, jobs, chunksize=32)
        else:
            res = [_check_one(j) for j in jobs]
        bad = [s for s, ok in res if not ok]
        out[family] = {"templated": templated, "specs": len(specs), "checked": len(jobs),
                       "identical": len(jobs) - len(bad), "mismatches": bad[:10],
                       "seconds": round(time.perf_counter() - t, 1)}
        print(family, out[family], flush=True)
    return out


def against_caches(folder: Path, n: int | None) -> dict:
    """Hashes of ``graph_of`` against cached records (built by earlier code)."""
    from gennape.model.dataset import load_cache

    out = {}
    for family in FAMILIES:
        path = folder / f"graphs_{family}.pt"
        cache = load_cache(path)
        if not cache:
            continue
        specs = sorted(cache)[:n] if n else sorted(cache)
        bad = [s for s in specs if graph_of(family, s).hash != cache[s]["hash"]]
        out[family] = {"cache": str(path), "specs": len(specs), "same_hash": len(specs) - len(bad),
                       "mismatches": bad[:10]}
        print(family, out[family], flush=True)
    return out


def cache_build(n: int) -> dict:
    from gennape.model.dataset import build_workers, encode_specs

    space = get_space("nb201")
    specs = [space.spec_to_str(s) for s in space.enumerate(order="product")[:n]]
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        recs = encode_specs("nb201", specs, d, workers=None)
        dt = time.perf_counter() - t
    return {"family": "nb201", "specs": len(recs), "workers": build_workers(None, len(specs)),
            "wall_s": round(dt, 1), "records_per_s": round(len(recs) / dt, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="sampled specs per family (timing, sampled checks)")
    ap.add_argument("--no-timing", action="store_true", help="skip the timing section")
    ap.add_argument("--check", choices=["sample", "all", "none"], default="sample")
    ap.add_argument("--workers", type=int, default=1, help="processes for --check")
    ap.add_argument("--against", type=Path, default=None, help="folder of graphs_<family>.pt caches")
    ap.add_argument("--against-n", type=int, default=None, help="cached specs per family (default: all)")
    ap.add_argument("--cache-specs", type=int, default=0, help="NB-201 cells to build into a fresh cache")
    ap.add_argument("--out", type=Path, default=Path("docs/graph_build.json"))
    ap.add_argument("--md", type=Path, default=None, help="also write the tables as markdown here "
                                                            "(docs/graph_build.md), from --out's results")
    ap.add_argument("--render", action="store_true", help="only write --md from the results in --out")
    args = ap.parse_args()
    if args.render:
        (args.md or Path("docs/graph_build.md")).write_text(render_md(json.loads(args.out.read_text())))
        return
    torch.set_num_threads(1)
    result: dict = {"command": "python benchmarks/graph_build.py " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
        if v not in (None, 0, False) and k not in ("out", "md", "render")),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}}
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after each section: a long run keeps what it measured
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    if not args.no_timing:
        result["timing_ms_per_spec_one_core"] = timing(args.n)
        save()
    if args.check != "none":
        result["check_against_traced"] = check(args.check, args.n, args.workers)
        save()
    if args.against:
        result["check_against_cache"] = against_caches(args.against, args.against_n)
        save()
    if args.cache_specs:
        result["cache_build"] = cache_build(args.cache_specs)
        print(result["cache_build"], flush=True)
        save()
    print(f"wrote {args.out}")
    if args.md:
        args.md.write_text(render_md(result))
        print(f"wrote {args.md}")


def render_md(r: dict) -> str:
    """docs/graph_build.md: the command, what the columns mean, and the tables of ``r``."""
    out = ["# Building graphs from search-space specs", "",
           f"Produced by `{r['command']} --md docs/graph_build.md` (results: `docs/graph_build.json`; "
           f"the module docstring of `benchmarks/graph_build.py` says what each section measures). "
           f"Machine: {r['machine']['cpus']} CPU cores shared with a training job; timings are CPU "
           "time of one process with torch and BLAS on one thread, per spec, so another job does "
           "not count.", "",
           "How: `SearchSpace.graph` builds a space's network without initialising weights "
           "(`templates.no_init`; params are counted from shapes) and runs it for shapes through a "
           "memo (`fx_frontend.SHAPE_MEMO`: each op with a handler computed once per configuration "
           "and input shape in a process). NB-201 and TransNAS micro, whose specs only pick the op "
           "on 6 fixed edges, have a template (`templates.SlotTemplate`): their network, built by "
           "the space's own classes with a `Slot` on each edge, is traced once; a spec's graph is "
           "that raw graph with each Slot replaced by the raw nodes of the op picked there (each op "
           "traced once per channels and input shape), in tracing order and with the same module "
           "paths, then the same canonical passes, so the graph is identical node for node. The "
           "spectrum's eigensolver runs on one BLAS thread (OpenBLAS' threads spun against the "
           "other job: 10-100x slower). NB-101, NB-301 and TransNAS macro specs change the wiring "
           "or the block sequence, so they are built and traced per spec: their remaining time is "
           "torch module construction and torch.fx tracing, per module and per node.", ""]
    t = r.get("timing_ms_per_spec_one_core")
    if t:
        out += ["## Time per spec (ms, one core)", "",
                "`before`: the previous release's route (the spec's network built with initialised "
                "weights, torch.fx trace, a full forward pass for shapes, canonical passes). "
                "`traced`: today's reference route, `SearchSpace.traced_graph` (weights left "
                "uninitialised, shape memo, no cyclic GC during the build). `graph`: `graph_of`, "
                "through the space's template where it has one (NB-201, TransNAS micro), else "
                "`traced`. `record`: the rest of a cache record, `to_pyg` and the Laplacian "
                "spectrum (`record before`: with OpenBLAS on its default threads). Samples of "
                f"{next(iter(t.values()))['specs']} specs (seed 0), the shape memo starting empty, "
                "so its warm-up is included.", "",
                "| family | nodes | before | traced | graph | speedup | record before | record | "
                "graph + record speedup | same hash as before |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for f, row in t.items():
            out.append(f"| {f} | {row['nodes_mean']} | {row['before_ms']} | {row['traced_ms']} | "
                       f"{row['graph_ms']} | {row['speedup_graph']}x | {row['record_before_ms']} | "
                       f"{row['record_ms']} | {row['speedup_record_total']}x | "
                       f"{row['same_hash_as_before']} / {row['specs']} |")
        out.append("")
    c = r.get("check_against_traced")
    if c:
        out += ["## Same graphs", "",
                "`graph_of` against `traced_graph`, node for node (nodes, inputs, hash), on every "
                "spec of the templated families and on a sample of the others, plus 20 specs of "
                "each other task (resolution, classes):", "",
                "| family | template | specs | checked (all tasks) | identical | seconds |",
                "|---|---|---|---|---|---|"]
        for f, row in c.items():
            out.append(f"| {f} | {'yes' if row['templated'] else 'no'} | {row['specs']} | "
                       f"{row['checked']} | {row['identical']} | {row['seconds']} |")
        out.append("")
    a = r.get("check_against_cache")
    if a:
        out += ["Hashes against the graph caches built by the previous release (`--against data/cache`):", "",
                "| family | cached specs | same hash |", "|---|---|---|"]
        for f, row in a.items():
            out.append(f"| {f} | {row['specs']} | {row['same_hash']} |")
        out.append("")
    b = r.get("cache_build")
    if b:
        out += ["## Cache build", "",
                f"`encode_specs(\"{b['family']}\", ..., workers=None)` (every core) of {b['specs']:,} "
                f"cells into an empty folder: {b['wall_s']} s wall with {b['workers']} worker "
                f"processes ({b['records_per_s']} records/s), saves included (at least once a "
                "minute; a killed build resumes from the last save: "
                "`tests/test_graph_cache_resume.py`).", ""]
    return "\n".join(out)


if __name__ == "__main__":
    main()
