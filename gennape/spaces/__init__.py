"""NAS search spaces: specs -> faithful ``torch.nn.Module`` builders, behind a registry."""

from gennape.spaces.registry import SearchSpace, get_space, list_spaces, register_space

# Importing the space modules registers them.
from gennape.spaces import darts, nb101, nb201  # noqa: E402,F401  isort: skip

# Benchmark family (data tables) -> the search space its architectures come from.
FAMILY_SPACES: dict[str, str] = {"nb201": "nb201", "nb101": "nb101", "nb301": "darts"}

__all__ = ["FAMILY_SPACES", "SearchSpace", "get_space", "list_spaces", "register_space"]
