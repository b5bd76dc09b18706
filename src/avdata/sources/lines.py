"""Stream a text file as blocks of whole lines (raw bytes), with physical line numbers.

Readers parse a block at a time with numpy, so memory stays near one block however long the file.
A UTF-8 byte-order mark at the start is dropped; CR before LF is left for the parser to handle, a CR
alone (old-Mac line ends) becomes LF; a last line without a newline gets one. ``TextLines`` gives the
lines as text for the ``csv``-based readers, reporting lines that are not UTF-8 and reading on.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from avdata.sources.problems import Problems

BOM = b"\xef\xbb\xbf"
DEFAULT_BLOCK_BYTES = 4 << 20
_LONE_CR = re.compile(rb"\r(?!\n)")


@dataclass(frozen=True)
class LineBlock:
    """Whole lines ``data`` (each ending in LF); ``first_line`` is the 1-based number of the first."""

    data: bytes
    first_line: int
    had_bom: bool = False
    lines: int | None = None     # number of lines (LFs) in ``data``, when known

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.uint8)


def _normalized(fh: BinaryIO, first: bytes, block_bytes: int) -> Iterator[bytes]:
    """The file's chunks; in a file whose first line end is a CR alone (old-Mac line ends), every
    CR not followed by LF becomes LF. (Elsewhere a lone CR is data, e.g. inside a quoted caption.)"""
    held = b""
    cr_ends: bool | None = None
    for chunk in itertools.chain([first], iter(lambda: fh.read(block_bytes), b"")):
        chunk, held = held + chunk, b""
        if cr_ends is not False and chunk.endswith(b"\r"):    # its LF may start the next chunk
            chunk, held = chunk[:-1], b"\r"
        if cr_ends is None:
            lf, cr = chunk.find(b"\n"), chunk.find(b"\r")
            if lf >= 0 or cr >= 0:
                cr_ends = cr >= 0 and (lf < 0 or cr < lf - 1)
        if cr_ends:
            chunk = _LONE_CR.sub(b"\n", chunk)
        if chunk:
            yield chunk
    if held:
        yield b"\r" if cr_ends is False else b"\n"


def iter_line_blocks(path: str | os.PathLike[str], block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[LineBlock]:
    """Yield the file as blocks of whole lines (LF, CRLF and CR-only line ends all end a line)."""
    line = 1
    rest = b""
    with open(path, "rb") as fh:
        first = fh.read(max(block_bytes, len(BOM)))     # the whole BOM, however small the blocks
        had_bom = first.startswith(BOM)
        if had_bom:
            first = first[len(BOM):]
        for chunk in _normalized(fh, first, block_bytes):
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                rest += chunk
                continue
            # one copy of the block's bytes at most (none when the chunk ends at a line end)
            block = chunk if not rest and cut == len(chunk) else b"".join((rest, memoryview(chunk)[:cut]))
            rest = chunk[cut:]
            count = block.count(b"\n")
            yield LineBlock(block, line, had_bom and line == 1, count)
            line += count
        if rest:
            yield LineBlock(rest + b"\n", line, had_bom and line == 1, 1)


def detect_newline(path: str | os.PathLike[str]) -> str:
    """The line end a file uses (from its first 64 KiB): ``\\r\\n``, ``\\r`` (old Mac) or ``\\n``."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if b"\r\n" in head:
        return "\r\n"
    return "\r" if b"\r" in head and b"\n" not in head else "\n"


def ends_with_newline(path: str | os.PathLike[str]) -> bool:
    """Does the file end with a line end (LF or CR)? (Writers that give a file back byte for byte.)"""
    with open(path, "rb") as fh:
        try:
            fh.seek(-1, os.SEEK_END)
        except OSError:                 # empty file
            return False
        return fh.read(1) in (b"\n", b"\r")


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a block without their LF (and without a CR before it)."""
    lines = data.split(b"\n")[:-1]
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


class TextLines:
    """A file's physical lines as text (each with its LF), for ``csv.reader``.

    Any line end is read (LF, CRLF, CR); a line that is not UTF-8 is reported to ``problems`` with its
    real number and left out, and the rest of the file is still read. Lines are split in C (one
    ``StringIO`` per block), so ``physical(k)`` maps the k-th line given (1-based, as ``csv.reader``'s
    ``line_num`` counts) back to its line number in the file.
    """

    def __init__(self, path: str | os.PathLike[str], problems: Problems, file: str | None = None,
                 block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        self.path = path
        self.file = file if file is not None else str(path)
        self.problems = problems
        self.skipped: list[int] = []        # numbers of the lines left out, ascending
        self._lines = itertools.chain.from_iterable(self._blocks(block_bytes))

    def _blocks(self, block_bytes: int) -> Iterator[Iterable[str]]:
        for block in iter_line_blocks(self.path, block_bytes):
            try:
                yield io.StringIO(block.data.decode("utf-8"), newline="\n")
            except UnicodeDecodeError:
                yield self._good_lines(block)

    def _good_lines(self, block: LineBlock) -> list[str]:
        good = []
        for i, raw in enumerate(block.data.split(b"\n")[:-1]):
            try:
                good.append(raw.decode("utf-8") + "\n")
            except UnicodeDecodeError as e:
                self.skipped.append(block.first_line + i)
                self.problems.error(self.file, block.first_line + i,
                                    f"line is not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})")
        return good

    def physical(self, given: int) -> int:
        """The file's line number of the ``given``-th line handed out."""
        line = given
        for s in self.skipped:
            if s > line:
                break
            line += 1
        return line

    def raw_line(self, number: int) -> str:
        """The text of line ``number`` (without its line end), read again from the file."""
        for block in iter_line_blocks(self.path, 1 << 16):
            if number < block.first_line + (block.lines or 0):
                raw = block.data.split(b"\n")[number - block.first_line]
                return raw.rstrip(b"\r").decode("utf-8", errors="replace")
        return ""

    def __iter__(self) -> Iterator[str]:
        return self._lines


def csv_rows(lines: TextLines, problems: Problems, **fmt: Any) -> Iterator[tuple[list[str], int]]:
    """``csv.reader`` rows of ``lines`` (strict quoting), each with the number of the line it began on.

    A row csv cannot read (a field over csv's size limit, an unclosed quote at the end of the file,
    text after a closing quote) is reported with that number and the rest of the file is still read.
    """
    reader = csv.reader(lines, strict=True, **fmt)
    done = 0                                # lines consumed by the rows before this one
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            reason = "a quoted field is not closed before the end of the file" if "unexpected end" in str(e) \
                else f"unreadable CSV ({e})"
            problems.error(lines.file, lines.physical(done + 1), reason)
            done = reader.line_num
            continue
        yield row, lines.physical(done + 1)
        done = reader.line_num
