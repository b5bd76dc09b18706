"""Manifest rows aligned with the clip table a batch at a time, neither held whole (issue 13).

The index joins the clip table with the extraction manifest (and, on a rerun with media checks,
the previous checks) by ``(clip_id, clip)``, the last row written per key winning. ``Aligner``
does it in memory that grows with the batch, not with the list:

1. ``TableKeys``: the clip table's ids, streamed, become 64-bit hashes (``key_hashes``); kept are
   the hashes sorted and the row of each (12 bytes a row);
2. ``Aligner.add``: a manifest is streamed a file and a record batch at a time; every row whose id
   hash matches a table row is appended, with that row's number and its own write-order number,
   to the spill file of the table block holding that row (``.tmp-PID-index_spill/`` in the output
   folder, removed at the end);
3. ``Aligner.batch``: one block's spill file is read back; kept are the rows whose id really equals
   the table row's (a hash collision costs a spilled row, never a wrong join) and, per table row
   and clip kind, the last one written: what ``latest(read_manifest(...))`` joined on the ids gave.

Manifests are streamed with ``avdata.manifest.iter_manifest`` (the files ``read_manifest`` reads,
in the same order, torn journal tails ignored, missing columns as nulls).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.manifest import iter_manifest
from avdata.table import iter_clips

TARGET = "_target"       # spill columns: the clip-table row a manifest row joins ...
SEQ = "_seq"             # ... and the manifest row's write order
SPILL_GLOB = ".tmp-*-index_spill"
MAX_BLOCKS = 128         # spill files open at once, per manifest
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_LENGTH = np.uint64(0x9E3779B97F4A7C15)
_weights = np.zeros(0, dtype=np.uint64)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _position_weights(n: int) -> np.ndarray:
    """One odd pseudo-random 64-bit weight per byte position (grown on demand, deterministic)."""
    global _weights
    if len(_weights) < n:
        _weights = _mix(np.arange(1, max(n, 64) + 1, dtype=np.uint64)) | np.uint64(1)
    return _weights


def key_hashes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of every string (null: a fixed value), column-wise: a weighted byte sum and
    the length, mixed. Not cryptographic: callers compare the strings themselves after a match."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    arr = values.cast(pa.large_binary())
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(bufs[2], dtype=np.uint8)[lo:hi] if bufs[2] is not None and hi > lo \
        else np.zeros(0, dtype=np.uint8)
    lengths = np.diff(offsets)
    pos = np.arange(hi - lo, dtype=np.int64) - np.repeat(offsets[:-1] - lo, lengths)
    contrib = data.astype(np.uint64) * _position_weights(int(lengths.max()))[pos]
    sums = np.concatenate([np.zeros(1, np.uint64), np.cumsum(contrib, dtype=np.uint64)])
    h = _mix((sums[offsets[1:] - lo] - sums[offsets[:-1] - lo]) ^ (lengths.astype(np.uint64) * _LENGTH))
    if arr.null_count:
        h[np.asarray(arr.is_null())] = np.uint64(0)
    return h


class TableKeys:
    """The clip table's id hashes, sorted, with the row of each."""

    def __init__(self, clips: str | os.PathLike[str], rows: int, batch_rows: int = 1 << 18) -> None:
        hashes = np.empty(rows, dtype=np.uint64)
        at = 0
        for batch in iter_clips(clips, ["clip_id"], batch_rows) if rows else ():
            h = key_hashes(batch.column("clip_id"))
            hashes[at:at + len(h)] = h
            at += len(h)
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        del hashes
        self.rows = order.astype(np.int32 if rows < 2 ** 31 else np.int64)
        self.total = rows

    def match(self, ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``ids``, clip-table row) of every pair whose hashes are equal."""
        h = key_hashes(ids)
        order = np.argsort(h)          # sorted queries walk the table's hashes in order: cache friendly
        hs = h[order]
        left, counts = np.empty(len(h), np.int64), np.empty(len(h), np.int64)
        left[order] = np.searchsorted(self.hashes, hs, "left")
        counts[order] = np.searchsorted(self.hashes, hs, "right") - left[order]
        src = np.repeat(np.arange(len(h), dtype=np.int64), counts)
        within = np.arange(len(src), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return src, self.rows[np.repeat(left, counts) + within].astype(np.int64)


class Aligner:
    """One manifest's rows spilled by clip-table block, then read back aligned (module docstring)."""

    def __init__(self, keys: TableKeys, folder: Path, schema: pa.Schema, batch_rows: int) -> None:
        self.keys: TableKeys | None = keys
        self.folder = folder
        self.schema = schema
        blocks = max(1, -(-keys.total // batch_rows))
        self.block_rows = batch_rows * max(1, -(-blocks // MAX_BLOCKS))
        self.spill_schema = schema.append(pa.field(TARGET, pa.int64())).append(pa.field(SEQ, pa.int64()))
        self.kinds: set[str] = set()
        self._seq = 0
        self._writers: dict[int, tuple[pa.NativeFile, pa.RecordBatchStreamWriter]] = {}
        self._loaded: dict[int, pa.Table] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, directory: str | os.PathLike[str]) -> None:
        """Spill the rows of a manifest (after those added before: later rows win)."""
        for table in iter_manifest(directory, self.schema):
            n = table.num_rows
            seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
            self._seq += n
            self.kinds.update(k for k in pc.unique(table.column("clip")).to_pylist() if k is not None)
            if self.keys is None:
                raise RuntimeError("Aligner.add after finish")
            src, target = self.keys.match(table.column("clip_id"))
            if not len(src):
                continue
            rows = table.take(pa.array(src)).append_column(TARGET, pa.array(target)) \
                .append_column(SEQ, pa.array(seq[src]))
            blocks = target // self.block_rows
            order = np.argsort(blocks, kind="stable")
            uniq, starts = np.unique(blocks[order], return_index=True)
            ends = np.append(starts[1:], len(order))
            for block, a, b in zip(uniq.tolist(), starts.tolist(), ends.tolist()):
                part = rows.take(pa.array(order[a:b]))
                self._writer(block).write_table(part)

    def _writer(self, block: int) -> pa.RecordBatchStreamWriter:
        if block not in self._writers:
            sink = pa.OSFile(str(self.folder / f"block-{block:06d}.arrows"), "wb")
            self._writers[block] = (sink, pa.ipc.new_stream(sink, self.spill_schema))
        return self._writers[block][1]

    def finish(self) -> None:
        """Close the spill files (call once every manifest is added)."""
        for sink, writer in self._writers.values():
            writer.close()
            sink.close()
        self._writers = {}
        self.keys = None              # the table's hashes are no longer needed

    def _block(self, block: int) -> pa.Table:
        if block not in self._loaded:
            for old in [b for b in self._loaded if b < block]:
                del self._loaded[old]
            path = self.folder / f"block-{block:06d}.arrows"
            if path.is_file():
                with pa.OSFile(str(path)) as f:
                    self._loaded[block] = pa.ipc.open_stream(f).read_all()
                path.unlink()
            else:
                self._loaded[block] = self.spill_schema.empty_table()
        return self._loaded[block]

    def batch(self, offset: int, clip_ids: pa.Array, kinds: Sequence[str]) -> list[pa.Table]:
        """For clip-table rows ``offset .. offset + len(clip_ids)`` (ids given), per clip kind, a
        table of the manifest's latest rows aligned with them (all-null rows where none)."""
        n = len(clip_ids)
        first, last = offset // self.block_rows, (offset + max(n, 1) - 1) // self.block_rows
        parts = [self._block(b) for b in range(first, last + 1)]
        cand = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        target = cand.column(TARGET).to_numpy()
        inside = np.flatnonzero((target >= offset) & (target < offset + n))
        cand = cand.take(pa.array(inside))
        local = target[inside] - offset
        same = pc.equal(cand.column("clip_id"), clip_ids.take(pa.array(local)))
        keep = np.asarray(pc.fill_null(same, False).combine_chunks() if isinstance(same, pa.ChunkedArray)
                          else pc.fill_null(same, False)).astype(bool)
        cand, local = cand.filter(pa.array(keep)), local[keep]
        seq = cand.column(SEQ).to_numpy()
        clips = cand.column("clip")
        out = []
        for kind in kinds:
            mine = np.flatnonzero(np.asarray(pc.fill_null(pc.equal(clips, kind), False)))
            order = mine[np.lexsort((seq[mine], local[mine]))]
            rows = local[order]
            last_of = np.append(rows[1:] != rows[:-1], True) if len(rows) else np.zeros(0, bool)
            pos = np.full(n, -1, dtype=np.int64)
            pos[rows[last_of]] = order[last_of]
            out.append(cand.select(self.schema.names).take(pa.array(pos, mask=pos < 0)))
        return out


def spill_folder(out: Path) -> Path:
    """This run's spill folder in ``out``; those of dead runs are removed."""
    for old in out.glob(SPILL_GLOB):
        pid = old.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = out / f".tmp-{os.getpid()}-index_spill"
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
