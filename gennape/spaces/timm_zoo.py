"""The real-world ImageNet zoo: timm's ImageNet-1k models as a search space ``timm``.

The zoo is defined by ``data/zoo/timm_in1k_models.csv`` (columns model, arch, tag, top1, img_size,
param_count_m; several models may share an arch). A spec is an arch name listed there; each arch
is one network, built by ``timm.create_model(arch, pretrained=False)`` at its resolution (the most
common ``img_size`` among its rows, a tie going to the smaller one; ``input_shape_of``).

timm needs torchvision, which does not import beside the project's torch, so networks are only
*built* in the zoo venv (``bash scripts/zoo_venv.sh``; ``scripts/build_zoo.py``). The runtime
reads their canonical graphs from the committed cache ``data/zoo/graphs.jsonl.gz`` with
:func:`load_zoo_graphs` and never imports timm.
"""

from __future__ import annotations

import collections
import csv
import gzip
import json
import random
import zlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gennape.spaces.registry import SearchSpace, register_space

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gennape.graph.ir import ComputeGraph

ZOO_DIR = Path(__file__).resolve().parents[2] / "data" / "zoo"
ZOO_CSV = ZOO_DIR / "timm_in1k_models.csv"
ZOO_GRAPHS = ZOO_DIR / "graphs.jsonl.gz"
NO_TIMM = "timm is not importable here: the zoo is built in .venv-zoo: bash scripts/zoo_venv.sh"


@lru_cache(maxsize=4)
def zoo_archs(path: str | None = None) -> dict[str, dict[str, Any]]:
    """arch -> {img_size, param_count_m, top1 (median over its rows), models}, in CSV order."""
    rows: dict[str, list[dict]] = collections.defaultdict(list)
    with open(path or ZOO_CSV, newline="") as f:
        for r in csv.DictReader(f):
            rows[r["arch"]].append(r)
    out: dict[str, dict[str, Any]] = {}
    for arch, rs in rows.items():
        sizes = collections.Counter(int(r["img_size"]) for r in rs)
        size = min(sizes, key=lambda s: (-sizes[s], s))
        top1 = sorted(float(r["top1"]) for r in rs)
        out[arch] = {"img_size": size,
                     "param_count_m": next(float(r["param_count_m"]) for r in rs if int(r["img_size"]) == size),
                     "top1": (top1[(len(top1) - 1) // 2] + top1[len(top1) // 2]) / 2, "models": len(rs)}
    return out


def read_zoo_records(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The cache's records (built and failed), one per arch; a truncated tail (a build killed while
    writing) is dropped."""
    recs: list[dict[str, Any]] = []
    try:
        with gzip.open(path or ZOO_GRAPHS, "rt") as f:
            for line in f:
                if line.strip():
                    recs.append(json.loads(line))
    except (EOFError, gzip.BadGzipFile, zlib.error, json.JSONDecodeError):
        pass
    latest: dict[str, dict[str, Any]] = {}
    for r in recs:
        if not (r["arch"] in latest and latest[r["arch"]]["ok"] and not r["ok"]):
            latest[r["arch"]] = r
    return list(latest.values())


def load_zoo_graphs(path: str | Path | None = None) -> dict[str, "ComputeGraph"]:
    """arch -> canonical ComputeGraph, for every arch the cache holds a built graph of."""
    from gennape.graph.ir import ComputeGraph

    return {r["arch"]: ComputeGraph.from_dict(r["graph"]) for r in read_zoo_records(path) if r["ok"]}


@register_space("timm")
class TimmZooSpace(SearchSpace):
    """timm's ImageNet-1k models listed in ``data/zoo/timm_in1k_models.csv``; a spec is an arch."""

    name = "timm"
    input_shape = (3, 224, 224)  # the most common; each arch has its own: ``input_shape_of``
    num_classes = 1000

    def parse(self, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"a timm zoo spec is an arch name, not {type(value).__name__}: {value!r}")
        if value not in zoo_archs():
            raise ValueError(f"{value!r} is not an arch of the timm zoo ({ZOO_CSV.name})")
        return value

    def spec_to_str(self, spec: str) -> str:
        return self.parse(spec)

    def input_shape_of(self, spec: str) -> tuple[int, int, int]:
        size = zoo_archs()[self.parse(spec)]["img_size"]
        return (3, size, size)

    def build(self, spec: str, **kwargs: Any) -> "torch.nn.Module":
        arch = self.parse(spec)
        try:
            import timm
        except Exception as e:  # ImportError, or torchvision failing beside this torch
            raise ImportError(NO_TIMM) from e
        return timm.create_model(arch, pretrained=False, **kwargs)

    def graph(self, spec: str, input_shape: tuple[int, ...] | None = None,
              num_classes: int | None = None) -> "ComputeGraph":
        """The cached graph when asked at the arch's own resolution and 1000 classes; otherwise
        traced from a fresh timm module (zoo venv only)."""
        arch = self.parse(spec)
        if input_shape in (None, self.input_shape_of(arch)) and num_classes in (None, 1000):
            graphs = _cached_graphs()
            if arch in graphs:
                return graphs[arch]
        import torch

        from gennape.graph import from_module

        kwargs = {} if num_classes is None else {"num_classes": num_classes}
        shape = input_shape or self.input_shape_of(arch)
        return from_module(self.build(arch, **kwargs).eval(), torch.zeros(1, *shape), name=arch)

    def sample(self, n: int, seed: int = 0) -> list[str]:
        archs = list(zoo_archs())
        return random.Random(seed).sample(archs, min(n, len(archs)))

    def enumerate(self) -> list[str]:
        return list(zoo_archs())


@lru_cache(maxsize=1)
def _cached_graphs() -> dict[str, "ComputeGraph"]:
    return load_zoo_graphs()


__all__ = ["TimmZooSpace", "load_zoo_graphs", "read_zoo_records", "zoo_archs", "NO_TIMM", "ZOO_CSV", "ZOO_GRAPHS"]
