"""Executors run one pure per-item function over many items: inline, a local process pool, Ray.

Every executor has the same call: ``executor.map_unordered(fn, items)`` yields ``fn(item)`` results
as they finish. ``fn`` and the items must be picklable (module-level functions, dataclasses).
A new backend is one module that registers itself with ``@register_executor("name")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from avdata.errors import AvdataError

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn`` over ``items`` and yields results in completion order."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...


_REGISTRY: dict[str, Callable[..., Executor]] = {}


def register_executor(name: str) -> Callable[[Callable[..., Executor]], Callable[..., Executor]]:
    """Class decorator: make an executor available by name."""

    def deco(factory: Callable[..., Executor]) -> Callable[..., Executor]:
        _REGISTRY[name] = factory
        return factory

    return deco


def get_executor(name: str, **options: Any) -> Executor:
    """Build the executor registered under ``name`` (``inline``, ``local``, ...)."""
    from avdata.executors import local  # noqa: F401  (registers the built-in executors)

    if name not in _REGISTRY:
        raise AvdataError(f"unknown executor {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**options)


def executor_names() -> list[str]:
    from avdata.executors import local  # noqa: F401

    return sorted(_REGISTRY)
