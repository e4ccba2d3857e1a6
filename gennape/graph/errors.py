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


def first_line(err: BaseException) -> str:
    """An exception as one line: the first line of its message, or its type if it has none."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
