"""Build the canonical ComputeGraphs of the timm ImageNet-1k zoo into a committed cache.

Run in the zoo venv (timm needs torchvision, which does not import beside the project's torch):

    bash scripts/zoo_venv.sh
    .venv-zoo/bin/python scripts/build_zoo.py --workers 2

Reads ``data/zoo/timm_in1k_models.csv`` (the zoo family's definition: one row per timm model,
several models may share an ``arch``) and writes one JSON record per arch to
``data/zoo/graphs.jsonl.gz``: ``arch, img_size, ok, route`` and, when built, ``graph``
(``ComputeGraph.to_dict()``), ``hash, flops, params, nodes, module_params, timm_params`` (the CSV's
``param_count_m`` x 1e6) and ``seconds``; when not, ``error`` (and ``stage``).

- Resolution: an arch with rows at several ``img_size`` is built at its most common one; a tie goes
  to the smaller size (``arch_table``).
- Route: ``gennape.graph.from_module`` (torch.fx) first; where that fails, the legacy ONNX
  exporter (``dynamo=False, opset 17, export_params=True``: ``from_onnx`` reads the weights'
  shapes from the initializers) to a temporary file, then ``gennape.graph.from_onnx``.
- Resumable: archs with a record are skipped (``--retry-errors`` retries the failed ones). Each
  record is appended as its own gzip member and the file closed, so a kill loses at most the
  archs in flight; a truncated last member is dropped on the next start. At the end the file is
  rewritten as one stream, ordered as the CSV's archs, one (latest) record per arch.
- timm's fused attention is switched off (``timm.layers.set_fused_attn(False)``) from the
  final pass on (the archs built before it took the fused route, which exports to the same ops).
- One fresh (forked) process per arch, ``--workers`` at a time, killed after ``--timeout``
  seconds; so a model's memory is returned when its process ends. Cheapest first (by params).
"""

from __future__ import annotations

import argparse
import collections
import gc
import gzip
import io
import json
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "zoo" / "timm_in1k_models.csv"
CACHE = ROOT / "data" / "zoo" / "graphs.jsonl.gz"


