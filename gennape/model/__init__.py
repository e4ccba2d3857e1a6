"""The GENNAPE predictor: graph encoder, contrastive pretraining, fuzzy heads, target transform.

The names below are loaded on first use: importing a submodule (``gennape.model.checkpoint`` for
prediction) does not import the others, nor Lightning (training only).
"""

from __future__ import annotations

from gennape.core.lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, {name: f"gennape.model.{module}" for name, module in _WHERE.items()})
