"""The package's layout follows the pipeline: no import circles, no import against the stage order.

Read from the source (AST), nothing imported: a few hundred milliseconds. Every import counts,
at module level or inside a function (a lazy import is still a dependency), and so does a string
naming a module of the package (``lazy_getattr`` maps, ``importlib``); only imports under
``if TYPE_CHECKING:`` are left out of the circle checks, since they never run (they still may not
point to a later stage). See docs/architecture.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gennape"

# The pipeline, first to last: a module may import from its own stage and earlier ones only.
STAGES = ("core", "graph", "spaces", "data", "features", "runtime", "model", "inference", "evaluation", "search")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def stage(name: str) -> str:
    """A module's stage: its folder under ``gennape/`` (the package root counts as ``core``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and is_package(".".join(parts[:2])) else "core"


def package_of(name: str) -> str:
    return name if is_package(name) else name.rpartition(".")[0]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under an ``if TYPE_CHECKING:``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports(name: str) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, runs)`` for each import of a package module by ``name``;
    ``runs`` is False for type-checking-only imports."""
    tree = ast.parse(MODULES[name].read_text(), str(MODULES[name]))
    typing_only = _type_checking_nodes(tree)
    here = name.split(".") if is_package(name) else name.split(".")[:-1]
    for node in ast.walk(tree):
        runs = id(node) not in typing_only
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MODULES:
                    yield a.name, node.lineno, runs
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[: len(here) - node.level + 1] + [node.module] if node.module else
                            here[: len(here) - node.level + 1]) if node.level else node.module
            if base not in MODULES:
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                yield (sub if sub in MODULES else base), node.lineno, runs
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in MODULES:
            yield node.value, node.lineno, runs  # a module named in a string: imported by name


EDGES = {name: [(t, line, runs) for t, line, runs in imports(name) if t != name] for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (a list of nodes, the first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_every_folder_is_a_stage():
    folders = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders <= set(STAGES), f"place {sorted(folders - set(STAGES))} in STAGES (and docs/architecture.md)"
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules in the package root: {loose}; put each in its stage's folder"


def test_no_import_from_a_later_stage():
    upward = [f"{MODULES[n].relative_to(ROOT)}:{line} imports {t} ({stage(n)} -> {stage(t)})"
              for n, edges in EDGES.items() for t, line, _ in edges
              if STAGES.index(stage(t)) > STAGES.index(stage(n))]
    assert not upward, "imports against the stage order " + " > ".join(STAGES) + ":\n" + "\n".join(upward)


def test_no_module_circle():
    graph = {n: {t for t, _, runs in edges if runs} for n, edges in EDGES.items()}
    assert (cycle := find_cycle(graph)) is None, "import circle: " + " -> ".join(cycle)


def test_no_package_circle():
    graph: dict[str, set[str]] = {}
    for n, edges in EDGES.items():
        for t, _, runs in edges:
            a, b = package_of(n), package_of(t)
            if runs and a != b:
                graph.setdefault(a, set()).add(b)
    assert (cycle := find_cycle(graph)) is None, "package circle: " + " -> ".join(cycle)


@pytest.mark.parametrize("graph, cycle", [({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
                                          ({"a": {"b"}, "b": set()}, None)])
def test_find_cycle(graph, cycle):
    assert find_cycle(graph) == cycle
