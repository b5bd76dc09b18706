"""With media checks, a rerun's unchanged results taken column by column (issue 13).

``validate._reused`` decides, per segment, that the previous run's results still hold: every
clip's fingerprint (its manifest row and the run's options) is the one recorded and every file it
recorded has the same size and mtime_ns; a gold clip that was not ok then stands alone, otherwise
every negative clip must hold as well. ``reused`` applies the same rule to a batch's candidates at
once (one ``os.stat`` per recorded file, no task objects) and returns the check rows
``build._check_rows`` would write for them and their index lines. Runs with features are left to
``validate.settle`` (their lines name feature files).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.index import fast
from avdata.index.validate import MISSING_STAMP, OK

Fingerprints = Callable[[pa.Table, list[str]], list[str]]   # (manifest rows, their gold dirs) -> digests


@dataclass
class Reused:
    """The segments of a batch whose previous results still hold."""

    positions: np.ndarray     # batch positions settled here
    rows: pa.Table            # their check rows (+ ROW/KIND columns)
    lines: pa.Array           # per batch position: the index line, null when not listed here


@dataclass
class _Listed:
    """What ``fast._lines`` reads of one clip kind."""

    ok: np.ndarray
    aclip: pa.Array
    frames: pa.Array


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return np.asarray(pc.fill_null(values, False)).astype(bool)


def _stamps_hold(prev: pa.Table, root: str) -> np.ndarray:
    """Per previous check row: every recorded file has its recorded size and mtime_ns (a row
    whose three lists differ in length never holds here; ``validate`` judges it)."""
    n = prev.num_rows
    files, sizes, mtimes = (prev.column(c).combine_chunks() for c in ("files", "sizes", "mtimes_ns"))
    lengths = [np.asarray(pc.fill_null(pc.list_value_length(c), 0)) for c in (files, sizes, mtimes)]
    same_length = (lengths[0] == lengths[1]) & (lengths[0] == lengths[2])
    names = pc.fill_null(files, pa.scalar([], files.type))
    parents = np.asarray(pc.list_parent_indices(names))
    want = np.stack([np.asarray(pc.fill_null(pc.list_flatten(pc.fill_null(c, pa.scalar([], c.type))), -2))
                     for c in (sizes, mtimes)], axis=1) if len(parents) else np.zeros((0, 2), np.int64)
    if not same_length.all():   # lists that do not line up: left to validate
        return np.zeros(n, dtype=bool)
    got = np.empty((len(parents), 2), dtype=np.int64)
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:   # relative to the root's descriptor: os.stat(os.path.join(root, rel)) without the join
        for i, rel in enumerate(pc.list_flatten(names).to_pylist()):
            try:
                st = os.stat(rel, dir_fd=fd) if rel and not rel.startswith("/") else os.stat(os.path.join(root, rel))
                got[i] = (st.st_size, st.st_mtime_ns)
            except (OSError, TypeError, ValueError):
                got[i] = MISSING_STAMP
    finally:
        os.close(fd)
    changed = np.bincount(parents[(got != want).any(axis=1)], minlength=n) > 0 if len(parents) else np.zeros(n, bool)
    return ~changed


def reused(rows: pa.Table, manifest: Sequence[pa.Table], previous: Sequence[pa.Table], split: pa.Array,
           candidates: np.ndarray, offset: int, kinds: Sequence[str], root: str, fingerprints: Fingerprints,
           schema: pa.Schema) -> Reused:
    """The candidates (batch positions whose gold clip has an audio file) whose previous results
    hold, as ``validate._reused`` decides; ``manifest``/``previous``: per clip kind, aligned."""
    n = rows.num_rows
    cand = np.zeros(n, dtype=bool)
    cand[candidates] = True
    gold_dir = pc.fill_null(manifest[0].column("dir").combine_chunks(), "")
    present = [_mask(m.column("clip_id").combine_chunks().is_valid()) for m in manifest]
    prev_ok = [_mask(pc.equal(p.column("status"), OK)) for p in previous]
    valid: list[np.ndarray] = []
    for k, (m, p) in enumerate(zip(manifest, previous)):
        printed = p.column("fingerprint").combine_chunks()
        check = cand & present[k] & _mask(pc.greater(pc.binary_length(printed), 0))
        if k:
            check &= valid[0] & prev_ok[0]        # negatives matter only beside a reusable ok gold clip
        v = np.zeros(n, dtype=bool)
        idx = np.flatnonzero(check)
        if len(idx):
            take = pa.array(idx)
            now = fingerprints(m.take(take), gold_dir.take(take).to_pylist())
            same = np.array([a == b for a, b in zip(printed.take(take).to_pylist(), now)], dtype=bool)
            idx = idx[same]
            v[idx[_stamps_hold(p.take(pa.array(idx)), root)]] = True
        valid.append(v)
    negatives_hold = np.logical_and.reduce([valid[k] | ~present[k] for k in range(1, len(kinds))] + [np.ones(n, bool)])
    settled = valid[0] & (~prev_ok[0] | negatives_hold)
    tables = []
    for k, p in enumerate(previous):
        idx = np.flatnonzero(settled & (present[k] if k else True) & (prev_ok[0] if k else True))
        if len(idx):
            tables.append(_check_rows(p, idx, split, offset, k, kinds[k], schema))
    listed = settled & prev_ok[0]
    if listed.any():
        clips = [_Listed(settled & present[k] & prev_ok[k], p.column("aclip").combine_chunks(),
                         _lists(p.column("frames"))) for k, p in enumerate(previous)]
        lines = pc.if_else(pa.array(listed), fast.listed_lines(rows, gold_dir, clips), pa.scalar(None, pa.string()))
    else:
        lines = pa.nulls(n, pa.string())
    empty = fast.with_order(schema.empty_table(), np.zeros(0, np.int64), 0, 0)
    return Reused(np.flatnonzero(settled), pa.concat_tables([empty, *tables]), lines)


def _lists(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.fill_null(values, pa.scalar([], values.type))


def _check_rows(prev: pa.Table, idx: np.ndarray, split: pa.Array, offset: int, kind: int, clip: str,
                schema: pa.Schema) -> pa.Table:
    """``build._check_rows(SegmentResult(..., previous results))`` of rows ``idx``: the previous
    row with this run's split file, as ``build._previous_result`` reads it back."""
    take = pa.array(idx)
    t = prev.take(take)
    frames = _lists(t.column("frames"))
    columns = {name: t.column(name) for name in schema.names}
    columns.update({
        "clip": pa.repeat(pa.scalar(clip, pa.string()), len(idx)), "split_file": split.take(take),
        "message": pc.fill_null(t.column("message"), ""), "feature_error": pc.fill_null(t.column("feature_error"), ""),
        "frames_total": pc.fill_null(t.column("frames_total"), 0), "frames": frames,
        "frames_ok": pc.list_value_length(frames).cast(pa.int32()),
        "files": _lists(t.column("files")), "sizes": _lists(t.column("sizes")),
        "mtimes_ns": _lists(t.column("mtimes_ns")),
    })
    table = pa.table({name: columns[name] for name in schema.names}).cast(schema)
    return fast.with_order(table, idx, offset, kind)
