"""``json.dumps`` (default options) of whole Arrow columns, element by element, without a Python loop
per row in the common case.

Each function returns a string array whose i-th value is exactly ``json.dumps(value_i)``; lines are
then built by concatenating such columns (``concat``). A string made only of printable ASCII other
than ``"`` and ``\\`` is encoded by adding quotes; any other string (non-ASCII, control characters,
quotes, backslashes) goes through ``json.dumps`` itself, so escapes match byte for byte.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# anything json.dumps (ensure_ascii) would escape: outside 0x20..0x7e, or '"' (0x22), or '\' (0x5c)
_NEEDS_ESCAPE = r"[^\x20\x21\x23-\x5b\x5d-\x7e]"
NULL = "null"


def _plain(values: pa.Array) -> pa.Array:
    """``json.dumps`` of each string (``null`` for a null), deduplication left to the caller."""
    quoted = pc.fill_null(pc.binary_join_element_wise('"', values, '"', ""), NULL)
    escape = np.flatnonzero(pc.fill_null(pc.match_substring_regex(values, _NEEDS_ESCAPE), False)
                            .to_numpy(zero_copy_only=False))
    if len(escape) == 0:
        return quoted
    mask = np.zeros(len(values), dtype=bool)
    mask[escape] = True
    exact = pa.array([json.dumps(v) for v in values.take(pa.array(escape)).to_pylist()], pa.string())
    return pc.replace_with_mask(quoted, pa.array(mask), exact)


def strings(values: pa.Array, *, dedupe: bool = False) -> pa.Array:
    """``json.dumps`` of each value of a string column. ``dedupe``: encode each distinct value once
    (for columns with few distinct values: labels, chunk folders, file names)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not dedupe or len(values) == 0:
        return _plain(values)
    codes = values.dictionary_encode()
    return pc.fill_null(_plain(codes.dictionary).take(codes.indices), NULL)


def lists(values: pa.Array, *, dedupe: bool = False) -> pa.Array:
    """``json.dumps`` of each value of a list-of-strings column (``null`` for a null list)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    offsets = pc.subtract(values.offsets, values.offsets[0])
    items = pa.ListArray.from_arrays(offsets, strings(values.flatten(), dedupe=dedupe))
    joined = concat("[", pc.binary_join(items, ", "), "]")
    return pc.if_else(values.is_valid(), joined, NULL) if values.null_count else joined


def integers(values: pa.Array) -> pa.Array:
    """``json.dumps`` of each value of an integer column."""
    return pc.fill_null(pc.cast(values, pa.string()), NULL)


def concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string columns and constants; a null part is skipped."""
    return pc.binary_join_element_wise(*parts, "", null_handling="skip")


def joined_bytes(values: pa.Array) -> memoryview:
    """All values of a string column back to back, straight from its data buffer (no copy)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if len(values) == 0:
        return memoryview(b"")
    if values.null_count:
        raise ValueError("joined_bytes of a column with nulls")
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(values.buffers()[1], dtype=width, count=len(values) + 1, offset=values.offset
                            * np.dtype(width).itemsize)
    data = values.buffers()[2]
    return memoryview(data)[int(offsets[0]):int(offsets[-1])] if data is not None else memoryview(b"")
