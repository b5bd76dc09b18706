"""Stream a text file as blocks of whole lines (raw bytes), with physical line numbers.

Readers parse a block at a time with numpy, so memory stays near one block however long the file.
A UTF-8 byte-order mark at the start is dropped; CR before LF is left for the parser to handle;
a last line without a newline gets one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

BOM = b"\xef\xbb\xbf"
DEFAULT_BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class LineBlock:
    """Whole lines ``data`` (each ending in LF); ``first_line`` is the 1-based number of the first."""

    data: bytes
    first_line: int
    had_bom: bool = False
    lines: int | None = None     # number of lines (LFs) in ``data``, when known

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.uint8)


def iter_line_blocks(path: str | os.PathLike[str], block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[LineBlock]:
    """Yield the file as blocks of whole lines."""
    line = 1
    rest = b""
    with open(path, "rb") as fh:
        chunk = fh.read(max(block_bytes, len(BOM)))     # the whole BOM, however small the blocks
        had_bom = chunk.startswith(BOM)
        if had_bom:
            chunk = chunk[len(BOM):]
        while True:
            bom = had_bom and line == 1
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                rest += chunk
            else:
                # one copy of the block's bytes at most (none when the chunk ends at a line end)
                block = chunk if not rest and cut == len(chunk) else b"".join((rest, memoryview(chunk)[:cut]))
                rest = chunk[cut:]
                count = block.count(b"\n")
                yield LineBlock(block, line, bom, count)
                line += count
                bom = False
            chunk = fh.read(block_bytes)
            if not chunk:
                if rest:
                    yield LineBlock(rest + b"\n", line, bom, rest.count(b"\n") + 1)
                return


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a block without their LF (and without a CR before it)."""
    lines = data.split(b"\n")[:-1]
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
