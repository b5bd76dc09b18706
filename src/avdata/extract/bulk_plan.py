"""Extract planning in bulk: decide column-wise, with Arrow, what needs no per-item work.

For the whole clip table at once: repeated clip ids are dropped (the first wins), segments whose
clips all failed before are skipped (counted as ``failed_before``) unless ``retry_failed``, and
segments whose video is certainly missing get their ``missing_video`` rows in one table, worded
as the per-item ``VideoFinder`` words them. What is left (segments with a video, segments with
earlier ``ok`` rows whose files must be checked, anything unusual) goes to ``plan_segments`` with
its original row number (``_row``), so chunk folders are the same as a per-item plan's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.extract.plan import chunk_dir
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA
from avdata.fetch.scan import positions_in, scan_tree
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import STATUS_OK, manifest_columns, read_latest

ROW_COLUMN = "_row"
CHUNK_ROWS = 1 << 18
_SAFE_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9_.\-]*$"
_ODD_SPACE = r"(\s\s)|[\t\n\r\f\v]|(^\s)|(\s$)"
_UNCLEAN = r"(^/)|(\\)|(\x00)|(//)|(^\.\.?(/|$))|(/\.\.?(/|$))|(/$)|(^[A-Za-z]:)|(^$)"


@dataclass
class BulkPlan:
    """Rows settled in bulk, the clip rows left for the per-item plan, and their previous rows."""

    chunks: Callable[[], Iterator[pa.Table]]   # missing_video rows, a chunk at a time
    remaining: pa.Table     # clip_id, source, source_kind, start, end, _row
    previous: pa.Table      # latest manifest rows of the remaining clip ids
    segments: int           # segments settled here (skipped or missing, repeats included)
    failed_before: int
    videos_missing: int
    missing: int            # segments recorded missing_video

    @property
    def rows(self) -> pa.Table:
        """All missing rows at once (small lists, tests)."""
        return pa.concat_tables([EXTRACT_MANIFEST_SCHEMA.empty_table(), *self.chunks()])


def chunk_dirs(rows: pa.Array, prefix: str, size: int) -> pa.Array:
    """``chunk_dir`` for many row numbers at once: ``{prefix}_{first}_{first + size}``."""
    chunk_dir(0, prefix, size)            # the same checks (and errors) as the per-item plan
    first = (np.asarray(rows, dtype=np.int64) // size) * size
    return pc.binary_join_element_wise(pa.array([prefix] * len(first), pa.string()),
                                       pa.array(first).cast(pa.string()),
                                       pa.array(first + size).cast(pa.string()), "_")


def bulk_plan(clips: pa.Table, videos: Path, stems: list[str], previous: pa.Table, *, prefix: str,
              size: int, retry_failed: bool, fetch_manifest: str | None) -> BulkPlan:
    """Settle what needs no per-item work (see module doc). ``stems``: the video folder's
    ``{stem}.{ext}`` stems (``VideoFinder``'s index), ``previous``: the latest manifest rows.
    Messages are made a chunk at a time, when the rows are written."""
    n = clips.num_rows
    chunk_dir(0, prefix, size)
    t = clips.select(["clip_id", "source", "source_kind", "start", "end"]).append_column(
        ROW_COLUMN, pa.array(np.arange(n, dtype=np.int64)))
    firsts = t.group_by(["clip_id"], use_threads=False).aggregate([(ROW_COLUMN, "min")]).column(f"{ROW_COLUMN}_min")
    if len(firsts) != n:                      # repeated ids: the first row wins
        keep = np.zeros(n, dtype=bool)
        keep[firsts.to_numpy()] = True
        t = t.filter(pa.array(keep))
    del firsts
    # earlier rows per segment: how many, how many ok (aligned to t by position, no join)
    if previous.num_rows:
        ok = pc.cast(pc.equal(previous.column("status"), STATUS_OK), pa.int64())
        stats = pa.table({"clip_id": previous.column("clip_id"), "ok": ok}).group_by(
            ["clip_id"], use_threads=False).aggregate([("ok", "count"), ("ok", "sum")])
        pos = pc.index_in(t.column("clip_id"), value_set=stats.column("clip_id").combine_chunks())
        n_rows = pc.fill_null(pc.take(stats.column("ok_count").combine_chunks(), pos), 0)
        n_ok = pc.fill_null(pc.take(stats.column("ok_sum").combine_chunks(), pos), 0)
        del stats, pos
    else:
        n_rows = n_ok = pa.array(np.zeros(t.num_rows, dtype=np.int64))
    all_failed = pc.and_(pc.greater(n_rows, 0), pc.equal(n_ok, 0))
    skipped = all_failed if not retry_failed else pa.array(np.zeros(t.num_rows, dtype=bool))
    failed_before = int(pc.sum(pc.if_else(skipped, n_rows, 0)).as_py() or 0)
    to_find = pc.or_(pc.equal(n_rows, 0), all_failed) if retry_failed else pc.equal(n_rows, 0)
    reason, status_at, reprs = _missing(t, videos, stems, fetch_manifest)
    missing = pc.and_(to_find, pa.array(reason != _NOT_MISSING))
    gone = t.filter(missing)
    gone_reason = reason[np.asarray(missing)] if len(reason) else reason
    gone_status = status_at[np.asarray(missing)] if len(status_at) else status_at
    del reason, status_at

    def chunks() -> Iterator[pa.Table]:
        for start in range(0, gone.num_rows, CHUNK_ROWS):
            part = gone.slice(start, CHUNK_ROWS)
            message = _messages(part.column("source").combine_chunks(), gone_reason[start:start + CHUNK_ROWS],
                                gone_status[start:start + CHUNK_ROWS], reprs, videos)
            yield _error_rows(part, message, prefix, size)

    per_item = pc.invert(pc.or_(skipped, missing))
    remaining = t.filter(per_item).select(["clip_id", "source", "source_kind", "start", "end", ROW_COLUMN])
    prev = previous.filter(pc.is_in(previous.column("clip_id"), value_set=remaining.column("clip_id").combine_chunks())) \
        if previous.num_rows else previous
    return BulkPlan(chunks=chunks, remaining=remaining, previous=prev, segments=n - remaining.num_rows,
                    failed_before=failed_before,
                    videos_missing=len(pc.unique(gone.column("source"))) if gone.num_rows else 0,
                    missing=gone.num_rows)


_NOT_MISSING, _NO_STEM, _NO_PATH, _FETCH_FAILED = 0, 1, 2, 3


def _missing(t: pa.Table, videos: Path, stems: list[str], fetch_manifest: str | None
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per row, why its video is certainly missing (``_NO_STEM``, ``_NO_PATH``, ``_FETCH_FAILED``)
    or ``_NOT_MISSING``; for ``_FETCH_FAILED`` the index of its fetch status in the returned reprs."""
    n = t.num_rows
    reason = np.zeros(n, dtype=np.int8)
    status_at = np.zeros(n, dtype=np.int32)
    if " ".join(str(videos).split()) != str(videos):
        return reason, status_at, []          # messages would be reworded: all per item
    source, kind = t.column("source").combine_chunks(), t.column("source_kind").combine_chunks()
    yt = pc.and_(pc.equal(kind, "youtube"), pc.match_substring_regex(source, _SAFE_NAME))
    yt = pc.and_(yt, pc.invert(pc.is_in(source, value_set=pa.array(["."], pa.string()))))
    yt_missing = pc.and_(yt, pc.invert(pc.is_in(source, value_set=pa.array(stems, pa.string()))))
    reason[np.asarray(yt_missing)] = _NO_STEM
    is_path = pc.and_(pc.equal(kind, "path"), pc.invert(pc.match_substring_regex(source, _UNCLEAN)))
    is_path = pc.and_(is_path, pc.invert(pc.match_substring_regex(source, _ODD_SPACE)))   # one-line rule
    if pc.any(is_path).as_py():
        scan = scan_tree(videos) if videos.is_dir() else None
        files = scan.files if scan is not None else pa.array([], pa.string())
        via_link = pa.array(np.zeros(n, dtype=bool))
        for d in scan.linked_dirs if scan is not None else []:
            via_link = pc.or_(via_link, pc.starts_with(source, d + "/"))
        path_missing = pc.and_(is_path, pc.and_(pc.invert(pc.is_in(source, value_set=files)), pc.invert(via_link)))
        reason[np.asarray(path_missing)] = _NO_PATH
    reprs: list[str] = []
    if fetch_manifest:
        reprs = _fetch_failed(source, reason, status_at, fetch_manifest)
    return reason, status_at, reprs


def _fetch_failed(source: pa.Array, reason: np.ndarray, status_at: np.ndarray, fetch_manifest: str) -> list[str]:
    """Sources the fetch manifest lists: missing when their fetch failed (its words), otherwise left
    to the per-item finder, whatever the folder holds. Updates ``reason`` and ``status_at``."""
    if not {"source", "status", "path"} <= manifest_columns(fetch_manifest):
        return []                   # not a fetch manifest: the per-item finder says so
    fetched = read_latest(fetch_manifest, FETCH_MANIFEST_SCHEMA, ["source"], ("source", "status", "path"))
    if fetched.num_rows == 0:
        return []
    at = positions_in(source, fetched.column("source"))          # one sort, no hash of every name
    listed = at >= 0
    pos = pa.array(np.where(listed, at, 0))
    reason[listed] = _NOT_MISSING
    status_col = fetched.column("status").combine_chunks()
    bad = pc.fill_null(pc.or_(pc.not_equal(status_col, STATUS_OK),
                              pc.invert(pc.is_valid(fetched.column("path").combine_chunks()))), True)
    failed = listed & np.asarray(pc.fill_null(pc.take(bad, pos), False))
    status = pc.if_else(pa.array(listed), pc.take(status_col, pos), pa.nulls(len(listed), pa.string()))
    del fetched
    values = pc.unique(status.filter(pa.array(failed)).drop_null())
    reprs = [repr(v) for v in values.to_pylist()] + ["None"]
    at = pc.fill_null(pc.index_in(status, value_set=values), len(reprs) - 1).to_numpy(zero_copy_only=False)
    reason[failed] = _FETCH_FAILED
    status_at[failed] = at[failed]
    return reprs


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


def _error_rows(gone: pa.Table, message: pa.Array, prefix: str, size: int) -> pa.Table:
    """``error_row(seg, "p0", "missing_video", message)`` for every row of ``gone``, column-wise."""
    k = gone.num_rows
    cols = {
        "clip_id": gone.column("clip_id"), "clip": pa.array(["p0"] * k, pa.string()),
        "dir": chunk_dirs(gone.column(ROW_COLUMN).to_numpy(), prefix, size) if k else pa.array([], pa.string()),
        "source": gone.column("source"), "start": gone.column("start"), "end": gone.column("end"),
        "frame_files": pa.array([[]] * k, pa.list_(pa.string())),
        "frame_times": pa.array([[]] * k, pa.list_(pa.float64())),
        "status": pa.array(["missing_video"] * k, pa.string()),
        "message": pc.utf8_slice_codeunits(message, 0, 500) if k else pa.array([], pa.string()),
        "seconds": pa.array([0.0] * k, pa.float64()),
    }
    return pa.Table.from_arrays([cols[f.name] if f.name in cols else pa.nulls(k, f.type)
                                 for f in EXTRACT_MANIFEST_SCHEMA], schema=EXTRACT_MANIFEST_SCHEMA)
