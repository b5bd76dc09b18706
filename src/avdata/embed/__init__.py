"""Embedders: one registry, one module per embedder (``signal``, ``fingerprint``, ``vipant``, ``torchscript``,
``avc``).

``get_embedder(name, **params)`` builds one; ``embedder_status()`` says which can run here and why
not; ``media_for_line(line, root)`` resolves an index line's media below the media root. The stage
that writes ``embeddings.npy`` is ``avdata.embed.run``.
"""

from __future__ import annotations

import inspect
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from avdata.embed.base import ClipMedia, Embedder, EmbedderError, Embedding
from avdata.errors import AvdataError, OptionError
from avdata.paths import check_relative, join_checked
from avdata.registry import Registry

__all__ = ["ClipMedia", "Embedder", "Embedding", "EmbedderError", "register_embedder", "get_embedder",
           "embedder_names", "embedder_status", "media_for_line", "DEFAULT_EMBEDDER"]

DEFAULT_EMBEDDER = "signal"

# name -> factory; name -> status() ("available" or the reason it is not)
EMBEDDERS: Registry[Callable[..., Embedder]] = Registry(
    "embedder", "avdata.embedders",
    ("avdata.embed.signal", "avdata.embed.fingerprint", "avdata.embed.torchscript", "avdata.embed.vipant",
     "avdata.embed.avc"))
_STATUS: dict[str, Callable[..., str]] = {}


def register_embedder(name: str, status: Callable[..., str] | None = None
                      ) -> Callable[[Callable[..., Embedder]], Callable[..., Embedder]]:
    """Class decorator: make an embedder available by name. ``status(**params)`` (optional) returns
    ``"available"`` or why the embedder cannot run here (missing extra, missing file)."""

    def deco(factory: Callable[..., Embedder]) -> Callable[..., Embedder]:
        EMBEDDERS.add(name, factory)
        if status is not None:
            _STATUS[name] = status
        return factory

    return deco


def get_embedder(name: str, **params: Any) -> Embedder:
    """Build the embedder registered under ``name`` with its parameters (e.g. ``weights=...``).
    Text values (from ``--param KEY=VALUE``) are converted to the types the embedder declares
    (``typed_params``); a value of the wrong type is OptionError before anything runs."""
    factory = EMBEDDERS.get(name)
    params = typed_params(name, factory, params)
    try:
        inspect.signature(factory).bind(**params)
    except TypeError as e:
        raise OptionError(f"embedder {name!r}: {e} (parameters: {', '.join(params) or 'none'})") from None
    except ValueError:      # a factory without a signature: let it check its own parameters
        pass
    return factory(**params)


def typed_params(name: str, factory: Callable[..., Embedder], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` converted to the types ``factory`` declares (a dataclass's field types or the
    parameters' annotations): bool from true/false/yes/no/1/0, int, finite float; others unchanged."""
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # noqa: BLE001  a factory without resolvable hints checks its own values
        hints = {}
    out = {}
    for key, value in params.items():
        kind = _scalar_kind(hints.get(key))
        out[key] = value if kind is None else _convert(name, key, value, kind)
    return out


def _scalar_kind(hint: Any) -> type | None:
    """bool, int or float when ``hint`` is one of them (or one of them | None), else None."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    kinds = [a for a in args if a in (bool, int, float)]
    return kinds[0] if len(kinds) == 1 else None


_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _convert(name: str, key: str, value: Any, kind: type) -> Any:
    bad = OptionError(f"embedder {name!r}: parameter {key}={value!r} is not {'an' if kind is int else 'a'} "
                      f"{kind.__name__}" + (" (true or false)" if kind is bool else ""))
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise bad
    if isinstance(value, bool):
        raise bad
    try:
        number = kind(value.strip()) if isinstance(value, str) else kind(value)
    except (TypeError, ValueError):
        raise bad from None
    if kind is int and not isinstance(value, str) and number != value:
        raise bad
    if kind is float and not math.isfinite(number):
        raise OptionError(f"embedder {name!r}: parameter {key}={value!r} is not a finite number")
    return number


def embedder_names() -> list[str]:
    return EMBEDDERS.names()


def embedder_status(**params: Any) -> dict[str, str]:
    """``{name: "available" | reason}`` for every registered embedder (``params``: e.g. weights)."""
    out = {}
    for name in EMBEDDERS.names():
        check = _STATUS.get(name)
        try:
            out[name] = check(**params) if check is not None else "available"
        except AvdataError as e:
            out[name] = str(e)
    return out


@lru_cache(maxsize=16)
def _resolved_root(root: str) -> str:
    """The media root, resolved once per run rather than for every path of every line."""
    return str(Path(root).resolve())


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def media_for_line(index_line: Mapping[str, Any], root: str | os.PathLike[str]) -> ClipMedia:
    """The absolute media paths of one index line (VIP-ANT layout) below ``root``.

    ``{root}/{dir}/aclip/{id}.{aclip[0]}``, ``{root}/{dir}/frame/{id}.{frame[i]}``,
    ``{root}/{dir}/aclip_128/{id}.{aclip_128}``, ``{root}/{dir}/frame_224/{id}.{frame_224}``.
    Raises UnsafePathError (an AvdataError) for a path that would leave ``root``.
    """
    d = str(index_line.get("dir") or "")
    cid = str(index_line.get("id") or "")
    if not d or not cid:
        raise AvdataError("index line has no 'dir' or 'id'")
    base = check_relative(d).as_posix()
    resolved = _resolved_root(os.fspath(root))

    def path(folder: str, name: str) -> Path:       # checked lexically; the user's links are followed
        return join_checked(resolved, f"{base}/{folder}/{cid}.{name}")[1]

    aclips = _names(index_line.get("aclip"))
    frames = tuple(path("frame", f) for f in _names(index_line.get("frame")))
    fb = index_line.get("aclip_128")
    f224 = index_line.get("frame_224")
    return ClipMedia(audio=path("aclip", aclips[0]) if aclips else None, frames=frames,
                     fbank=path("aclip_128", str(fb)) if fb else None,
                     frames_224=path("frame_224", str(f224)) if f224 else None)
