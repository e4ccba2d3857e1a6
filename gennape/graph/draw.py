"""Drawing a ComputeGraph: ops as labelled nodes, data flow top to bottom, readable at 300 nodes."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402

from gennape.graph.ir import ComputeGraph  # noqa: E402


def layered_positions(cg: ComputeGraph) -> dict[int, tuple[float, float]]:
    """Longest-path layers from the input (y) and spread within a layer (x)."""
    depth = [0] * len(cg.nodes)
    for i, srcs in enumerate(cg.inputs):
        depth[i] = max((depth[s] + 1 for s in srcs), default=0)
    layers: dict[int, list[int]] = {}
    for i, d in enumerate(depth):
        layers.setdefault(d, []).append(i)
    pos = {}
    for d, members in layers.items():
        for k, i in enumerate(members):
            pos[i] = (k - (len(members) - 1) / 2, -d)
    return pos


def draw(cg: ComputeGraph, path: str | os.PathLike, title: str | None = None) -> None:
    """Save a picture of ``cg`` (PNG, SVG or PDF by the file extension)."""
    g = cg.to_networkx()
    pos = layered_positions(cg)
    depth = 1 + max(-y for _, y in pos.values())
    width = 1 + max(abs(x) for x, _ in pos.values()) * 2
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * width), max(4.0, 0.45 * depth)))
    ops = sorted({n.op for n in cg.nodes})
    cmap = plt.get_cmap("tab20")
    colors = [cmap(ops.index(n.op) % 20) for n in cg.nodes]
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=6, width=0.6, alpha=0.6, node_size=300)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colors, node_size=300, linewidths=0.3, edgecolors="k")
    labels = {i: n.op + (f"\n{n.kernel[0]}x{n.kernel[1]}" if n.kernel else "") for i, n in enumerate(cg.nodes)}
    nx.draw_networkx_labels(g, pos, labels, ax=ax, font_size=5)
    ax.set_title(title or f"{cg.name}  ({len(cg)} nodes, {cg.flops / 1e6:.1f} MFLOPs, {cg.params / 1e6:.3f} M params)",
                 fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
