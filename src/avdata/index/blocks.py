"""Index lines a block at a time, parsed column-wise by Arrow's JSON reader.

A block is the raw bytes of whole lines, as read (``IndexBlock``): Arrow parses them as they are,
and they are split into lines only when a block needs the per-line path. A block is taken
column-wise only when every one of its lines is a plain JSON object whose fields have the types
asked for; otherwise (a line that is not UTF-8 or not JSON, a blank line, a BOM, a field of another
type, a ``null`` where a list is wanted) ``arrow_block`` returns None and the caller reads that
block line by line, with the messages of ``avdata.index.lines``. Lines are split and numbered as
``iter_raw_line_chunks`` splits them (LF; a CR before it dropped; a last line without LF kept), so
both paths agree line for line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.errors import InputFormatError

BLOCK_BYTES = 1 << 24       # bytes read at once (a block holds the whole lines among them)
BOM = b"\xef\xbb\xbf"


class IndexBlock:
    """Whole lines of an index file: ``data``, their raw bytes joined by LF (no LF after the last),
    ``count`` lines, the first of them line ``first`` (1-based); ``ends``: where the LFs are."""

    def __init__(self, first: int, data: bytes) -> None:
        self.first, self.data = first, data
        self.ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))    # line i ends at ends[i]
        self.count = len(self.ends) + 1
        self._lines: list[bytes] | None = None

    @property
    def lines(self) -> list[bytes]:
        """The lines, split as ``iter_raw_line_chunks`` splits them (made when first asked for)."""
        if self._lines is None:
            parts = self.data.split(b"\n")
            self._lines = [line.rstrip(b"\r") for line in parts] if b"\r" in self.data else parts
        return self._lines

    def pieces(self, wanted: np.ndarray | None = None) -> list[bytes | memoryview]:
        """The lines whose flag in ``wanted`` (bool, one per line; None: all) is set, byte for byte
        (CR and BOM kept), each followed by LF: slices of ``data``, one per run of wanted lines."""
        if wanted is None:
            return [self.data, b"\n"]
        flags = np.zeros(self.count, bool)
        flags[:min(len(wanted), self.count)] = wanted[:self.count]
        run_first, run_end = runs(flags)
        if not len(run_first):
            return []
        starts = np.concatenate(([0], self.ends + 1))
        stops = np.concatenate((self.ends, [len(self.data)]))
        view = memoryview(self.data)
        out: list[bytes | memoryview] = []
        for a, b in zip(starts[run_first].tolist(), stops[run_end - 1].tolist()):
            out += [view[a:b], b"\n"]
        return out


def runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each run of set ``flags``: its first position and the one after its last (``[first, end)``)."""
    edges = np.diff(np.concatenate(([0], np.asarray(flags, np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def iter_line_blocks(path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES) -> Iterator[IndexBlock]:
    """The index file as blocks of whole lines, about ``block_bytes`` at a time (a line longer than
    that is one block)."""
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise InputFormatError(str(path), None, f"cannot read index file ({e.strerror or e})") from e
    first, rest = 1, b""
    with fh:
        for chunk in iter(lambda: fh.read(block_bytes), b""):
            data = rest + chunk if rest else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            block = IndexBlock(first, data[:cut])
            rest = data[cut + 1:]
            first += block.count
            yield block
        if rest:
            yield IndexBlock(first, rest)


@dataclass(frozen=True)
class LineOffsets:
    """Where each line of an index file starts: ``starts[i]`` for line ``i`` (0-based) and
    ``starts[-1]`` the file's size; ``final_lf``: its last line ends in LF; ``stamp``: the file's
    size, mtime (ns) and inode when read (the offsets hold only while it is the same)."""

    starts: np.ndarray
    final_lf: bool
    stamp: tuple[int, int, int]

    @property
    def lines(self) -> int:
        return len(self.starts) - 1


def file_stamp(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """Size, mtime (ns) and inode of a file: changes whenever its bytes are replaced."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


class LineOffsetsBuilder:
    """``LineOffsets`` of a file from its blocks, added in order as ``iter_line_blocks`` gives them."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.stamp = file_stamp(path)           # before reading: a change while it is read shows
        self._starts, self._pos = [np.zeros(1, np.int64)], 0

    def add(self, block: IndexBlock) -> None:
        self._starts.append(self._pos + block.ends.astype(np.int64) + 1)   # the lines after each LF inside
        self._pos += len(block.data) + 1                                   # and the one after the block's LF
        self._starts.append(np.array([self._pos], np.int64))

    def result(self) -> LineOffsets:
        size = self.stamp[0]
        out = np.concatenate(self._starts)
        if len(out) > 1:
            out[-1] = size                      # the last line ends at the end of the file
        return LineOffsets(out, size == 0 or self._pos == size, self.stamp)


def line_offsets(path: str | os.PathLike[str]) -> LineOffsets:
    """``LineOffsets`` of an index file, its lines split as ``iter_line_blocks`` splits them."""
    builder = LineOffsetsBuilder(path)
    for block in iter_line_blocks(path):
        builder.add(block)
    return builder.result()


def arrow_block(block: IndexBlock, schema: pa.Schema, required: Sequence[str] = (),
                threads: int = 1) -> pa.Table | None:
    """The block's lines as a table of ``schema``'s fields (others ignored), or None when any line
    would need the per-line path: not parsed, a row count that differs (blank lines), a BOM, or a
    null in a ``required`` field (absent or ``null`` in the JSON). ``threads`` > 1: parsed in that
    many pieces (split at line ends) on Arrow's thread pool."""
    import pyarrow.json as pj

    data = block.data
    if not data or BOM in data:
        return None
    try:
        table = pj.read_json(io.BytesIO(data),
                             read_options=pj.ReadOptions(use_threads=threads > 1,
                                                         block_size=len(data) // max(1, threads) + 1),
                             parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != block.count:
        return None
    if any(table.column(name).null_count for name in required):
        return None
    return table.combine_chunks()


def absent_only(block: IndexBlock, column: pa.Array | pa.ChunkedArray, key: str) -> bool:
    """True when every null of ``column`` comes from a line without ``key`` at all (not ``null``)."""
    if not column.null_count:
        return True
    needle = f'"{key}"'.encode()
    if column.null_count == len(column):            # no line has it: one search of the raw bytes
        return needle not in block.data
    nulls = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
    lines = block.lines
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
