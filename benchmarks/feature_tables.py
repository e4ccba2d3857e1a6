"""What the shipped feature tables hold, and how well each feature alone ranks its family.

For every family store (``data/features/<family>.sqlite``) and every feature in it, one row:

- ``archs``: architectures of the family with a value; ``missing``: those recorded as missing,
  with the most common reason; ``graphs``: distinct graphs with a row; ``s_per_graph``: mean
  worker seconds per graph (a shared pass, e.g. snip/grad_norm/fisher/plain, counts whole for
  each of its members);
- ``srcc``, ``kendall``, ``ndcg10``: the feature alone against the family's target accuracy, on
  the architectures with a value (the evaluation's ``feature:<name>`` baseline, without a model);
- where the family table has NAS-Bench-Suite-Zero's value of the same proxy (``ref_<name>``):
  ``ref_archs`` (those with both values; NASLib's failure value -1e8 counts as missing),
  ``vs_ref`` (Spearman of ours with the reference), ``ref_srcc`` (the reference's Spearman with
  the accuracy on the same architectures) and ``srcc_on_ref`` (ours on the same architectures).

The NB-201 proxy bars of the issue are checked on a fresh sample by ``validate_proxies.py``; this
report covers the tables as shipped, NB-101 and NB-301 included. It reads only the stores and the
data mirror: no network is built, so it takes seconds.

    python benchmarks/feature_tables.py        # writes docs/feature_tables.md and .json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gennape.data.loaders import load_family, resolve_task
from gennape.data.tasks import list_tasks
from gennape.features.store import FeatureStore, default_path
from gennape.model.metrics import RANKING_METRICS, score, srcc
from gennape.data.families import graph_variant

REPO = Path(__file__).resolve().parents[1]


def stored_tasks() -> list[str]:
    """Tasks whose networks have a feature store (``data/features/<graph variant>.sqlite``)."""
    out = []
    for name in list_tasks():
        family = name.split("/")[0]
        try:
            if default_path(graph_variant(family, name)).is_file():
                out.append(name)
        except KeyError:  # a task without a loader or search space here
            continue
    return out
NASLIB_FAILED = -1e7  # NASLib stores -1e8 for a proxy that failed


def arch_rows(store: FeatureStore, table: pd.DataFrame, target: str) -> pd.DataFrame:
    """Long table ``key, hash, feature, value, reason, seconds, <target>, ref_*`` of the store's
    architectures that are in the family ``table`` (specs as keys)."""
    keys = pd.DataFrame([(k, h) for k, (h, _) in store.archs().items() if h is not None], columns=["key", "hash"])
    long = keys.merge(store.rows(), on="hash")
    refs = [c for c in table.columns if c.startswith("ref_")]
    return long.merge(table[["spec", target, *refs]].drop_duplicates("spec"), left_on="key", right_on="spec")


def summarise(store: FeatureStore, table: pd.DataFrame, target: str) -> pd.DataFrame:
    """One row per feature of ``store``: coverage, cost, and its ranking quality (see module doc)."""
    rows = arch_rows(store, table, target)
    out = []
    for name, part in rows.groupby("feature", sort=True):
        has = part[part["value"].notna()]
        reasons = part.loc[part["value"].isna(), "reason"].value_counts()
        row: dict[str, object] = {
            "feature": name,
            "archs": len(has),
            "missing": int(reasons.sum()),
            "reason": "; ".join(f"{r} ({n})" for r, n in reasons.items()),
            "graphs": part["hash"].nunique(),
            "s_per_graph": float(part.drop_duplicates("hash")["seconds"].mean()),
        }
        row |= score(has[target].to_numpy(), has["value"].to_numpy(), RANKING_METRICS) if len(has) > 2 else {}
        ref = f"ref_{name}"
        if ref in part.columns:
            both = has[has[ref].notna() & (has[ref] > NASLIB_FAILED)]
            if len(both) > 2:
                row |= {
                    "ref_archs": len(both),
                    "vs_ref": srcc(both[ref], both["value"]),
                    "srcc_on_ref": srcc(both[target], both["value"]),
                    "ref_srcc": srcc(both[target], both[ref]),
                }
        out.append(row)
    return pd.DataFrame(out)


LEGEND = """Produced by `python benchmarks/feature_tables.py` from the shipped stores (seconds; no network is
built). Per family and feature: `archs` with a value and `missing` (recorded as missing, with the
reasons and how many architectures each) among the family's architectures whose graph is in the
store; `graphs`: distinct graphs with a row; `s_per_graph`: mean worker seconds per graph (a
shared pass, snip/grad_norm/fisher/plain, counts whole for each of its members); `srcc`,
`kendall`, `ndcg10`: the feature alone against the target accuracy on the architectures with a
value. Where the family table has NAS-Bench-Suite-Zero's value of the same proxy: `ref_archs`
with both values (NASLib's failure value -1e8 is missing), `vs_ref`: Spearman of ours with the
reference, `srcc_on_ref` and `ref_srcc`: ours and the reference against the accuracy on those
architectures. The NB-201 bars of the proxy definitions are checked on a fresh sample by
`benchmarks/validate_proxies.py` (docs/proxy_validation.md).

"""

COLUMNS = ["feature", "archs", "missing", "reason", "graphs", "s_per_graph", "srcc", "kendall", "ndcg10",
           "ref_archs", "vs_ref", "srcc_on_ref", "ref_srcc"]


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a markdown table (– where a value does not apply)."""
    def cell(col: str, v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        if col == "s_per_graph":
            return f"{v:.2f}"
        if isinstance(v, float) and col not in ("archs", "missing", "graphs", "ref_archs"):
            return f"{v:.3f}"
        return str(int(v)) if isinstance(v, float) else str(v)

    frame = summary.reindex(columns=COLUMNS)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(c, getattr(r, c)) for c in COLUMNS) + " |" for r in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", nargs="+", default=None,
                    help="families or tasks (family/dataset) whose store to report; default: every task with one")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "feature_tables.md")
    args = ap.parse_args(argv)
    parts, record = [], {}
    known = stored_tasks()
    for name in args.families or known:
        family = name.split("/")[0]
        task = next((t for t in known if t == name or (t.split("/")[0] == name and resolve_task(name).name == t)), None)
        if task is None:
            print(f"error: no feature store for family or task {name!r} (tasks with one: {', '.join(known)})", file=sys.stderr)
            return 2
        path, target = default_path(graph_variant(family, task)), resolve_task(family, task).target
        with FeatureStore(path) as store:
            summary = summarise(store, load_family(family, task=task), target)
        label = family if task == resolve_task(family).name else task  # the default task keeps its family's name
        record[label] = json.loads(summary.to_json(orient="records"))
        parts.append(f"## {label} (target `{target}`, store `{path.relative_to(REPO)}`)\n\n{markdown(summary)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# Feature tables: coverage, cost, and each feature alone\n\n" + LEGEND + "\n".join(parts))
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
