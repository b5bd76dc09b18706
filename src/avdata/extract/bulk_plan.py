"""Extract planning in bulk: decide column-wise, with Arrow, what needs no per-item work, streaming
the clip table a batch at a time.

Over the whole clip table: repeated clip ids are dropped (the first wins), segments whose clips
all failed before are skipped (counted as ``failed_before``) unless ``retry_failed``, and segments
whose video is certainly missing get their ``missing_video`` rows, worded as the per-item
``VideoFinder`` words them, written batch by batch. What is left (segments with a video, segments
with earlier ``ok`` rows whose files must be checked, anything unusual) goes to ``plan_segments``
with its original row number (``_row``), so chunk folders are the same as a per-item plan's.

Memory: the batch, and 16 bytes per segment and per source (``avdata.keyset.KeySet``): per clip
id a few bits from the manifest's latest rows (which clips have a row, which are ok) and whether
the list already had it; per source of the fetch manifest its latest status.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from avdata.extract.plan import chunk_dir
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA
from avdata.fetch.scan import TreeIndex, TreeScan, clip_batches, clip_rows, scan_tree
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.keyset import KeySet
from avdata.manifest import STATUS_OK, iter_manifest, manifest_columns
from avdata.table import CLIP_SCHEMA

ROW_COLUMN = "_row"
CHUNK_ROWS = 1 << 15      # clip rows per planning batch
PLAN_COLUMNS = ("clip_id", "source", "source_kind", "start", "end")
# a table read from VIP-ANT's published index files (``sources.vipant``): where each line's media go
INDEX_PLAN_COLUMNS = ("index_dir", "index_name", "index_aclip", "index_frame")
_SAFE_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9_.\-]*$"
_ODD_SPACE = r"(\s\s)|[\t\n\r\f\v]|(^\s)|(\s$)"
_UNCLEAN = r"(^/)|(\\)|(\x00)|(//)|(^\.\.?(/|$))|(/\.\.?(/|$))|(/$)|(^[A-Za-z]:)|(^$)"

# per clip id (KeySet value): which of p0, n0, n1 have a latest row, which of those are ok, a row
# of another clip name (such a segment goes per item), and "met in this clip table"
_SLOTS = ("p0", "n0", "n1")
_HAS = [1 << i for i in range(3)]
_OK = [8 << i for i in range(3)]
_OTHER = 64
_SEEN = 128
_POPCOUNT = np.array([bin(i).count("1") for i in range(8)], dtype=np.int64)
# per source of the fetch manifest: listed, failed (not ok, or no path), its videos counted
# missing, and the index of its status (31: too many kinds of status, left per item)
_LISTED, _BAD, _COUNTED, _STATUS_SHIFT, _NO_STATUS = 1, 2, 4, 3, 31


@dataclass
class BulkPlan:
    """What the bulk plan settled (its rows already written) and the clip rows left for the
    per-item plan."""

    remaining: pa.Table     # clip_id, source, source_kind, start, end, _row
    segments: int           # segments settled here (skipped or missing, repeats included)
    failed_before: int
    videos_missing: int
    missing: int            # segments recorded missing_video


def chunk_dirs(rows: pa.Array, prefix: str, size: int) -> pa.Array:
    """``chunk_dir`` for many row numbers at once: ``{prefix}_{first}_{first + size}``."""
    chunk_dir(0, prefix, size)            # the same checks (and errors) as the per-item plan
    first = (np.asarray(rows, dtype=np.int64) // size) * size
    return pc.binary_join_element_wise(pa.array([prefix] * len(first), pa.string()),
                                       pa.array(first).cast(pa.string()),
                                       pa.array(first + size).cast(pa.string()), "_")


def segment_state(manifest: str | os.PathLike[str], capacity: int) -> KeySet:
    """Per clip id of an extraction manifest, bits of its latest rows (see ``_SLOTS``): one
    streaming pass, 16 bytes a segment."""
    state = KeySet(capacity)
    for t in iter_manifest(manifest, EXTRACT_MANIFEST_SCHEMA, ("clip_id", "clip", "status")):
        h = state.hash(t.column("clip_id"))
        clip = t.column("clip")
        ok = np.asarray(pc.fill_null(pc.equal(t.column("status"), STATUS_OK), False))
        other = np.ones(t.num_rows, dtype=bool)
        for i, name in enumerate(_SLOTS):
            rows = np.asarray(pc.fill_null(pc.equal(clip, name), False))
            other &= ~rows
            if rows.any():           # this clip's latest row: the last one wins
                _merge_bits(state, h[rows], _HAS[i] | _OK[i], _HAS[i] | np.where(ok[rows], _OK[i], 0))
        if other.any():
            _merge_bits(state, h[other], 0, np.full(int(other.sum()), _OTHER))
    return state


def _merge_bits(state: KeySet, h: np.ndarray, clear: int, bits: np.ndarray) -> None:
    """value = (value & ~clear) | bits for each key, the last of repeats winning."""
    _, last = np.unique(h[::-1], return_index=True)
    last = len(h) - 1 - last
    h, bits = h[last], np.asarray(bits, dtype=np.int64)[last]
    pos = state.find(h)
    there = pos >= 0
    old = state.get(pos[there]).astype(np.int64)
    state.set(pos[there], ((old & ~clear) | bits[there]).astype(np.uint8))
    state.insert(h[~there], bits[~there].astype(np.uint8))


class FetchState:
    """The fetch manifest's latest status per source (16 bytes a source) and the reprs of the
    status values met, for the words of ``missing_video`` messages."""

    def __init__(self, fetch_manifest: str, capacity: int, hashes_like: KeySet | None = None) -> None:
        self.sources = KeySet(capacity, hashes_like=hashes_like)
        self.reprs: list[str] = []
        self._status: dict[str | None, int] = {}
        if not {"source", "status", "path"} <= manifest_columns(fetch_manifest):
            return                  # not a fetch manifest: the per-item finder says so
        for t in iter_manifest(fetch_manifest, FETCH_MANIFEST_SCHEMA, ("source", "status", "path")):
            status = t.column("status").combine_chunks().dictionary_encode()
            mapping = np.array([self._index(v) for v in status.dictionary.to_pylist()] + [self._index(None)],
                               dtype=np.int64)
            at = mapping[pc.fill_null(status.indices, len(status.dictionary)).to_numpy()]
            bad = pc.fill_null(pc.or_(pc.not_equal(t.column("status"), STATUS_OK), t.column("path").is_null()), True)
            bits = _LISTED | np.where(np.asarray(bad), _BAD, 0) | (at << _STATUS_SHIFT)
            self.sources.put(self.sources.hash(t.column("source")), bits.astype(np.uint8))
            pa.default_memory_pool().release_unused()

    def _index(self, status: str | None) -> int:
        """The index of a status value in ``reprs`` (``_NO_STATUS`` past 30 kinds)."""
        if status not in self._status and len(self._status) < _NO_STATUS:
            self._status[status] = len(self._status)
            self.reprs.append(repr(status))
        return self._status.get(status, _NO_STATUS)


def bulk_plan(clips: pa.Table | str | os.PathLike[str], videos: Path, stems: list[str],
              manifest: str | os.PathLike[str], write: Callable[[pa.Table], None], *, prefix: str, size: int,
              retry_failed: bool, fetch_manifest: str | None, batch_rows: int | None = None) -> BulkPlan:
    """Settle what needs no per-item work (see module doc), the clip table (or its path) a batch
    at a time; ``missing_video`` rows go to ``write`` batch by batch. ``stems``: the video
    folder's ``{stem}.{ext}`` stems (``VideoFinder``'s index); ``manifest``: the extraction
    manifest (its latest rows say what is done)."""
    chunk_dir(0, prefix, size)
    batch_rows = batch_rows or CHUNK_ROWS
    rows = clip_rows(clips)
    state = segment_state(manifest, rows)
    finder = _Missing(videos, stems, FetchState(fetch_manifest, rows, state) if fetch_manifest else None, state,
                      rows)
    kept: list[pa.Table] = []
    plan = BulkPlan(remaining=pa.table({}), segments=0, failed_before=0, videos_missing=0, missing=0)
    offset = 0
    pool = pa.default_memory_pool()
    columns = plan_columns(clips)
    for batch in clip_batches(clips, columns, batch_rows):
        n = batch.num_rows
        t = batch.select(list(columns)).append_column(
            ROW_COLUMN, pa.array(np.arange(offset, offset + n, dtype=np.int64)))
        offset += n
        h = state.hash(t.column("clip_id"))
        pos = state.find(h)
        fresh = pos < 0
        fresh[~fresh] = (state.get(pos[~fresh]) & _SEEN) == 0
        _, first = np.unique(h[fresh], return_index=True)        # repeated ids: the first row wins
        keep = np.flatnonzero(fresh)[np.sort(first)]
        bits = np.zeros(len(keep), dtype=np.int64)
        old = pos[keep] >= 0
        bits[old] = state.get(pos[keep][old])
        state.set(pos[keep][old], (bits[old] | _SEEN).astype(np.uint8))
        state.insert(h[keep][~old], _SEEN)
        t = t.take(pa.array(keep))
        has, ok = bits & 7, (bits >> 3) & 7
        n_rows, n_ok = _POPCOUNT[has], _POPCOUNT[ok]
        other = (bits & _OTHER) != 0
        all_failed = (n_rows > 0) & (n_ok == 0) & ~other
        skipped = all_failed & (not retry_failed)
        plan.failed_before += int(n_rows[skipped].sum())
        to_find = ((n_rows == 0) & ~other) | (all_failed if retry_failed else False)
        look = np.flatnonzero(to_find)          # only segments without a row need their video found
        reason, status_at, hs = finder.why(t.take(pa.array(look)))
        missing = np.zeros(len(t), dtype=bool)
        missing[look] = reason != _NOT_MISSING
        if missing.any():
            found = reason != _NOT_MISSING
            gone = t.filter(pa.array(missing))
            plan.missing += gone.num_rows
            plan.videos_missing += finder.count_new(hs[found], reason[found])
            message = _messages(gone.column("source").combine_chunks(), reason[found], status_at[found],
                                finder.reprs, videos)
            write(_error_rows(gone, message, prefix, size))
        per_item = ~(skipped | missing)
        plan.segments += n - int(per_item.sum())
        if per_item.any():
            kept.append(t.filter(pa.array(per_item)))
        pool.release_unused()       # the batch's buffers go back to the system, not to a growing cache
    schema = pa.schema([*(f for f in _plan_schema(columns)), pa.field(ROW_COLUMN, pa.int64())])
    plan.remaining = pa.concat_tables(kept) if kept else schema.empty_table()
    return plan


def plan_columns(clips: pa.Table | str | os.PathLike[str]) -> tuple[str, ...]:
    """The columns the plan reads: the clip columns, and the published index columns when the table
    has them (then each line's media go where the line says)."""
    if isinstance(clips, pa.Table):
        names = clips.column_names
    else:
        try:
            names = pq.read_schema(os.path.abspath(clips)).names
        except (OSError, pa.ArrowException):
            return PLAN_COLUMNS             # the plan's own read says what is wrong with the file
    return PLAN_COLUMNS + tuple(c for c in INDEX_PLAN_COLUMNS if c in names)


_INDEX_TYPES = {"index_dir": pa.string(), "index_name": pa.string(), "index_aclip": pa.list_(pa.string()),
                "index_frame": pa.list_(pa.string())}


def _plan_schema(columns: tuple[str, ...] = PLAN_COLUMNS) -> list[pa.Field]:
    return [CLIP_SCHEMA.field(c) if c in PLAN_COLUMNS else pa.field(c, _INDEX_TYPES[c]) for c in columns]


_NOT_MISSING, _NO_STEM, _NO_PATH, _FETCH_FAILED = 0, 1, 2, 3
_EMPTY_SCAN = TreeScan(pa.array([], pa.string()), pa.array([], pa.bool_()), [])


class _Missing:
    """Why a row's video is certainly missing, a batch at a time: no ``{stem}.{ext}`` for a
    YouTube id, no file for a clean path (scanned once, when a path first comes), or a failed
    fetch (its status); and which missing videos were counted already."""

    def __init__(self, videos: Path, stems: list[str], fetched: FetchState | None, hashes_like: KeySet,
                 capacity: int) -> None:
        self.videos = videos
        self.plain = " ".join(str(videos).split()) == str(videos)   # else messages differ: all per item
        self.stems = KeySet(hashes_like=hashes_like)    # every set hashes alike: one hash per source
        self.stems.add(self.stems.hash(pa.array(stems, pa.string())))
        self.tree: TreeIndex | None = None
        self.fetched = fetched
        # missing videos not in the fetch manifest, counted (sized at once: untouched pages cost nothing)
        self.counted = KeySet(capacity, hashes_like=hashes_like)

    @property
    def reprs(self) -> list[str]:
        return (self.fetched.reprs if self.fetched is not None else []) + ["None"]

    def why(self, t: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row, a reason (``_NO_STEM``, ``_NO_PATH``, ``_FETCH_FAILED``) or ``_NOT_MISSING``;
        for ``_FETCH_FAILED`` the index of its status in ``reprs``; the sources' hashes."""
        n = t.num_rows
        reason = np.zeros(n, dtype=np.int8)
        status_at = np.zeros(n, dtype=np.int64)
        if not self.plain or n == 0:
            return reason, status_at, np.zeros(n, dtype=np.complex128)
        source, kind = t.column("source").combine_chunks(), t.column("source_kind").combine_chunks()
        hs = self.stems.hash(source)
        yt = pc.and_(pc.equal(kind, "youtube"), pc.match_substring_regex(source, _SAFE_NAME))
        yt = np.asarray(pc.fill_null(pc.and_(yt, pc.not_equal(source, ".")), False))
        if yt.any():
            at = np.flatnonzero(yt)
            reason[at[~self.stems.contains(hs[at])]] = _NO_STEM
        is_path = pc.and_(pc.equal(kind, "path"), pc.invert(pc.match_substring_regex(source, _UNCLEAN)))
        is_path = pc.and_(is_path, pc.invert(pc.match_substring_regex(source, _ODD_SPACE)))   # one-line rule
        is_path = np.asarray(pc.fill_null(is_path, False))
        if is_path.any():
            if self.tree is None:
                self.tree = TreeIndex(scan_tree(self.videos) if self.videos.is_dir() else _EMPTY_SCAN, self.stems)
            at = np.flatnonzero(is_path)
            gone = self.tree.certainly_missing(source.take(pa.array(at)), kind.take(pa.array(at)), hs[at])
            reason[at[gone]] = _NO_PATH
        if self.fetched is not None and len(self.fetched.sources):
            pos = self.fetched.sources.find(hs)
            listed = pos >= 0
            bits = np.zeros(n, dtype=np.int64)
            bits[listed] = self.fetched.sources.get(pos[listed])
            reason[listed] = _NOT_MISSING
            status = bits >> _STATUS_SHIFT
            failed = listed & ((bits & _BAD) != 0) & (status != _NO_STATUS)
            reason[failed] = _FETCH_FAILED
            status_at[failed] = status[failed]
        return reason, status_at, hs

    def count_new(self, hashes: np.ndarray, reason: np.ndarray) -> int:
        """How many of these missing videos (their sources' hashes) were not counted before."""
        new = 0
        listed = reason == _FETCH_FAILED
        if listed.any():
            ks = self.fetched.sources                          # type: ignore[union-attr]
            h = hashes[listed]
            _, first = np.unique(h, return_index=True)
            h = h[first]
            pos = ks.find(h)
            bits = ks.get(pos)
            fresh = (bits & _COUNTED) == 0
            ks.set(pos[fresh], bits[fresh] | _COUNTED)
            new += int(fresh.sum())
        if (~listed).any():
            new += int(self.counted.add(hashes[~listed]).sum())
        return new


def _messages(source: pa.Array, reason: np.ndarray, status_at: np.ndarray, reprs: list[str],
              videos: Path) -> pa.Array:
    """The ``missing_video`` messages of some rows, as ``VideoFinder`` words them."""
    yt = pc.binary_join_element_wise(
        source, pa.scalar(": no {videos}/"), source, pa.scalar(f".{{mp4,mkv,webm,...}} under {videos}"), "")
    path = pc.binary_join_element_wise(source, pa.scalar(f": not found under {videos}"), "")
    message = pc.if_else(pa.array(reason == _NO_STEM), yt, path)
    if (reason == _FETCH_FAILED).any():
        status = pc.take(pa.array(reprs, pa.string()), pa.array(status_at))
        fetched = pc.binary_join_element_wise(source, pa.scalar(": fetch status "), status, "")
        message = pc.if_else(pa.array(reason == _FETCH_FAILED), fetched, message)
    return message


def _dirs(gone: pa.Table, prefix: str, size: int) -> pa.Array:
    """Each row's folder: the published line's ``dir``, else its chunk folder."""
    if not gone.num_rows:
        return pa.array([], pa.string())
    chunks = chunk_dirs(gone.column(ROW_COLUMN).to_numpy(), prefix, size)
    if "index_dir" in gone.column_names:
        return pc.coalesce(gone.column("index_dir").combine_chunks(), chunks)
    return chunks


def _error_rows(gone: pa.Table, message: pa.Array, prefix: str, size: int) -> pa.Table:
    """``error_row(seg, "p0", "missing_video", message)`` for every row of ``gone``, column-wise."""
    k = gone.num_rows
    cols = {
        "clip_id": gone.column("clip_id"), "clip": pa.array(["p0"] * k, pa.string()),
        "dir": _dirs(gone, prefix, size),
        "source": gone.column("source"), "start": gone.column("start"), "end": gone.column("end"),
        "frame_files": pa.array([[]] * k, pa.list_(pa.string())),
        "frame_times": pa.array([[]] * k, pa.list_(pa.float64())),
        "status": pa.array(["missing_video"] * k, pa.string()),
        "message": pc.utf8_slice_codeunits(message, 0, 500) if k else pa.array([], pa.string()),
        "seconds": pa.array([0.0] * k, pa.float64()),
    }
    return pa.Table.from_arrays([cols[f.name] if f.name in cols else pa.nulls(k, f.type)
                                 for f in EXTRACT_MANIFEST_SCHEMA], schema=EXTRACT_MANIFEST_SCHEMA)
