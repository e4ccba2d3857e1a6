"""Auxiliary features of a network: zero-cost proxies and the NNGP score.

The names below are loaded on first use, so that ``gennape.features.static`` (FLOPs and params,
what prediction needs) is importable without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"cifar10_images": "batch", "proxy_batch": "batch", "ProxyResult": "proxies",
          "compute_proxies": "proxies", "get_proxy": "proxies", "list_proxies": "proxies",
          "register_proxy": "proxies"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"gennape.features.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
