"""Features read off the computation graph alone, without running it: ``flops`` and ``params``.

Kept apart from the proxy catalog (``gennape.features.catalog``, which registers these too) so that
prediction with a checkpoint taking only these features never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gennape.graph.ir import ComputeGraph
from gennape.core.registry import Registry

StaticFeature = Callable[[ComputeGraph], float]
_STATIC: Registry[StaticFeature] = Registry("static feature")
register_static = _STATIC.register  # decorator adding ``fn(ComputeGraph) -> float``
get_static = _STATIC.get
list_static = _STATIC.names


@register_static("flops")
def _flops(cg: ComputeGraph) -> float:
    """2 x MACs of one forward pass at batch 1."""
    return float(cg.flops)


@register_static("params")
def _params(cg: ComputeGraph) -> float:
    """Parameters of the canonical (BatchNorm-folded) graph."""
    return float(cg.params)


def static_values(cgs: Sequence[ComputeGraph], names: Sequence[str]) -> np.ndarray:
    """``[N, F]`` values of static features ``names`` of the graphs."""
    fns = [get_static(n) for n in names]
    return np.array([[fn(cg) for fn in fns] for cg in cgs], dtype=np.float64).reshape(len(cgs), len(fns))
