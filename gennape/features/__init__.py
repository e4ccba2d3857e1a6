"""Auxiliary features of a network: zero-cost proxies and the NNGP score."""

from gennape.features.batch import cifar10_images, proxy_batch
from gennape.features.proxies import (
    ProxyResult,
    compute_proxies,
    get_proxy,
    list_proxies,
    register_proxy,
)

__all__ = [
    "ProxyResult",
    "cifar10_images",
    "compute_proxies",
    "get_proxy",
    "list_proxies",
    "proxy_batch",
    "register_proxy",
]
