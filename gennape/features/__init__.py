"""Auxiliary features of a network: zero-cost proxies and the NNGP score.

The names below are loaded on first use, so that ``gennape.features.static`` (FLOPs and params,
what prediction needs) is importable without torch.
"""

from __future__ import annotations

from gennape.core.lazy import lazy_getattr

_WHERE = {"cifar10_images": "batch", "proxy_batch": "batch", "ProxyResult": "proxies",
          "compute_proxies": "proxies", "get_proxy": "proxies", "list_proxies": "proxies",
          "register_proxy": "proxies"}

__all__ = sorted(_WHERE)


__getattr__ = lazy_getattr(__name__, {name: f"gennape.features.{module}" for name, module in _WHERE.items()})