def arch_table(csv_path: Path = CSV) -> list[dict]:
    """One row per arch, in CSV order: arch, img_size, timm_params, top1 (median), models."""
    import csv

    rows: dict[str, list[dict]] = collections.defaultdict(list)
    with open(csv_path, newline="") as f:
        for r in csv.DictReader(f):
            rows[r["arch"]].append(r)
    out = []
    for arch, rs in rows.items():
        sizes = collections.Counter(int(r["img_size"]) for r in rs)
        size = min(sizes, key=lambda s: (-sizes[s], s))
        pc = [float(r["param_count_m"]) for r in rs if int(r["img_size"]) == size]
        top1 = sorted(float(r["top1"]) for r in rs)
        med = (top1[(len(top1) - 1) // 2] + top1[len(top1) // 2]) / 2
        out.append({"arch": arch, "img_size": size, "timm_params": round(pc[0] * 1e6), "top1": med,
                    "models": len(rs)})
    return out


def read_records(path: Path = CACHE) -> tuple[list[dict], bool]:
    """The records of a cache file, and whether its tail was truncated (a kill mid-write)."""
    recs: list[dict] = []
    if not path.exists():
        return recs, False
    try:
        with gzip.open(path, "rt") as f:
            for line in f:
                if line.strip():
                    recs.append(json.loads(line))
    except (EOFError, gzip.BadGzipFile, json.JSONDecodeError, zlib_error()):
        return recs, True
    return recs, False


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error


def write_all(path: Path, recs: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", compresslevel=9) as f:
        for r in recs:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    os.replace(tmp, path)


def append(path: Path, rec: dict) -> None:
    with open(path, "ab") as raw:
        raw.write(gzip.compress((json.dumps(rec, separators=(",", ":")) + "\n").encode(), 6))
        raw.flush()
        os.fsync(raw.fileno())


# --- one arch, in its own process ---------------------------------------------------------------

def _graph_onnx(module, x, arch: str):
    import torch

    from gennape.graph import from_onnx

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{arch}.onnx"
        with torch.no_grad():
            torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=17, export_params=True,
                              do_constant_folding=True, input_names=["input"], output_names=["logits"])
        cg = from_onnx(path)
    return cg


def build_one(row: dict) -> dict:
    """The record of one arch (never raises)."""
    t0 = time.time()
    arch, size = row["arch"], row["img_size"]
    import warnings

    warnings.filterwarnings("ignore")
    rec: dict = {"arch": arch, "img_size": size, "timm_params": row["timm_params"], "ok": False}
    stage = "create"
    try:
        import timm
        import torch

        from gennape.graph import from_module

        torch.set_num_threads(1)
        # explicit q @ k^T attention: the legacy ONNX exporter cannot export some
        # scaled_dot_product_attention calls, and FX sees the same ops as ONNX then
        timm.layers.set_fused_attn(False)
        module = timm.create_model(arch, pretrained=False).eval()
        rec["module_params"] = sum(p.numel() for p in module.parameters())
        x = torch.zeros(1, 3, size, size)
        stage = "fx"
        try:
            cg = from_module(module, x, name=arch)
            rec["route"] = "fx"
        except Exception as e:  # noqa: BLE001  any frontend failure: try the other route
            rec["fx_error"] = f"{type(e).__name__}: {e}"[:500]
            stage = "onnx"
            cg = _graph_onnx(module, x, arch)
            rec["route"] = "onnx"
        d = cg.to_dict()
        d["name"] = arch
        from gennape.graph import ComputeGraph

        back = ComputeGraph.from_dict(json.loads(json.dumps(d)))
        if back.hash != cg.hash:
            raise RuntimeError("serialisation round trip changed the hash")
        rec.update(ok=True, hash=cg.hash, flops=cg.flops, params=cg.params, nodes=len(cg), graph=d)
        rec.pop("fx_error", None) if rec["route"] == "fx" else None
    except BaseException as e:  # noqa: BLE001
        rec["stage"] = stage
        rec["error"] = f"{type(e).__name__}: {e}"[:1000]
        rec["trace"] = traceback.format_exc(limit=3)[-1500:]
    rec["seconds"] = round(time.time() - t0, 2)
    return rec


def _child(row: dict, conn) -> None:
    try:
        rec = build_one(row)
        conn.send_bytes(json.dumps(rec, separators=(",", ":")).encode())
    finally:
        conn.close()
        gc.collect()


# --- driver -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600, help="seconds per arch before it is killed")
    ap.add_argument("--limit", type=int, default=None, help="build at most this many (cheapest first)")
    ap.add_argument("--max-params", type=float, default=None, help="skip archs above this many M params")
    ap.add_argument("--retry-errors", action="store_true", help="retry archs whose record is an error")
    ap.add_argument("--only", nargs="*", default=None, help="these archs only")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--no-compact", action="store_true")
    ap.add_argument("--compact-only", action="store_true", help="only rewrite the cache as one stream")
    args = ap.parse_args(argv)

    # import the heavy modules once; forked children share them
    import timm  # noqa: F401
    import torch  # noqa: F401

    import gennape.graph  # noqa: F401

    table = arch_table()
    order = {r["arch"]: i for i, r in enumerate(table)}
    recs, truncated = read_records(args.cache)
    if truncated:
        print(f"{args.cache}: truncated tail dropped ({len(recs)} records kept)", flush=True)
        write_all(args.cache, recs)
    done = {r["arch"]: r for r in recs}
    if args.compact_only:
        pass
    todo = [] if args.compact_only else [r for r in table if r["arch"] not in done or (args.retry_errors and not done[r["arch"]]["ok"])]
    if args.only:
        todo = [r for r in todo if r["arch"] in set(args.only)]
    if args.max_params:
        todo = [r for r in todo if r["timm_params"] <= args.max_params * 1e6]
    todo.sort(key=lambda r: (r["timm_params"] * r["img_size"] ** 2, r["arch"]))
    if args.limit:
        todo = todo[:args.limit]
    print(f"{len(table)} archs, {len(done)} with records, {len(todo)} to build on {args.workers} workers",
          flush=True)

    ctx = mp.get_context("fork")
    running: dict = {}  # conn -> (proc, row, start)
    queue = collections.deque(todo)
    t_start, n_ok, n_fail = time.time(), 0, 0

    def finish(rec: dict) -> None:
        nonlocal n_ok, n_fail
        append(args.cache, rec)
        n_ok, n_fail = n_ok + rec["ok"], n_fail + (not rec["ok"])
        rel = (rec["params"] / rec["timm_params"] - 1) * 100 if rec["ok"] else float("nan")
        what = f"{rec['route']:4s} {rec['nodes']:5d} nodes params {rel:+.2f}%" if rec["ok"] else \
            f"FAIL[{rec.get('stage')}] {rec['error'][:160]}"
        print(f"[{n_ok + n_fail}/{len(todo)} {time.time() - t_start:6.0f}s] {rec['arch']} "
              f"{rec['seconds']:.1f}s {what}", flush=True)

    from multiprocessing.connection import wait

    while queue or running:
        while queue and len(running) < args.workers:
            row = queue.popleft()
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(row, send), daemon=True)
            p.start()
            send.close()
            running[recv] = (p, row, time.time())
        ready = wait(list(running), timeout=5)
        for conn in ready:
            p, row, t0 = running.pop(conn)
            try:
                rec = json.loads(conn.recv_bytes().decode())
            except (EOFError, OSError):
                p.join(5)
                rec = {"arch": row["arch"], "img_size": row["img_size"], "timm_params": row["timm_params"],
                       "ok": False, "stage": "process", "error": f"worker died (exit code {p.exitcode})",
                       "seconds": round(time.time() - t0, 2)}
            conn.close()
            p.join(30)
            finish(rec)
        now = time.time()
        for conn, (p, row, t0) in list(running.items()):
            if now - t0 > args.timeout:
                p.kill()
                p.join()
                conn.close()
                running.pop(conn)
                finish({"arch": row["arch"], "img_size": row["img_size"], "timm_params": row["timm_params"],
                        "ok": False, "stage": "timeout", "error": f"timeout after {args.timeout:.0f}s",
                        "seconds": round(now - t0, 2)})

    if not args.no_compact:
        recs, _ = read_records(args.cache)
        latest = {}
        for r in recs:
            if r["arch"] in latest and latest[r["arch"]]["ok"] and not r["ok"]:
                continue  # a later failed retry does not replace a built graph
            latest[r["arch"]] = r
        write_all(args.cache, sorted(latest.values(), key=lambda r: order.get(r["arch"], math.inf)))
    recs, _ = read_records(args.cache)
    ok = [r for r in recs if r["ok"]]
    print(f"done in {time.time() - t_start:.0f}s: {n_ok} built, {n_fail} failed this run; cache has "
          f"{len(ok)}/{len(table)} built, {args.cache.stat().st_size / 1e6:.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
