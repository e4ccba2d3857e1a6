"""Check our zero-cost proxies against NAS-Bench-Suite-Zero's published NB-201 CIFAR-10 values.

For a seeded random sample of NB-201 cells from ``nb201/nb201_zc_reference_cifar10.csv.gz`` it
computes every registered proxy on the cell's network, appends one row per
(cell, proxy) to a CSV as it goes (so a killed run resumes where it stopped), then prints and
writes a table: per proxy, Spearman between our value and the reference value, and the Spearman
of ours and of the reference with the 200-epoch CIFAR-10 accuracy on the same cells.

The network is, with ``--network space`` (the default), the cell's own ``nn.Module`` from
``gennape.spaces`` (BatchNorm where NB-201 puts it): this checks the proxy definitions; with
``--network graph``, the one the feature tables are computed on: the cell's canonical
ComputeGraph run by ``to_torch(cg, batchnorm=True)``; with ``--network shortcut-bn``, the cell's
module with the one BatchNorm the graph adds (after each residual shortcut conv), which tells
what that BatchNorm does to a proxy from what canonicalisation does.

Run (one process; ~15 s per cell on one CPU thread for every proxy):
    python benchmarks/validate_proxies.py --cells 300
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from gennape.core.paths import data_root
from gennape.features.batch import proxy_batch
from gennape.features.proxies import list_proxies, run_proxy
from gennape.graph import from_module, to_torch
from gennape.spaces import get_space

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path("nb201") / "nb201_zc_reference_cifar10.csv.gz"
ACCURACY = Path("nb201") / "nb201_accuracies.csv.gz"
ACC_COL = "cifar10_valid_200ep"
FIELDS = ["arch", "proxy", "value", "reason", "seconds"]
# Acceptance bars from issue 4.
STRICT = {"l2_norm", "synflow"}
BAR, STRICT_BAR, ACC_TOL = 0.9, 0.99, 0.05


def sample_cells(n: int, seed: int) -> pd.DataFrame:
    """Reference rows (with accuracy joined) of ``n`` cells drawn without replacement."""
    root = data_root()
    ref = pd.read_csv(root / REFERENCE)
    acc = pd.read_csv(root / ACCURACY, usecols=["arch", ACC_COL])
    both = ref.merge(acc, on="arch", how="inner", validate="one_to_one")
    if len(both) < n:
        raise ValueError(f"only {len(both)} reference cells have an accuracy; asked for {n}")
    return both.sample(n=n, random_state=seed).reset_index(drop=True)


def done_pairs(path: Path) -> set[tuple[str, str]]:
    """(arch, proxy) pairs already in the results CSV."""
    if not path.is_file():
        return set()
    rows = pd.read_csv(path, usecols=["arch", "proxy"])
    return set(zip(rows["arch"], rows["proxy"]))


def _with_shortcut_bn(net: nn.Module) -> nn.Module:
    """``net`` with a fresh BatchNorm after the 1x1 conv of each residual shortcut, as the canonical
    graph's ``batchnorm=True`` gets (a conv there cannot be told from one with a folded BN)."""
    for block in net.modules():
        shortcut = getattr(block, "downsample", None)
        if isinstance(shortcut, nn.Sequential) and isinstance(shortcut[-1], nn.Conv2d):
            shortcut.append(nn.BatchNorm2d(shortcut[-1].out_channels))
    return net


def network_factory(arch: str, network: str) -> Callable[[], nn.Module]:
    """Fresh networks of cell ``arch``: from its ComputeGraph (``graph``), its module (``space``),
    or its module with a BatchNorm after each shortcut conv (``shortcut-bn``)."""
    space = get_space("nb201")
    if network == "space":
        return lambda: space.build(arch)
    if network == "shortcut-bn":
        return lambda: _with_shortcut_bn(space.build(arch))
    cg = from_module(space.build(space.parse(arch)), torch.zeros(1, *space.input_shape), name=arch)
    return lambda: to_torch(cg, batchnorm=True)


