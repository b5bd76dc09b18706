"""The lock file: JSON lines, a header, one line per clip, and a trailer that seals them.

    {"avdata_lock": 1, "avdata_version": ..., "index": [...], "lists": [...], "coverage": {...}}
    {"split": "eval", "id": "...", "index_file": "src_eval_segments.csv", "line": 1,
     "files": [["all_0_35000/aclip/ID.p0.mp3", SIZE, "SHA256"], ...], "digest": "...", "row": "..."}
    ...
    {"avdata_lock_end": 1, "clips": N, "sha256": "SHA-256 of every line above, LF included"}

``digest`` is the SHA-256 of the clip's ``path size sha256`` lines: two builds hold the same clip
when their digests agree. ``row`` is the clip's row of its source list (when the clip table was
given). A file whose trailer is missing (a cut copy) or whose lines do not hash to it (an edit) is
refused in one line, as is a lock of another format version.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from avdata.errors import AvdataError

FORMAT = 1
HEADER_KEY = "avdata_lock"
END_KEY = "avdata_lock_end"


class LockError(AvdataError):
    """A lock file that cannot be used (another format version, cut short, edited, not a lock)."""


def clip_digest(files: list[list[Any]]) -> str:
    """The SHA-256 of a clip's ``path size sha256`` lines (its identity across builds)."""
    h = hashlib.sha256()
    for path, size, sha in files:
        h.update(f"{path} {size} {sha}\n".encode())
    return h.hexdigest()


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8") + b"\n"


def trailer(clips: int, sha256: str) -> dict[str, Any]:
    return {END_KEY: FORMAT, "clips": clips, "sha256": sha256}


def _parse(raw: bytes, path: Path, lineno: int) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise LockError(f"{path}:{lineno}: not a JSON line (a lock file edited by hand?)") from None
    if not isinstance(obj, dict):
        raise LockError(f"{path}:{lineno}: not a JSON object (a lock file edited by hand?)")
    return obj


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a lock file; LockError when it is not a lock or of another format version."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            first = fh.readline()
    except OSError as e:
        raise LockError(f"cannot read lock file {p}: {e.strerror or e}") from None
    head = _parse(first, p, 1) if first else {}
    if HEADER_KEY not in head:
        raise LockError(f"{p}: not an avdata lock file (its first line has no '{HEADER_KEY}')")
    if head[HEADER_KEY] != FORMAT:
        raise LockError(f"{p}: lock format {head[HEADER_KEY]!r} (written by avdata {head.get('avdata_version', '?')}); "
                        f"this avdata reads format {FORMAT}: write the lock again with this version")
    return head


def verify(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check the trailer seals the lines above it; the trailer, or LockError naming what is wrong."""
    p = Path(path)
    read_header(p)
    h = hashlib.sha256()
    last = b""
    with open(p, "rb") as fh:
        for raw in fh:
            if last:
                h.update(last)
            last = raw
    end = _parse(last, p, 0) if last else {}
    if END_KEY not in end:
        raise LockError(f"{p}: the lock file ends without its trailer (cut short while written or copied)")
    if end.get("sha256") != h.hexdigest():
        raise LockError(f"{p}: its lines do not match the trailer's SHA-256 (the lock was edited or damaged); "
                        "write it again with avdata lock")
    return end


def iter_clips(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, clip record) of every clip line, streamed (call ``verify`` first)."""
    p = Path(path)
    with open(p, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1:
                continue
            rec = _parse(raw, p, lineno)
            if END_KEY in rec:
                return
            if not isinstance(rec.get("id"), str) or not isinstance(rec.get("files"), list):
                raise LockError(f"{p}:{lineno}: a clip line without 'id' or 'files'")
            yield lineno, rec
