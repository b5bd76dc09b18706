"""What a fetch rerun skips, decided per distinct source from the manifest and the download
archive, streamed: a few bits per source in numpy arrays (the sources found through a
``KeySet``), never a Python row per video already fetched.

Rules (as before): a source whose last archive row is done (ok and its file still there, or
consumed and deleted) is skipped and, when the manifest lost that row in a killed run, the archive
row is copied back ("repair"); a source whose latest manifest row is done is skipped; one recorded
with a permanent error from the same source URI is skipped unless failures are rechecked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa

from avdata.fetch.archive import DownloadArchive
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA, MANIFEST_KEYS, STATUS_OK, STOP_CLASSES
from avdata.keyset import KeySet
from avdata.manifest import read_latest

# what resuming reads of earlier manifest rows
PREVIOUS_COLUMNS = ("source", "status", "source_uri", "path", "deleted", "transient")
PREV_DONE, PREV_DELETED, PREV_FAILED, ARCH_DONE, ARCH_DELETED = 1, 2, 4, 8, 16
PREV_BITS = PREV_DONE | PREV_DELETED | PREV_FAILED
BATCH_ROWS = 1 << 16


@dataclass
class ResumePlan:
    """Per source (a row of the plan): ``keep`` it for work; how many were skipped and why; and
    ``repair_rows()``: the archive rows to copy back into the manifest, streamed."""

    keep: np.ndarray
    skipped_done: int = 0
    skipped_failed: int = 0
    archive: DownloadArchive | None = None
    repair_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def repair_rows(self) -> Iterator[list[dict]]:
        """The last archive row of each source whose manifest row a killed run lost, a batch at a
        time in archive order (one more pass over the archive; nothing when no row was lost)."""
        if self.archive is None or not len(self.repair_lines):
            return
        wanted = np.sort(self.repair_lines)
        for first, chunk in _numbered(self.archive.iter_rows()):
            lines = np.arange(first, first + len(chunk), dtype=np.int64)
            hit = np.flatnonzero(np.isin(lines, wanted, assume_unique=True))
            if len(hit):
                yield [chunk[i] for i in hit]


def is_done(row: dict | None, out: Path) -> bool:
    """A row that settles its video: ok and consumed (deleted), or ok and its file still there."""
    if not row or row.get("status") != STATUS_OK:
        return False
    if row.get("deleted"):
        return True
    p = row.get("path")
    return bool(p) and (out / str(p)).exists()


class _SourceIndex:
    """Row of each distinct source, found by hash a batch at a time."""

    def __init__(self, sources: pa.Array | pa.ChunkedArray) -> None:
        self.keys = KeySet(len(sources))
        hashes = self.keys.hash(sources)
        self.keys.add(hashes)
        self.row_of = np.empty(len(sources), dtype=np.int64)
        self.row_of[self.keys.find(hashes)] = np.arange(len(sources), dtype=np.int64)

    def rows(self, sources: list[str]) -> np.ndarray:
        """The row of each source, or -1 when it is not planned."""
        pos = self.keys.find(self.keys.hash(pa.array(sources, pa.string())))
        return np.where(pos >= 0, self.row_of[np.maximum(pos, 0)], -1)


def _numbered(rows: Iterator[dict]) -> Iterator[tuple[int, list[dict]]]:
    """(number of the first row, rows) a batch at a time."""
    first = 0
    while chunk := list(islice(rows, BATCH_ROWS)):
        yield first, chunk
        first += len(chunk)


def plan_resume(sources: pa.Array | pa.ChunkedArray, manifest: Path, archive: DownloadArchive, out: Path,
                uri: str, skip_failures: bool) -> ResumePlan:
    """Decide, for each of ``sources`` (distinct), whether it still needs work (module docstring)."""
    n = len(sources)
    bits = np.zeros(n, dtype=np.uint8)
    if n == 0:
        return ResumePlan(keep=np.zeros(0, dtype=bool))
    index = _SourceIndex(sources)
    previous = read_latest(manifest, FETCH_MANIFEST_SCHEMA, MANIFEST_KEYS, PREVIOUS_COLUMNS, only=sources)
    for lo in range(0, previous.num_rows, BATCH_ROWS):
        chunk = previous.slice(lo, BATCH_ROWS).to_pylist()
        for row, r in zip(index.rows([r["source"] for r in chunk]), chunk):
            if row < 0:
                continue
            b = (PREV_DONE if is_done(r, out) else 0) | (PREV_DELETED if r.get("deleted") else 0)
            if (r.get("status") not in (STATUS_OK, *STOP_CLASSES) and r.get("transient") is False
                    and r.get("source_uri") == uri):
                b |= PREV_FAILED
            bits[row] = b
    del previous
    last_line = np.full(n, -1, dtype=np.int64)
    for first, chunk in _numbered(archive.iter_rows()):     # file order: the last row of a source wins
        rows = index.rows([r["source"] for r in chunk])
        ok = np.flatnonzero(rows >= 0)
        if not len(ok):
            continue
        rev = ok[::-1]                                      # of repeats within the batch, the last
        _, at = np.unique(rows[rev], return_index=True)
        take = rev[at]
        flags = np.array([(ARCH_DONE if is_done(chunk[i], out) else 0) | (ARCH_DELETED if chunk[i].get("deleted")
                          else 0) for i in take], dtype=np.uint8)
        target = rows[take]
        bits[target] = (bits[target] & PREV_BITS) | flags
        last_line[target] = first + take
    arch_done = (bits & ARCH_DONE) > 0
    prev_done = (bits & PREV_DONE) > 0
    lost = arch_done & (~prev_done | (((bits & PREV_DELETED) > 0) != ((bits & ARCH_DELETED) > 0)))
    failed = ~arch_done & ~prev_done & ((bits & PREV_FAILED) > 0) & skip_failures
    done = arch_done | prev_done
    return ResumePlan(keep=~(done | failed), skipped_done=int(done.sum()), skipped_failed=int(failed.sum()),
                      archive=archive, repair_lines=last_line[lost])
