"""Registry of NAS search spaces: each turns a spec into a faithful ``torch.nn.Module``.

A space is registered once under a short name (``nb201``, ``nb101``, ``darts``) and looked up
with :func:`get_space`. Tests parametrize over :func:`list_spaces`, so a new space is tested by
being registered.
"""

from __future__ import annotations

import abc
import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch

from gennape.core.registry import Registry

if TYPE_CHECKING:
    from gennape.graph import ComputeGraph
    from gennape.spaces.templates import SlotTemplate

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
        """The canonical ComputeGraph of ``spec``'s network: :meth:`traced_graph`'s, through the
        space's :meth:`template` where it has one (the same graph, node for node, faster).

        Args:
            spec: a spec (or anything :meth:`parse` accepts).
            input_shape: (C, H, W) of the input (default: the space's ``input_shape``).
            num_classes: classifier outputs (default: the builder's).
        """
        shape = tuple(input_shape or self.input_shape)
        template = self.template(shape, num_classes)
        if template is None:
            return self.traced_graph(spec, shape, num_classes)
        with _gc_paused():
            return template.graph(self.slot_choices(self.parse(spec)), name=spec if isinstance(spec, str) else None)

    def traced_graph(self, spec: Any, input_shape: tuple[int, ...] | None = None,
                     num_classes: int | None = None) -> "ComputeGraph":
        """The reference graph of ``spec``: its network built (weights left uninitialised: only
        shapes matter), traced with torch.fx and canonicalised. Arguments as :meth:`graph`."""
        from gennape.graph import from_module
        from gennape.spaces.templates import no_init

        kwargs = {} if num_classes is None else {"num_classes": num_classes}
        shape = tuple(input_shape or self.input_shape)
        with _gc_paused():
            with no_init():
                module = self.build(self.parse(spec), **kwargs)
            return from_module(module, torch.zeros(1, *shape), name=spec if isinstance(spec, str) else None)

    # --- templates: specs that only choose the op at fixed positions of a fixed network -------

    def template_network(self, **kwargs: Any) -> torch.nn.Module | None:
        """The space's network with a ``templates.Slot`` at every position a spec chooses an op,
        built by the space's own classes with ``templates.slot_factory(self.slot_op, ...)`` (and
        ``templates.Choice(i)`` as the i-th op); None (the default) when specs choose more than ops
        at fixed positions. ``kwargs`` are :meth:`build`'s size arguments."""
        return None

    def slot_choices(self, spec: Any) -> tuple:
        """The op ``spec`` picks at each slot of :meth:`template_network`, by slot index."""
        raise NotImplementedError(f"search space {self.name!r} has no template")

    def slot_op(self, choice: Any, *args: Any) -> torch.nn.Module:
        """The module of op ``choice`` at a slot with the factory arguments ``args`` (channels...)."""
        raise NotImplementedError(f"search space {self.name!r} has no template")

    def template(self, input_shape: tuple[int, ...] | None = None,
                 num_classes: int | None = None) -> "SlotTemplate | None":
        """The traced :meth:`template_network` at this input shape and class count (made once per
        process), or None for a space without one."""
        if type(self).template_network is SearchSpace.template_network:
            return None
        from gennape.spaces.templates import SlotTemplate, cached_template, no_init

        shape = tuple(input_shape or self.input_shape)
        kwargs = {} if num_classes is None else {"num_classes": num_classes}

        def make() -> SlotTemplate:
            with no_init():
                network = self.template_network(**kwargs)
            return SlotTemplate(network, shape, self.slot_op)

        return cached_template((type(self), shape, num_classes), make)

    def enumerate(self) -> list[Any]:
        """Every spec of the space, when the space is small enough to list."""
        raise NotImplementedError(
            f"search space {self.name!r} is too large to enumerate; use sample(n, seed) instead"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while one graph is built: building allocates thousands of
    objects that all stay alive until the end (modules, fx nodes), so the collections it would
    trigger find nothing to free yet cost a third of the time (NB-301); the next collection after
    it frees what it left."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def register_space(name: str) -> Callable[[S], S]:
    """Class decorator that registers a :class:`SearchSpace` subclass under ``name``.

    Args:
        name: the registry key; must be unique.
    """
    return _SPACES.register_subclass(name, SearchSpace)


def get_space(name: str) -> SearchSpace:
    """A fresh instance of the search space registered as ``name``.

    Args:
        name: a registered name (see :func:`list_spaces`).
    """
    return _SPACES.get(name)()


def list_spaces() -> list[str]:
    """Names of all registered search spaces, sorted."""
    return _SPACES.names()
