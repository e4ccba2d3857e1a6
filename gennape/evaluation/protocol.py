"""Experiment protocols by name (``cfg.protocol`` of ``train.py``): ``register_protocol(name)``
decorates ``fn(cfg) -> {"rows": [...], ...}``; :mod:`gennape.evaluation.experiment` registers the
shipped ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from gennape.core.registry import Registry

Protocol = Callable[[DictConfig], dict[str, Any]]
_PROTOCOLS: Registry[Protocol] = Registry("protocol")
register_protocol = _PROTOCOLS.register
get_protocol = _PROTOCOLS.get
list_protocols = _PROTOCOLS.names
DEFAULT = "transfer"
