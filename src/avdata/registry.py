"""One registry mechanism for every extension point (formats, fetch backends, executors, embedders,
searchers, weighting schemes, score layouts, list sniffers).

A ``Registry`` maps names to objects. Built-in entries live in modules named by path
(``builtins``) and are imported the first time the registry is asked, so no package imports its
own plugins (no import cycles). Installed packages add entries through entry points in the
registry's group (``avdata.formats``, ``avdata.backends``, ``avdata.executors``,
``avdata.embedders``, ``avdata.searchers``, ``avdata.weights``, ``avdata.layouts``,
``avdata.sniffers``): an entry point ``name = "pkg.module:obj"`` registers ``obj`` under ``name``;
``name = "pkg.module"`` imports a module that registers its entries itself (``@REGISTRY.register``).

An unknown name is one error for every kind: ``unknown fetch backend 'ytdl'; known: dir, file,
...; did you mean ytdlp?``. ``avdata plugins`` lists every registry's entries and where each comes
from (see ``docs/extending.md``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from avdata.errors import OptionError, did_you_mean

T = TypeVar("T")
BUILTIN = "avdata"


class UnknownNameError(OptionError):
    """A name no registry entry has (a usage error: the message lists the known names)."""


class PluginError(OptionError):
    """An installed plugin's entry point that cannot be loaded (named with its package)."""


class Registry(Generic[T]):
    """Named entries of one kind (see the module docstring)."""

    def __init__(self, kind: str, group: str, builtins: Sequence[str] = ()) -> None:
        self.kind = kind
        self.group = group
        self.builtins = tuple(builtins)
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False
        self._loading = False
        REGISTRIES[kind] = self

    # -- adding ------------------------------------------------------------------------------
    def register(self, *names: str, origin: str | None = None) -> Callable[[T], T]:
        """Decorator: register the object under each of ``names``."""
        def deco(obj: T) -> T:
            for name in names:
                self.add(name, obj, origin)
            return obj
        return deco

    def add(self, name: str, obj: T, origin: str | None = None) -> None:
        """Register ``obj`` under ``name`` (a later registration of the same name wins)."""
        self._items[name] = obj
        module = getattr(getattr(obj, "func", obj), "__module__", None) or ""     # a partial: its function's
        self._origins[name] = origin or (BUILTIN if module.startswith("avdata.") or not module
                                         else module.split(".")[0])

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> None:
        """Import the built-in modules and the installed plugins of this registry (once)."""
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            for module in self.builtins:
                importlib.import_module(module)
            for ep in _entry_points(self.group):
                self._load_entry_point(ep)
            self._loaded = True
        finally:
            self._loading = False

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        package = dist.name if dist is not None else ep.value.split(".")[0]
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plugin is named, never a traceback
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) of package {package} in {self.group}: cannot "
                              f"be loaded ({type(e).__name__}: {e})") from e
        if ":" in ep.value:
            self.add(ep.name, obj, origin=package)
        else:                   # a module that registered its entries on import
            for name, item in list(self._items.items()):
                if getattr(item, "__module__", "").startswith(ep.value):
                    self._origins[name] = package

    # -- asking ------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The entry ``name``, or UnknownNameError listing the known ones."""
        self.load()
        try:
            return self._items[name]
        except KeyError:
            raise self.unknown(name) from None

    def find(self, name: str) -> T | None:
        self.load()
        return self._items.get(name)

    def unknown(self, name: str) -> UnknownNameError:
        known = self.names()
        return UnknownNameError(f"unknown {self.kind} {name!r}; known: {', '.join(known) or 'none'}"
                                f"{did_you_mean(str(name), known)}")

    def names(self) -> list[str]:
        self.load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self.load()
        return iter(sorted(self._items.items()))

    def origin(self, name: str) -> str:
        """``avdata`` for a built-in entry, else the installed package it comes from."""
        self.load()
        return self._origins.get(name, BUILTIN)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items


REGISTRIES: dict[str, Registry[Any]] = {}


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    try:
        return list(importlib.metadata.entry_points(group=group))
    except Exception:  # noqa: BLE001 - broken metadata of an unrelated package must not stop avdata
        return []


def all_registries() -> dict[str, Registry[Any]]:
    """Every registry, by kind, with the built-in ones created."""
    for module in ("avdata.sources.registry", "avdata.fetch.backend", "avdata.executors", "avdata.embed",
                   "avdata.balance.search", "avdata.weights", "avdata.audioscope.score", "avdata.loaders.dataset",
                   "avdata.sources.sniff"):
        importlib.import_module(module)
    return dict(sorted(REGISTRIES.items()))
