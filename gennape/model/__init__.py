"""The GENNAPE predictor: graph encoder, contrastive pretraining, fuzzy heads, target transform.

The names below are loaded on first use: importing a submodule (``gennape.model.checkpoint`` for
prediction) does not import the others, nor Lightning (training only).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "laplacian_spectrum": "contrastive", "soft_nt_xent": "contrastive",
    "GraphEncoder": "encoder", "get_layer": "encoder", "list_layers": "encoder", "register_layer": "encoder",
    "FuzzyCMeans": "fcm", "cmeans": "fcm", "FuzzyHeads": "heads", "MLPHead": "heads",
    "GennapeNet": "predictor", "build_net": "predictor",
    "ContrastiveModule": "lightning_modules", "RegressionModule": "lightning_modules",
    "TargetTransform": "transform",
}

__all__ = ["GraphEncoder", "register_layer", "get_layer", "list_layers", "laplacian_spectrum",
           "soft_nt_xent", "FuzzyCMeans", "cmeans", "FuzzyHeads", "MLPHead", "TargetTransform",
           "GennapeNet", "build_net", "ContrastiveModule", "RegressionModule"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"gennape.model.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
