"""Random access to a JSON-lines index of millions of lines without parsing it.

A *sidecar* ``.{name}.offsets.npy`` beside the index holds the byte offset of every line (int64,
``lines + 1`` values after a 4-value header: magic, index size, index mtime in ns, line count). It
is built once by one pass over the file (newlines found by numpy, 16 MiB at a time), written
atomically, memory-mapped when opened, and rebuilt when the index's size or mtime changes. A
2,000,000-line index costs 16 MB of sidecar, mapped on demand, not read into the heap.

A ``LazyIndex`` pickles as its paths only: DataLoader workers reopen the map themselves.
Line numbers are 0-based positions (``i``); error messages give the 1-based file line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from avdata.atomic import atomic_path
from avdata.errors import InputFormatError
from avdata.index.lines import parse_line, split_lines  # noqa: F401  (re-exported)

MAGIC = 0x4156494458303031  # "AVIDX001"
HEADER = 4
CHUNK_BYTES = 16 << 20


def sidecar_path(index: str | os.PathLike[str], sidecar_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the offsets of ``index`` live: beside it (or in ``sidecar_dir``)."""
    p = Path(index)
    folder = Path(sidecar_dir) if sidecar_dir is not None else p.parent
    return folder / f".{p.name}.offsets.npy"


def line_offsets(path: str | os.PathLike[str]) -> np.ndarray:
    """Byte offsets of every line start plus the end of the file (int64, lines + 1 values).

    A last line without a newline still counts; an empty file has no lines.
    """
    pieces = [np.zeros(1, np.int64)]
    size = 0
    with open(path, "rb") as fh:
        while True:
            buf = fh.read(CHUNK_BYTES)
            if not buf:
                break
            nl = np.flatnonzero(np.frombuffer(buf, np.uint8) == 10).astype(np.int64)
            pieces.append(nl + (size + 1))
            size += len(buf)
    offsets = np.concatenate(pieces)
    if size and offsets[-1] != size:
        offsets = np.append(offsets, size)
    return offsets


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def build_sidecar(index: Path, sidecar: Path) -> np.ndarray:
    """Write the offsets sidecar of ``index`` atomically; return the array written."""
    size, mtime = _stamp(index)
    offsets = line_offsets(index)
    arr = np.empty(HEADER + len(offsets), np.int64)
    arr[:HEADER] = (MAGIC, size, mtime, len(offsets) - 1)
    arr[HEADER:] = offsets
    with atomic_path(sidecar) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)
    return arr


class LazyIndex:
    """An index file opened lazily: ``len``, ``line(i)`` (text), ``record(i)`` (parsed JSON)."""

    def __init__(self, path: str | os.PathLike[str], sidecar_dir: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path)
        self.sidecar_dir = None if sidecar_dir is None else str(sidecar_dir)
        if not self.path.is_file():
            raise InputFormatError(str(self.path), None, "index file not found")
        self._offsets: np.ndarray | None = None
        self._fd: int | None = None
        self._pid = -1

    # -- pickling: paths only ------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "sidecar_dir": self.sidecar_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["sidecar_dir"])  # type: ignore[misc]

    # -- opening -------------------------------------------------------------------------------
    def _open(self) -> np.ndarray:
        if self._offsets is not None and self._pid == os.getpid():
            return self._offsets
        sidecar = sidecar_path(self.path, self.sidecar_dir)
        size, mtime = _stamp(self.path)
        arr: np.ndarray | None = None
        try:
            arr = np.load(sidecar, mmap_mode="r")
            if arr.dtype != np.int64 or arr.ndim != 1 or len(arr) < HEADER + 1 \
                    or tuple(arr[:3]) != (MAGIC, size, mtime):
                arr = None
        except (OSError, ValueError, EOFError):    # missing, zero-byte or truncated: rebuilt
            arr = None
        if arr is None:
            try:
                build_sidecar(self.path, sidecar)
                arr = np.load(sidecar, mmap_mode="r")
            except OSError:  # read-only folder: keep the offsets in memory instead
                offsets = line_offsets(self.path)
                arr = np.concatenate([np.array([MAGIC, size, mtime, len(offsets) - 1], np.int64), offsets])
        self._offsets = arr[HEADER:]
        self._fd = os.open(self.path, os.O_RDONLY)
        self._pid = os.getpid()
        return self._offsets

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None
        self._offsets = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # -- access --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._open()) - 1

    def line_bytes(self, i: int) -> bytes:
        """Line ``i`` (0-based) as bytes, without its newline."""
        offsets = self._open()
        n = len(offsets) - 1
        if not -n <= i < n:
            raise IndexError(f"{self.path}: line {i} out of range (0..{n - 1})")
        i %= n
        start, end = int(offsets[i]), int(offsets[i + 1])
        data = os.pread(self._fd, end - start, start)  # type: ignore[arg-type]  # set by _open
        return data.rstrip(b"\r\n")

    def line(self, i: int) -> str:
        """Line ``i`` (0-based) as text, without its newline."""
        return self.line_bytes(i).decode("utf-8")

    def record(self, i: int) -> dict:
        """Line ``i`` parsed; InputFormatError names the file and the 1-based line."""
        return parse_line(self.line_bytes(i), self.path, (i % len(self)) + 1)
