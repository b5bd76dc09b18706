"""Index lines a block at a time, parsed column-wise by Arrow's JSON reader.

A block is taken column-wise only when every one of its lines is a plain JSON object whose fields
have the types asked for; otherwise (a line that is not UTF-8 or not JSON, a blank line, a BOM, a
field of another type, a ``null`` where a list is wanted) ``arrow_block`` returns None and the
caller reads that block line by line, with the messages of ``avdata.index.lines``. Lines are
numbered as ``iter_raw_lines`` numbers them (one splitter: ``iter_raw_line_chunks``), so both paths agree line for line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.index.lines import iter_raw_line_chunks

BLOCK_LINES = 1 << 16
BOM = b"\xef\xbb\xbf"


def iter_line_blocks(path: str | os.PathLike[str], lines: int = BLOCK_LINES) -> Iterator[tuple[int, list[bytes]]]:
    """``(first line number (1-based), raw lines)`` of an index file, ``lines`` at a time (the last
    block shorter), split by ``iter_raw_line_chunks``."""
    block: list[bytes] = []
    first = 1
    for chunk in iter_raw_line_chunks(path):
        block.extend(chunk)
        while len(block) >= lines:
            yield first, block[:lines]
            first += lines
            block = block[lines:]
    if block:
        yield first, block


def arrow_block(lines: Sequence[bytes], schema: pa.Schema, required: Sequence[str] = ()) -> pa.Table | None:
    """The lines as a table of ``schema``'s fields (others ignored), or None when any line would
    need the per-line path: not parsed, a row count that differs (blank lines), a BOM, or a null in
    a ``required`` field (absent or ``null`` in the JSON)."""
    import pyarrow.json as pj

    data = b"\n".join(lines)
    if not data or BOM in data:
        return None
    try:
        table = pj.read_json(io.BytesIO(data),
                             read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
                             parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != len(lines):
        return None
    if any(table.column(name).null_count for name in required):
        return None
    return table.combine_chunks()


def absent_only(lines: Sequence[bytes], column: pa.Array | pa.ChunkedArray, key: str) -> bool:
    """True when every null of ``column`` comes from a line without ``key`` at all (not ``null``)."""
    if not column.null_count:
        return True
    needle = f'"{key}"'.encode()
    nulls = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
    return needle not in b"\n".join([lines[i] for i in nulls.tolist()])     # one search, not one per line


def list_codes(values: pa.Array | pa.ChunkedArray, codes: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """A ``list<string>`` column as CSR: offsets (rows + 1, from 0) and int32 codes into ``codes``,
    which grows with every new string in order of first appearance (as a line-by-line pass would)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    offsets = values.offsets.to_numpy()
    offsets = offsets - offsets[0]
    flat = pc.list_flatten(values)
    if not len(flat):
        return offsets.astype(np.int64), np.zeros(0, np.int32)
    enc = pc.dictionary_encode(flat)
    mapping = np.array([codes.setdefault(s, len(codes)) for s in enc.dictionary.to_pylist()], dtype=np.int32)
    return offsets.astype(np.int64), mapping[enc.indices.to_numpy()]
