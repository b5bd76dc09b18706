"""One contract for every reader of VIP-ANT index lines (JSON lines).

Lines are split at LF only; a CR before the LF is dropped; a UTF-8 BOM at the start of a line is
ignored; a last line without a newline still counts. So every reader (embed, balance, report,
weights, shards, the loaders) numbers the lines of a file the same way, and the row ``i`` of an
embeddings matrix is line ``i`` of its index whatever the file's line ends.

A line that is not UTF-8, not JSON, not an object, or whose fields have the wrong types costs that
line only: ``InputFormatError`` naming ``FILE:LINE`` and the reason, never another exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from avdata.errors import InputFormatError

BLOCK = 1 << 22               # bytes read at once


def iter_raw_line_chunks(path: str | os.PathLike[str]) -> Iterator[list[bytes]]:
    """The lines of an index file as bytes, a read's worth at a time (split at LF, a CR before the
    LF dropped, a last line without LF kept): the splitting every reader of index lines follows
    (``avdata.index.blocks`` reads blocks of whole lines and splits them the same way)."""
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise InputFormatError(str(path), None, f"cannot read index file ({e.strerror or e})") from e
    with fh:
        rest = b""
        for block in iter(lambda: fh.read(BLOCK), b""):
            data = rest + block
            parts = data.split(b"\n")
            rest = parts.pop()
            if b"\r" in data:
                parts = [line.rstrip(b"\r") for line in parts]
            if parts:
                yield parts
        if rest:
            yield [rest.rstrip(b"\r")]


def iter_raw_lines(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The lines of an index file as bytes (numbered as ``split_lines`` numbers them), streamed."""
    for chunk in iter_raw_line_chunks(path):
        yield from chunk


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a whole index file (split at LF only; a CR before the LF dropped; a last line
    without a newline still counts)."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line.rstrip(b"\r") for line in lines]


def parse_line(raw: bytes, path: str | os.PathLike[str], lineno: int) -> dict:
    """One index line (bytes, 1-based ``lineno``) as a JSON object; InputFormatError
    (``FILE:LINE: reason``) for a line that is not UTF-8, not JSON or not an object."""
    try:
        text = raw.decode("utf-8-sig")      # never json's guess of UTF-16/32 from the first bytes
    except UnicodeDecodeError as e:
        raise InputFormatError(str(path), lineno, f"line is not valid UTF-8 (byte 0x{raw[e.start]:02x} at "
                                                  f"column {e.start + 1})") from e
    try:
        rec = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise InputFormatError(str(path), lineno, f"not a JSON line ({type(e).__name__}: {e})") from e
    if not isinstance(rec, dict):
        raise InputFormatError(str(path), lineno, "not a JSON object")
    return rec


def field_str(rec: dict, key: str, path: str | os.PathLike[str], lineno: int) -> str:
    """``rec[key]`` as a non-empty string, or InputFormatError naming the line."""
    value = rec.get(key)
    if not isinstance(value, str) or not value:
        raise InputFormatError(str(path), lineno, f"'{key}' must be a non-empty string (got {value!r:.60})")
    return value


def field_labels(rec: dict, path: str | os.PathLike[str], lineno: int) -> list[str]:
    """``rec["labels"]`` as a list of label ids, or InputFormatError naming the line."""
    labels = rec.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise InputFormatError(str(path), lineno, f"'labels' must be a list of label ids (got {labels!r:.60})")
    return labels


def field_seconds(rec: dict, key: str, path: str | os.PathLike[str], lineno: int) -> float:
    """``rec[key]`` (VIP-ANT writes ``"130.000"``) as a finite float, or InputFormatError."""
    value: Any = rec.get(key)
    try:
        if isinstance(value, bool):
            raise TypeError
        seconds = float(value)
    except (TypeError, ValueError):
        raise InputFormatError(str(path), lineno, f"'{key}' is not a number (got {value!r:.60})") from None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise InputFormatError(str(path), lineno, f"'{key}' is not finite (got {value!r:.60})")
    return seconds


def iter_records(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict | None, InputFormatError | None]]:
    """``(lineno, record, None)`` for every good line and ``(lineno, None, error)`` for a bad one."""
    p = Path(path)
    for lineno, raw in enumerate(iter_raw_lines(p), 1):
        try:
            yield lineno, parse_line(raw, p, lineno), None
        except InputFormatError as e:
            yield lineno, None, e
