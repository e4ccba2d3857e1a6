"""NAS search spaces: specs -> faithful ``torch.nn.Module`` builders, behind a registry."""

from gennape.spaces.registry import SearchSpace, get_space, list_spaces, register_space

# Importing the space modules registers them.
from gennape.spaces import darts, nb101, nb201, timm_zoo, transnas  # noqa: E402,F401  isort: skip

__all__ = ["SearchSpace", "get_space", "list_spaces", "register_space"]