def compute(cells: pd.DataFrame, proxies: list[str], out: Path, batch_size: int, seed: int,
            network: str = "space") -> None:
    """Compute the missing (cell, proxy) values and append them to ``out``, one line at a time."""
    batch = proxy_batch(batch_size=batch_size, seed=seed)
    have = done_pairs(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new_file = not out.is_file()
    with out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        start = time.perf_counter()
        todo = [a for a in cells["arch"] if any((a, p) not in have for p in proxies)]
        for i, arch in enumerate(todo, 1):
            make = network_factory(arch, network)
            for p in proxies:
                if (arch, p) in have:
                    continue
                r = run_proxy(p, make, batch[0], batch[1], seed=seed)
                writer.writerow(
                    {"arch": arch, "proxy": p, "value": r.value, "reason": r.reason, "seconds": round(r.seconds, 3)}
                )
            fh.flush()
            rate = (time.perf_counter() - start) / i
            print(f"[{i}/{len(todo)}] {rate:.1f} s/cell, eta {rate * (len(todo) - i) / 60:.1f} min", flush=True)


def _load(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop_duplicates(["arch", "proxy"], keep="last")


def seed_ceiling(main: Path, other: Path, proxy: str) -> tuple[float, int]:
    """Spearman between two of our runs with different seeds (same cells): the noise ceiling."""
    a, b = _load(main), _load(other)
    j = a[a["proxy"] == proxy].merge(b[b["proxy"] == proxy], on="arch").dropna(subset=["value_x", "value_y"])
    if len(j) < 3:
        return float("nan"), len(j)
    return j["value_x"].corr(j["value_y"], method="spearman"), len(j)


def summarise(cells: pd.DataFrame, proxies: list[str], out: Path, other: Path | None = None) -> pd.DataFrame:
    """Per-proxy Spearman table on the cells where both our and the reference value exist.

    Args:
        cells: the sampled reference rows.
        proxies: proxies to report.
        out: our results CSV.
        other: optional results CSV of a run with another seed; adds the seed-to-seed Spearman.
    """
    ours = _load(out)
    rows = []
    for p in proxies:
        mine = ours[ours["proxy"] == p][["arch", "value", "seconds"]]
        j = cells[["arch", p, ACC_COL]].rename(columns={p: "ref"}).merge(mine, on="arch")
        n_missing = int(j["value"].isna().sum())
        # NASLib writes -1e8 for a failed proxy; that is "missing", not a value.
        j = j[j["value"].notna() & (j["ref"] > -1e7)]
        rho = j["value"].corr(j["ref"], method="spearman")
        ours_acc = j["value"].corr(j[ACC_COL], method="spearman")
        ref_acc = j["ref"].corr(j[ACC_COL], method="spearman")
        bar = STRICT_BAR if p in STRICT else BAR
        ok = rho >= bar and abs(ours_acc - ref_acc) <= ACC_TOL
        ceiling = seed_ceiling(out, other, p) if other is not None and other.is_file() else (float("nan"), 0)
        rows.append(
            {
                "proxy": p,
                "cells": len(j),
                "missing": n_missing,
                "spearman_vs_ref": rho,
                "bar": bar,
                "ours_vs_acc": ours_acc,
                "ref_vs_acc": ref_acc,
                "acc_gap": ours_acc - ref_acc,
                "seed_vs_seed": ceiling[0],
                "seed_cells": ceiling[1],
                "s_per_cell": j["seconds"].mean(),
                "pass": "yes" if ok else "NO",
            }
        )
    return pd.DataFrame(rows)


def layer_counts(cells: pd.DataFrame, k: int, module_csv: Path, graph_csv: Path) -> str:
    """Markdown: ReLU, Conv and BatchNorm modules of the first ``k`` sampled cells as their own module
    and as ``to_torch(cg, batchnorm=True)``, with nwot from each run's CSV (``module_csv``, ``graph_csv``)."""
    def nwot(path: Path) -> dict[str, float]:
        rows = _load(path)
        return dict(zip(rows.loc[rows["proxy"] == "nwot", "arch"], rows.loc[rows["proxy"] == "nwot", "value"]))

    def count(m: nn.Module, kind: type[nn.Module]) -> int:
        return sum(isinstance(x, kind) for x in m.modules())

    ours = {"module": nwot(module_csv), "graph": nwot(graph_csv)}
    lines = ["| cell | ReLU module / graph | Conv module / graph | BatchNorm module / graph | nwot module / graph |",
             "|---|---|---|---|---|"]
    for i, arch in enumerate(cells["arch"].head(k)):
        mod, graph = network_factory(arch, "space")(), network_factory(arch, "graph")()
        counts = " | ".join(f"{count(mod, t)} / {count(graph, t)}" for t in (nn.ReLU, nn.Conv2d, nn.BatchNorm2d))
        lines.append(f"| {i} | {counts} | {ours['module'].get(arch, float('nan')):.1f} / "
                     f"{ours['graph'].get(arch, float('nan')):.1f} |")
    return "\n".join(lines) + "\n"


def write_markdown(table: pd.DataFrame, path: Path, command: str, notes: str) -> None:
    """Write the validation table (and free-text notes) to ``path``."""
    fmt = table.copy()
    for c in ["spearman_vs_ref", "ours_vs_acc", "ref_vs_acc", "acc_gap", "seed_vs_seed"]:
        fmt[c] = fmt[c].map(lambda v: f"{v:+.3f}" if c == "acc_gap" else f"{v:.3f}")
    fmt["s_per_cell"] = fmt["s_per_cell"].map(lambda v: f"{v:.2f}")
    header = "| " + " | ".join(fmt.columns) + " |\n|" + "---|" * len(fmt.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in r) + " |\n" for r in fmt.itertuples(index=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Zero-cost proxies: validation against NAS-Bench-Suite-Zero (NB-201, CIFAR-10)\n\n"
        f"Produced by `{command}`.\n\n"
        "Columns: Spearman of our value with the reference value (`spearman_vs_ref`, bar 0.9, 0.99 for "
        "l2_norm and synflow); Spearman with the 200-epoch `cifar10_valid_200ep` accuracy of ours "
        "(`ours_vs_acc`) and of the reference (`ref_vs_acc`) on the same cells (gap bar 0.05); "
        "`seed_vs_seed`: Spearman between two of our runs that differ only in the seed of the "
        "weights and the minibatch, on `seed_cells` of the same cells (the noise ceiling any "
        "implementation faces against a single reference draw); "
        "`s_per_cell`: mean seconds per cell on one CPU thread (shared machine).\n\n" + header + body + "\n" + notes
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=300, help="how many NB-201 cells to check")
    ap.add_argument("--sample-seed", type=int, default=0, help="seed of the cell sample")
    ap.add_argument("--seed", type=int, default=0, help="seed of the minibatch and the weights")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--proxies", nargs="*", default=None, help="default: every registered proxy")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out-csv", type=Path, default=REPO / "benchmarks/results/proxy_validation_nb201.csv")
    ap.add_argument("--doc", type=Path, default=REPO / "docs/proxy_validation.md")
    ap.add_argument("--notes", type=Path, default=None, help="markdown appended under the table")
    ap.add_argument("--first", type=int, default=None, help="compute only the first N sampled cells")
    ap.add_argument("--seed-csv", type=Path, default=None, help="results of a run with another --seed")
    ap.add_argument("--summary-only", action="store_true", help="do not compute, only summarise")
    ap.add_argument("--network", choices=("space", "graph", "shortcut-bn"), default="space",
                    help="graph: to_torch(cg, batchnorm=True), as the feature tables; space: the cell's module; "
                         "shortcut-bn: the module with a BatchNorm after each residual shortcut conv, as the graph")
    ap.add_argument("--layer-counts", type=int, default=0,
                    help="append module vs graph layer counts and nwot for the first N cells (needs both CSVs)")
    ap.add_argument("--module-csv", type=Path, default=REPO / "benchmarks/results/proxy_validation_nb201.csv",
                    help="the --network space results, for --layer-counts")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    proxies = args.proxies or list_proxies()
    cells = sample_cells(args.cells, args.sample_seed)
    if not args.summary_only:
        todo = cells if args.first is None else cells.head(args.first)
        compute(todo, proxies, args.out_csv, args.batch_size, args.seed, args.network)
    table = summarise(cells, proxies, args.out_csv, args.seed_csv)
    with pd.option_context("display.width", 200, "display.precision", 3):
        print(table.to_string(index=False))
    notes = args.notes.read_text() if args.notes else ""
    if args.layer_counts:
        notes += "\n" + layer_counts(cells, args.layer_counts, args.module_csv, args.out_csv)
    command = "python benchmarks/validate_proxies.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_markdown(table, args.doc, command.strip(), notes)
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
