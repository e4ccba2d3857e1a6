"""The one error type the graph frontends raise for bad input."""

from __future__ import annotations


class GraphError(ValueError):
    """A network that cannot become a ComputeGraph.

    Args:
        source: the file, module or arch it came from.
        problem: what is wrong, in one line (names the op and node where there is one).
    """

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source, self.problem = source, problem
