"""Benchmark families -> the search space their architectures come from, and the graph of one
architecture as a task trains it (input resolution, number of classes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gennape.spaces.registry import get_space

if TYPE_CHECKING:
    from gennape.graph import ComputeGraph

# Benchmark family (data tables) -> the search space its architectures come from.
FAMILY_SPACES: dict[str, str] = {
    "nb201": "nb201",
    "nb101": "nb101",
    "nb301": "darts",
    "transnas_macro": "transnas_macro",
    "transnas_micro": "transnas_micro",
    "zoo": "timm",  # graphs from the committed cache (data/zoo/graphs.jsonl.gz); timm only to rebuild it
}


def space_of(family: str) -> str:
    """The search space of ``family``; a KeyError lists the known families."""
    if family not in FAMILY_SPACES:
        raise KeyError(f"no search space known for family {family!r}; known: {', '.join(FAMILY_SPACES)}")
    return FAMILY_SPACES[family]


def graph_variant(family: str, task: str | None = None) -> str:
    """A name for the graphs of ``family`` as ``task`` builds them: the family's name for its
    default task, else ``family@CxHxW-Kcls`` (tasks that build the same networks share it)."""
    from gennape.data.loaders import resolve_task

    t, d = resolve_task(family, task), resolve_task(family)
    if (t.input_shape, t.num_classes) == (d.input_shape, d.num_classes):
        return family
    return f"{family}@{'x'.join(map(str, t.input_shape or ()))}-{t.num_classes}cls"


def graph_of(family: str, spec: str, task: str | None = None) -> ComputeGraph:
    """The canonical graph of architecture ``spec`` of ``family`` as ``task`` (default: the
    family's default task) trains it; errors name the family and the spec."""
    from gennape.data.loaders import resolve_task

    t = resolve_task(family, task)
    space = get_space(space_of(family))
    try:
        return space.graph(spec, t.input_shape, t.num_classes)
    except Exception as e:  # noqa: BLE001 - re-raised with the architecture that failed
        raise RuntimeError(f"{family}: could not build the graph of {spec!r}: {e}") from e
