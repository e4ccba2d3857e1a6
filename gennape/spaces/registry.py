"""Registry of NAS search spaces: each turns a spec into a faithful ``torch.nn.Module``.

A space is registered once under a short name (``nb201``, ``nb101``, ``darts``) and looked up
with :func:`get_space`. Tests parametrize over :func:`list_spaces`, so a new space is tested by
being registered.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch

from gennape.registry import Registry

if TYPE_CHECKING:
    from gennape.graph import ComputeGraph

_SPACES: Registry[type[SearchSpace]] = Registry("search space", sort=True)

S = TypeVar("S", bound="type[SearchSpace]")


class SearchSpace(abc.ABC):
    """A family of architectures given by specs, with a builder for each spec.

    Subclasses set ``name`` and ``input_shape`` and implement the abstract methods. A spec is a
    small immutable value object (hashable, comparable); ``spec_to_str`` is its stable string id
    and ``parse(spec_to_str(s)) == s``.
    """

    name: ClassVar[str]
    input_shape: ClassVar[tuple[int, int, int]] = (3, 32, 32)
    num_classes: ClassVar[int] = 10

    @abc.abstractmethod
    def build(self, spec: Any, **kwargs: Any) -> torch.nn.Module:
        """Build the network of ``spec`` with fresh weights.

        Args:
            spec: a spec of this space (or anything :meth:`parse` accepts).
            kwargs: space-specific size arguments (see each space).
        """

    @abc.abstractmethod
    def parse(self, value: Any) -> Any:
        """Turn a table cell or a string id into a spec; raise ``ValueError`` naming the problem."""

    @abc.abstractmethod
    def spec_to_str(self, spec: Any) -> str:
        """A stable string id of ``spec``; :meth:`parse` reads it back."""

    @abc.abstractmethod
    def sample(self, n: int, seed: int = 0) -> list[Any]:
        """Draw ``n`` valid specs uniformly at random (reproducible for a given ``seed``).

        Args:
            n: how many specs.
            seed: random seed; the same seed gives the same list.
        """

    def graph(self, spec: Any, input_shape: tuple[int, ...] | None = None,
              num_classes: int | None = None) -> "ComputeGraph":
        """The canonical ComputeGraph of ``spec``'s network, built and traced.

        Args:
            spec: a spec (or anything :meth:`parse` accepts).
            input_shape: (C, H, W) of the input (default: the space's ``input_shape``).
            num_classes: classifier outputs (default: the builder's).
        """
        from gennape.graph import from_module

        kwargs = {} if num_classes is None else {"num_classes": num_classes}
        module = self.build(self.parse(spec), **kwargs)
        shape = tuple(input_shape or self.input_shape)
        return from_module(module, torch.zeros(1, *shape), name=spec if isinstance(spec, str) else None)

    def enumerate(self) -> list[Any]:
        """Every spec of the space, when the space is small enough to list."""
        raise NotImplementedError(
            f"search space {self.name!r} is too large to enumerate; use sample(n, seed) instead"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def register_space(name: str) -> Callable[[S], S]:
    """Class decorator that registers a :class:`SearchSpace` subclass under ``name``.

    Args:
        name: the registry key; must be unique.
    """

    def deco(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
            raise TypeError(f"register_space({name!r}) expects a SearchSpace subclass, got {cls}")
        _SPACES.add(name, cls)
        cls.name = name
        return cls

    return deco


def get_space(name: str) -> SearchSpace:
    """A fresh instance of the search space registered as ``name``.

    Args:
        name: a registered name (see :func:`list_spaces`).
    """
    return _SPACES.get(name)()


def list_spaces() -> list[str]:
    """Names of all registered search spaces, sorted."""
    return _SPACES.names()
