"""Embedders by name (a minimal copy of the registry contract; the embed stage's own module
replaces it at merge)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from avdata.embed.base import ClipMedia, Embedder, Embedding
from avdata.errors import AvdataError

EmbedderFactory = Callable[..., Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}


def register_embedder(name: str) -> Callable[[EmbedderFactory], EmbedderFactory]:
    """Decorator: make an embedder factory available by name."""

    def deco(factory: EmbedderFactory) -> EmbedderFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def get_embedder(name: str, **params: Any) -> Embedder:
    """Build the embedder registered under ``name`` with ``params``."""
    if name not in _REGISTRY:
        raise AvdataError(f"unknown embedder {name!r}; known: {', '.join(sorted(_REGISTRY)) or 'none'}")
    return _REGISTRY[name](**params)


def embedder_names() -> list[str]:
    return sorted(_REGISTRY)


__all__ = ["ClipMedia", "Embedder", "Embedding", "embedder_names", "get_embedder", "register_embedder"]
