"""Paths taken from data (ids, relative video paths) joined under a root, never outside it.

The link rule (one for every backend of fetch and for extract's video lookup):

- **Data-derived paths never climb out of the root**: a path read from a list is checked lexically
  (no absolute path, drive letter, backslash, NUL or ``..`` part) before it is joined.
- **Reading a tree the user pointed at** (``dir:PATH``, a ``file://`` template, extract's
  ``--videos``): symlinks inside that tree are followed, wherever they lead. They were made by the
  user (a folder on another disk is legitimate); a list cannot create them. What a link leads to
  must still be media: fetch probes every download before recording it, so a link to a non-media
  file (``passwd.mp4 -> /etc/passwd``) is recorded ``not_media`` and never lands under a final name.
  Use ``source_path``.
- **Writing** (output trees): the joined path, with symlinks resolved, must stay inside the root.
  Use ``safe_join`` (the default ``follow_links=False``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from avdata.errors import UnsafePathError

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.\-]*")


def is_youtube_id(text: str) -> bool:
    """True for exactly 11 characters of ``[A-Za-z0-9_-]``."""
    return _YOUTUBE_ID.fullmatch(text) is not None


_PLAIN_RELATIVE = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9_.\-]*/)*[A-Za-z0-9_-][A-Za-z0-9_.\-]*")


def is_plain_relative(rel: str) -> bool:
    """A quick yes for the common safe case: relative, ``/``-separated parts of ``[A-Za-z0-9_.-]``
    none of which starts with a dot (so no ``.`` or ``..``). False means: ask ``check_relative``."""
    return _PLAIN_RELATIVE.fullmatch(rel) is not None


def check_relative(rel: str) -> PurePosixPath:
    """Return ``rel`` as a clean relative POSIX path, or raise UnsafePathError.

    Refused: empty paths, absolute paths, drive letters, backslashes, NUL bytes and any ``..`` part.
    """
    if not rel or "\x00" in rel:
        raise UnsafePathError(f"empty path or NUL byte in path {rel!r}")
    if "\\" in rel or re.match(r"^[A-Za-z]:", rel):
        raise UnsafePathError(f"not a relative POSIX path: {rel!r}")
    p = PurePosixPath(rel)
    if p.is_absolute():
        raise UnsafePathError(f"absolute path not allowed: {rel!r}")
    if any(part == ".." for part in p.parts):
        raise UnsafePathError(f"'..' not allowed in path: {rel!r}")
    parts = [part for part in p.parts if part != "."]
    if not parts:
        raise UnsafePathError(f"path names no file: {rel!r}")
    return PurePosixPath(*parts)


def join_checked(root: str | os.PathLike[str], rel: str) -> tuple[str, Path]:
    """``rel`` checked lexically (no absolute path, no ``..``; a plain name costs one regex match) and
    joined under ``root``, which the caller resolved once: (the clean relative path, the joined path).
    For reading many paths of a user's tree below one root (``safe_join(follow_links=True)`` resolves
    the root on every call)."""
    clean = rel if is_plain_relative(rel) else check_relative(rel).as_posix()
    return clean, Path(os.path.join(root, clean))


def safe_join(root: str | os.PathLike[str], rel: str, *, follow_links: bool = False) -> Path:
    """Join a data-derived relative path under ``root``; the result never leaves ``root``.

    The path itself is always checked (no absolute path, no ``..``). With ``follow_links=False``
    (the default, for anything we write) symlinks already below ``root`` are resolved and must
    still point inside it. ``follow_links=True`` is for *reading* a user's own tree, where a
    symlink to another disk is legitimate: the check is then lexical only.
    """
    root_path = Path(root).resolve()
    clean = check_relative(rel)
    joined = root_path.joinpath(*clean.parts)
    if follow_links:
        return joined
    resolved = joined.resolve()
    if resolved != root_path and root_path not in resolved.parents:
        raise UnsafePathError(f"path {rel!r} resolves outside {root_path}")
    return joined


def source_path(root: str | os.PathLike[str], rel: str) -> Path:
    """Where a data-derived relative path lies in a tree the user pointed at, for reading (see the
    link rule above: lexical check, the user's symlinks followed)."""
    return safe_join(root, rel, follow_links=True)


def safe_name(name: str) -> str:
    """Check that ``name`` can be one file-name component (ids used in output file names)."""
    if not _SAFE_NAME.fullmatch(name) or name in {".", ".."}:
        raise UnsafePathError(f"not a safe file name component: {name!r}")
    return name
