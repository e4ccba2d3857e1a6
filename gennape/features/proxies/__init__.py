"""Zero-cost proxies behind a registry; importing this package registers the built-in ones."""

from gennape.features.proxies.registry import (
    ProxyResult,
    compute_proxies,
    get_proxy,
    list_proxies,
    register_proxy,
    register_shared_pass,
    run_proxies,
    run_proxy,
    shared_pass_of,
)

# Importing the proxy modules registers them.
from gennape.features.proxies import activation, gradient, jacobian, weights  # noqa: E402,F401  isort: skip

__all__ = [
    "ProxyResult",
    "compute_proxies",
    "get_proxy",
    "list_proxies",
    "register_proxy",
    "register_shared_pass",
    "run_proxies",
    "run_proxy",
    "shared_pass_of",
]
