"""Benchmark data: pinned upstream sources, the fetch/derive step and per-family loaders.

``python -m gennape.data fetch`` puts everything into the project's ``data/``; the loaders read
from :func:`gennape.core.paths.data_root`.
"""

from gennape.core.paths import data_root, mirror_root
from gennape.data.loaders import TARGETS, list_families, load_cifar10, load_family, load_table

__all__ = [
    "TARGETS",
    "data_root",
    "list_families",
    "load_cifar10",
    "load_family",
    "load_table",
    "mirror_root",
]
