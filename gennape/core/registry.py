"""One small registry type behind every ``register_x`` / ``get_x`` / ``list_x`` in gennape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named items of one kind (metrics, GNN layers, proxies, executors, search spaces...).

    Args:
        kind: what the items are, for error messages ("metric", "search space"...).
        sort: list names sorted (else in registration order).
    """

    def __init__(self, kind: str, sort: bool = False) -> None:
        self.kind, self.sort = kind, sort
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register ``item`` as ``name``; registering the same object again is a no-op."""
        if name in self._items and self._items[name] is not item:
            raise ValueError(f"{self.kind} {name!r} is already registered ({self._items[name]!r})")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda item: self.add(name, item)

    def register_subclass(self, name: str, base: type) -> Callable[[T], T]:
        """Class decorator: register a subclass of ``base`` as ``name`` and set its ``name``
        attribute; anything else is a TypeError."""

        def deco(cls: T) -> T:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(f"registering {self.kind} {name!r} expects a {base.__name__} subclass, got {cls}")
            self.add(name, cls)
            cls.name = name  # type: ignore[attr-defined]
            return cls

        return deco

    def get(self, name: str) -> T:
        """The item registered as ``name``; a KeyError lists the registered names."""
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Registered names (sorted if the registry sorts)."""
        return sorted(self._items) if self.sort else list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
