"""The index stage: clip table + extraction manifest -> VIP-ANT split files, combined list, sidecars.

``build_index(IndexOptions(...))`` writes into ``out``:

- one split file per (dataset, split) of the clip table, published names (``src_eval_segments.csv``,
  ``src_audiocaps_val.csv``, ...; see ``avdata.index.entry``), lines in clip-table order;
- ``src_train_segments.csv`` + ``src_train_segments.json`` (unbalanced, then balanced; see
  ``avdata.index.combined``) when the table has AudioSet training splits;
- ``index_checks.parquet/``: one row per checked clip (status or exclusion reason, audio seconds,
  rate, channels, frames decoded, and the size and mtime_ns of every file read or written) -- what
  the report reads instead of decoding again, and what a rerun reuses;
- ``index_summary.json``: segments listed per split and exclusions by reason.

Segments are decided a batch of ``batch_rows`` at a time. Without media checks and features no
file is opened: ``avdata.index.fast`` decides a batch column by column and writes the same bytes
(the few segments it leaves over, e.g. files outside the layout, go through ``check_segment``
inline). With them, what needs no decode is settled in the driver (label filters, clips never
extracted or failed, no audio file: ``fast``'s rows, fingerprinted; unchanged results of the last
run: ``avdata.index.reuse``; bad layouts, audio files not there: ``validate.settle``) and only
segments whose media must be decoded (or features written) go to the executor, batch by batch,
results merged back in table order. ``build_index(opts, per_segment=True)`` sends every segment through
``check_segment`` on the executor: the reference both paths must equal, byte for byte.

Resuming: a rerun reads the previous ``index_checks.parquet`` (and the checks a killed run left in
``.tmp-*-index_checks.parquet``) and hands each segment its previous results; a clip whose inputs
and files are unchanged is not decoded again and its features are not remade. The outputs are the
same bytes as a fresh run's. With media checks each decoded segment's checks are durable (see ``avdata.manifest``)
as it finishes (the bulk path writes them to ``.tmp-PIDd-index_checks.parquet``, read back as a
leftover after a kill); the rest every ``CHECKS_FLUSH_ROWS`` rows or every batch, so that a
killed run keeps its work. Without media checks nothing is
reused (results made from the manifest alone carry no fingerprint; see ``validate``): the previous
checks are not even read, only the killed runs' leftovers removed.

Memory: the clip table is streamed ``batch_rows`` rows at a time; the extraction manifest and the
previous checks are joined with it by ``avdata.index.align`` (id hashes of the table, 12 bytes a
row, and spill files per table block in ``.tmp-PID-index_spill/``), never held whole; the checks
journal becomes a Parquet part every ``CHECKS_PART_ROWS`` rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.atomic import atomic_path
from avdata.executors import ExecutorSpec, build_executor
from avdata.index import fast
from avdata.index.checks import (  # noqa: F401
    CHECKS_DIR,
    CHECKS_FLUSH_ROWS,
    CHECKS_KEYS,
    CHECKS_PART_ROWS,
    CHECKS_SCHEMA,
    CHECKS_TMP_GLOB,
    SUMMARY_FILE,
    leftover_checks,
    previous_result,
    read_summary,
)
from avdata.index.combined import write_combined
from avdata.index.entry import CAPTION_DATASETS, IndexEntry, format_time, line_events, split_file_name
from avdata.index.inputs import Batch, Inputs, RowInfo, batches, clip_files, label_verdict, open_inputs, read_clips_rows
from avdata.index.json_columns import joined_bytes
from avdata.index.options import LABEL_REASONS, IndexOptions, IndexResult, write_summary  # noqa: F401
from avdata.index.published import is_published, write_published
from avdata.index.reuse import reused
from avdata.index.validate import (
    GOLD_CLIP,
    OK,
    UNKNOWN_EXTRACT_STATUS,
    ClipResult,
    SegmentResult,
    SegmentTask,
    check_segment,
    clip_files_repr,
    fingerprint_of,
    options_repr,
    settle,
)
from avdata.manifest import ManifestWriter
from avdata.progress import progress


def _segment(opts: IndexOptions, inputs: Inputs, row_no: int, row: dict, aligned: list[dict | None],
             prev: list[dict | None], split_file: str) -> tuple[SegmentTask, RowInfo]:
    """The check task of a segment that passed the label filter, and what its line needs."""
    files, previous_results = [], []
    for a, b in zip(aligned, prev or [None] * len(aligned)):
        f = clip_files(a)
        if f is not None:
            files.append(f)
            previous_results.append(previous_result(b))
    gold_dir = aligned[0]["dir"] if aligned[0] is not None else None
    captions = row["captions"] if (row["dataset"] in CAPTION_DATASETS or row["captions"]) else None
    info = RowInfo(split_file, row["clip_id"], format_time(row["start"]), format_time(row["end"]),
                    row["labels"], captions, line_events(row.get("events")))
    task = SegmentTask(
        row=row_no, clip_id=row["clip_id"], dir=gold_dir or "", clips=tuple(files),
        media_root=inputs.media_root, min_audio_seconds=opts.min_audio_seconds,
        check_media=opts.check_media, features=opts.features, previous=tuple(previous_results),
    )
    return task, info


def _plan(opts: IndexOptions, inputs: Inputs, result: IndexResult, checks: ManifestWriter
          ) -> Iterator[tuple[SegmentTask, RowInfo]]:
    """Tasks in clip-table order; rows dropped by the label filter are counted here, not checked."""
    for batch in batches(inputs, opts.batch_rows):
        rows = batch.rows.to_pylist()
        aligned = [t.to_pylist() for t in batch.manifest]
        prev = [t.to_pylist() for t in batch.previous]
        for i, row in enumerate(rows):
            split_file = split_file_name(row["dataset"], row["split"])
            if split_file not in result.split_files:
                result.split_files[split_file] = Path(opts.out) / split_file
            verdict = label_verdict(row["labels"], inputs.exclude, inputs.keep)
            if verdict is not None:
                _count_segment(result, split_file, SegmentResult(batch.offset + i, row["clip_id"],
                               (ClipResult(GOLD_CLIP, verdict),)), checks)
                continue
            yield _segment(opts, inputs, batch.offset + i, row, [a[i] for a in aligned],
                           [b[i] for b in prev], split_file)


def _check_rows(seg: SegmentResult, split_file: str) -> list[dict]:
    """The rows ``index_checks.parquet`` keeps for a segment, one per clip checked."""
    return [{
        "clip_id": seg.clip_id, "clip": clip.clip, "split_file": split_file, "status": clip.status,
        "message": clip.message, "audio_seconds": clip.audio_seconds, "sample_rate": clip.sample_rate,
        "channels": clip.channels, "frames_ok": len(clip.frames), "frames_total": clip.frames_total,
        "aclip_128": clip.aclip_128, "frame_224": clip.frame_224, "feature_error": clip.feature_error,
        "aclip": clip.aclip, "frames": list(clip.frames), "fingerprint": clip.fingerprint or None,
        "files": [st[0] for st in clip.stamps], "sizes": [st[1] for st in clip.stamps],
        "mtimes_ns": [st[2] for st in clip.stamps],
    } for clip in seg.clips]


def _count_segment(result: IndexResult, split_file: str, seg: SegmentResult, checks: ManifestWriter) -> None:
    checks.write_many(_check_rows(seg, split_file))
    if not seg.ok:
        result.excluded[seg.status] += 1
        result.excluded_by_split.setdefault(split_file, Counter())[seg.status] += 1
        return
    result.listed[split_file] += 1
    for clip in seg.clips[1:]:
        if clip.ok:
            result.negatives_listed += 1
        else:
            result.negatives_dropped[clip.status] += 1
    gold = seg.clips[0]
    if gold.aclip_128 is not None or gold.frame_224 is not None:
        result.features_made += 1
    for err in filter(None, gold.feature_error.split(",")):
        result.feature_errors[err] += 1


def _entry(seg: SegmentResult, task: SegmentTask, info: RowInfo) -> IndexEntry:
    good = [c for c in seg.clips if c.ok]
    gold = good[0]
    return IndexEntry(
        dir=task.dir, aclip=[c.aclip for c in good if c.aclip is not None], frame=[f for c in good for f in c.frames],
        aclip_128=gold.aclip_128, frame_224=gold.frame_224, id=info.id, bos=info.bos, eos=info.eos,
        labels=info.labels, captions=info.captions, events=info.events,
    )


def build_index(opts: IndexOptions, *, per_segment: bool = False) -> IndexResult:
    """Write the split files, the combined training list and the sidecars (see module docstring).

    ``per_segment``: send every segment through ``check_segment`` on the executor, as before the
    vectorised path (the reference the vectorised path must equal byte for byte; tests compare).
    """
    total = read_clips_rows(opts.clips)     # an unreadable table stops the run before anything is written
    published = is_published(opts.clips)    # VIP-ANT's own files: written back as published (published.py)
    if published and not opts.with_negatives:
        opts = dataclasses.replace(opts, with_negatives=True)     # their lines may list n0, n1
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    result = IndexResult(out=out)
    reads_files = opts.check_media or opts.features
    leftovers = leftover_checks(out)
    # without media checks nothing is reused (see the module docstring): the previous checks are not read
    previous = [p for p in [out / CHECKS_DIR, *leftovers] if p.exists()] if (reads_files or per_segment) else None
    checks_tmp = out / f".tmp-{os.getpid()}-{CHECKS_DIR}"
    done_tmp = out / f".tmp-{os.getpid()}d-{CHECKS_DIR}"    # decoded results, durable as they finish
    with contextlib.ExitStack() as stack:
        inputs = stack.enter_context(open_inputs(opts, out, previous))   # previous checks read (spilled) here
        for d in (checks_tmp, done_tmp):
            shutil.rmtree(d, ignore_errors=True)
        checks = stack.enter_context(ManifestWriter(checks_tmp, CHECKS_SCHEMA, keys=CHECKS_KEYS,
                                                    flush_rows=CHECKS_FLUSH_ROWS, flush_seconds=300,
                                                    journal_rows=CHECKS_PART_ROWS))
        handles: dict[str, IO[bytes]] = {}

        def handle(split_file: str) -> IO[bytes]:
            if published:                   # the published files are written from their own lines
                split_file = os.devnull
                if split_file not in handles:
                    handles[split_file] = stack.enter_context(open(os.devnull, "wb"))
            if split_file not in handles:
                tmp = stack.enter_context(atomic_path(out / split_file))
                handles[split_file] = stack.enter_context(open(tmp, "wb"))
            return handles[split_file]

        bar = stack.enter_context(progress(total, "index", "seg", enabled=opts.progress))
        executor = build_executor(ExecutorSpec(opts.executor if reads_files else "inline", opts.workers,
                                               opts.ray_address), shared_paths=[str(opts.media)])
        if per_segment:
            _index_per_segment(opts, inputs, result, checks, handle, bar, executor)
        else:
            done = stack.enter_context(ManifestWriter(done_tmp, CHECKS_SCHEMA, keys=CHECKS_KEYS)) \
                if reads_files else None
            _index_vectorised(opts, inputs, result, checks, handle, bar, executor, done)
        for split_file in result.split_files:
            handle(split_file)  # every split of the table gets its file, even when empty
        bar.update(total - bar.n)
    final_checks = out / CHECKS_DIR
    shutil.rmtree(final_checks, ignore_errors=True)
    os.replace(checks_tmp, final_checks)
    for d in [*leftovers, done_tmp]:  # their results live on in the new checks
        if d != checks_tmp:
            shutil.rmtree(d, ignore_errors=True)
    if published:
        result.split_files.clear()
        result.published = write_published(opts.clips, out, opts.features, opts.published_split_line)
    else:
        result.combined = write_combined(out)
    write_summary(opts, result)
    return result


def _index_per_segment(opts: IndexOptions, inputs: Inputs, result: IndexResult, checks: ManifestWriter,
                       handle: Callable[[str], IO[bytes]], bar: Any, executor: Any) -> None:
    """Every segment through ``check_segment`` on the executor, results taken in table order."""
    pending: deque[tuple[SegmentTask, RowInfo]] = deque()

    def tasks() -> Iterator[SegmentTask]:
        for task, info in _plan(opts, inputs, result, checks):
            pending.append((task, info))
            yield task

    for seg, task, info in _ordered(executor.map_unordered(check_segment, tasks()), pending):
        _count_segment(result, info.split_file, seg, checks)
        if (opts.check_media or opts.features) and any(c.stamps for c in seg.clips):
            checks.flush()    # a decoded segment's checks are durable at once (a kill loses those in flight)
        if seg.ok:
            handle(info.split_file).write(_entry(seg, task, info).to_line().encode("utf-8"))
        bar.update(1)


def _index_vectorised(opts: IndexOptions, inputs: Inputs, result: IndexResult, checks: ManifestWriter,
                      handle: Callable[[str], IO[bytes]], bar: Any, executor: Any,
                      done: ManifestWriter | None) -> None:
    """Batches decided by ``fast.check_batch``. Without media checks, the segments it leaves over
    go through ``check_segment`` inline; with them, ``_media_batch`` decides what needs no file
    read and sends only the rest to the executor. Both are merged back in table order."""
    run = fast.TrustedRun(tuple(inputs.kinds), inputs.exclude, inputs.keep, opts.min_audio_seconds, CHECKS_SCHEMA)
    for batch in batches(inputs, opts.batch_rows):
        outcome = fast.check_batch(batch.rows, batch.manifest, batch.offset, run, with_lines=done is None)
        for name in pc.unique(outcome.split_files).to_pylist():
            result.split_files.setdefault(name, Path(opts.out) / name)
        if done is not None:
            lines, rows = _media_batch(opts, inputs, batch, outcome, executor, done, bar)
        else:
            lines, rows = outcome.lines, outcome.checks
            if len(outcome.per_segment):
                tasks = _tasks(opts, inputs, batch, outcome, outcome.per_segment)
                segs = [check_segment(task) for task, _ in tasks]
                lines, rows = _merge(inputs, batch, outcome.lines, rows, outcome.per_segment, segs, tasks)
            bar.update(batch.rows.num_rows)
        checks.write_table(rows)
        _count_checks(result, rows)
        listed = lines.is_valid()
        for name in pc.unique(outcome.split_files.filter(listed)).to_pylist():
            handle(name).write(joined_bytes(lines.filter(pc.and_(listed, pc.equal(outcome.split_files, name)))))
        del outcome, lines, rows, batch
        pa.default_memory_pool().release_unused()  # a batch's temporaries back to the system, not kept


def _tasks(opts: IndexOptions, inputs: Inputs, batch: Batch, outcome: fast.BatchOutcome,
           positions: np.ndarray) -> list[tuple[SegmentTask, RowInfo]]:
    """The check tasks of the segments at ``positions`` of a batch (with their previous results)."""
    take = pa.array(positions, pa.int64())
    rows = batch.rows.take(take).to_pylist()
    aligned = [t.take(take).to_pylist() for t in batch.manifest]
    prev = [t.take(take).to_pylist() for t in batch.previous]
    splits = outcome.split_files.take(take).to_pylist()
    return [_segment(opts, inputs, batch.offset + pos, row, [a[j] for a in aligned], [b[j] for b in prev],
                     split_file)
            for j, (pos, row, split_file) in enumerate(zip(positions.tolist(), rows, splits))]


def _media_batch(opts: IndexOptions, inputs: Inputs, batch: Batch, outcome: fast.BatchOutcome,
                 executor: Any, done: ManifestWriter, bar: Any) -> tuple[pa.Array, pa.Table]:
    """One batch with media checks. Segments whose gold clip has no audio file to open (label
    filters, not extracted, failed, no audio file) keep ``fast``'s check rows, fingerprinted;
    of the others, those unchanged since the last run are taken column by column
    (``avdata.index.reuse``; not with features), the rest settled by ``validate.settle`` when that
    needs no decode (a bad layout, an audio file not there); what is left goes to the executor, and
    each result is durable in ``done`` as it arrives (a kill loses only those in flight)."""
    opens = outcome.opens_files
    rows = outcome.checks
    rows = rows.filter(pa.array(~opens[rows.column(fast.ROW_COLUMN).to_numpy() - batch.offset]))
    rows = _fingerprinted(opts, inputs, batch, rows)
    positions = np.flatnonzero(opens)
    lines = outcome.lines
    if inputs.previous is not None and not opts.features and len(positions):
        kept = reused(batch.rows, batch.manifest, batch.previous, outcome.split_files, positions, batch.offset,
                      inputs.kinds, inputs.media_root, _fingerprints(opts, inputs), CHECKS_SCHEMA)
        if len(kept.positions):
            rows = pa.concat_tables([rows, kept.rows])
            lines = kept.lines
            positions = np.setdiff1d(positions, kept.positions)
    tasks = _tasks(opts, inputs, batch, outcome, positions)
    segs: dict[int, SegmentResult] = {}
    work = []
    split_of = {task.row: info.split_file for task, info in tasks}
    for task, _ in tasks:
        seg = settle(task)
        if seg is None:
            work.append(task)
            continue
        segs[task.row] = seg
        if seg.clips[0] is not (task.previous[0] if task.previous else None) and seg.clips[0].stamps:
            done.write_many(_check_rows(seg, split_of[task.row]))   # files stamped: keep for a rerun
    done.flush()
    bar.update(batch.rows.num_rows - len(work))
    for seg in executor.map_unordered(check_segment, work):
        segs[seg.row] = seg
        done.write_many(_check_rows(seg, split_of[seg.row]))
        done.flush()
        bar.update(1)
    return _merge(inputs, batch, lines, rows, positions, [segs[task.row] for task, _ in tasks], tasks)


def _fingerprinted(opts: IndexOptions, inputs: Inputs, batch: Batch, rows: pa.Table) -> pa.Table:
    """``rows`` (gold check rows of segments that open no file) with the fingerprint
    ``validate.check_clip`` gives a clip whose manifest row exists (label-filtered rows get none)."""
    at = rows.column(fast.ROW_COLUMN).to_numpy() - batch.offset
    gold = batch.manifest[0].take(pa.array(at))
    has_p0 = gold.column("clip_id").combine_chunks().is_valid()
    labelled = pc.is_in(rows.column("status").combine_chunks(), value_set=pa.array(sorted(LABEL_REASONS)))
    idx = np.flatnonzero(np.asarray(pc.and_(has_p0, pc.invert(labelled))))
    if not len(idx):
        return rows
    gold = gold.take(pa.array(idx))
    prints = _fingerprints(opts, inputs)(gold, [d or "" for d in gold.column("dir").to_pylist()])
    mask = np.zeros(rows.num_rows, dtype=bool)
    mask[idx] = True
    column = pc.replace_with_mask(rows.column("fingerprint").combine_chunks(), pa.array(mask),
                                  pa.array(prints, pa.string()))
    return rows.set_column(rows.schema.get_field_index("fingerprint"), "fingerprint", column)


_FILES_COLUMNS = ["clip", "status", "audio_file", "frame_files", "audio_samples", "sample_rate", "channels"]


def _fingerprints(opts: IndexOptions, inputs: Inputs) -> Callable[[pa.Table, list[str]], list[str]]:
    """``validate._fingerprint`` of manifest rows under their gold clip's dir, column-wise:
    ``repr(ClipFiles)`` is shared by rows with the same files (a batch's failures share most)."""
    options = options_repr(SegmentTask(0, "", "", (), inputs.media_root, opts.min_audio_seconds,
                                       opts.check_media, opts.features))

    def digests(manifest_rows: pa.Table, dirs: list[str]) -> list[str]:
        reprs: dict[tuple, str] = {}
        prints = []
        columns = [manifest_rows.column(c).to_pylist() for c in _FILES_COLUMNS]
        for clip_id, dir_, (clip, status, audio, frames, samples, rate, channels) in zip(
                manifest_rows.column("clip_id").to_pylist(), dirs, zip(*columns)):
            key = (clip, status, audio, tuple(frames or ()), samples, rate, channels)
            text = reprs.get(key)
            if text is None:     # as clip_files makes it
                text = clip_files_repr(clip, status or UNKNOWN_EXTRACT_STATUS, *key[2:])
                if len(reprs) < 4096:
                    reprs[key] = text
            prints.append(fingerprint_of(text, clip_id, dir_, options))
        return prints

    return digests


def _merge(inputs: Inputs, batch: Batch, lines: pa.Array, rows: pa.Table, positions: np.ndarray,
           segs: list[SegmentResult], tasks: list[tuple[SegmentTask, RowInfo]]) -> tuple[pa.Array, pa.Table]:
    """The results of the segments at ``positions`` (checked one by one) joined with the
    vectorised lines and check rows (check rows sorted by segment, then clip kind)."""
    kind_of = {k: i for i, k in enumerate(inputs.kinds)}
    new_lines, listed, check_rows = [], np.zeros(batch.rows.num_rows, dtype=bool), []
    for pos, seg, (task, info) in zip(positions.tolist(), segs, tasks):
        for clip_row in _check_rows(seg, info.split_file):
            check_rows.append({**clip_row, fast.ROW_COLUMN: batch.offset + pos,
                               fast.KIND_COLUMN: kind_of[clip_row["clip"]]})
        if seg.ok:
            listed[pos] = True
            new_lines.append(_entry(seg, task, info).to_line())
    merged = (pc.replace_with_mask(lines, pa.array(listed), pa.array(new_lines, pa.string()))
              if new_lines else lines)
    table = pa.concat_tables([rows, pa.Table.from_pylist(check_rows, rows.schema)])
    return merged, table.sort_by([(fast.ROW_COLUMN, "ascending"), (fast.KIND_COLUMN, "ascending")])


def _counts_in_order(*columns: pa.Array) -> list[tuple[tuple, int]]:
    """Distinct value tuples of ``columns`` with their counts, in order of first appearance (the
    order in which the per-segment path fills its Counters)."""
    if len(columns[0]) == 0:
        return []
    code = np.zeros(len(columns[0]), dtype=np.int64)
    dictionaries = []
    for col in columns:
        enc = col.dictionary_encode()
        code = code * max(len(enc.dictionary), 1) + enc.indices.to_numpy(zero_copy_only=False)
        dictionaries.append(enc.dictionary.to_pylist())
    uniq, first, counts = np.unique(code, return_index=True, return_counts=True)
    out = []
    for u in np.argsort(first, kind="stable"):
        value, parts = int(uniq[u]), []
        for d in reversed(dictionaries):
            value, part = divmod(value, max(len(d), 1))
            parts.append(d[part])
        out.append((tuple(reversed(parts)), int(counts[u])))
    return out


def _count_checks(result: IndexResult, rows: pa.Table) -> None:
    """``_count_segment`` for check rows sorted by segment and clip kind."""
    kind = rows.column(fast.KIND_COLUMN)
    gold, negatives = rows.filter(pc.equal(kind, 0)), rows.filter(pc.greater(kind, 0))
    ok = pc.equal(gold.column("status"), OK)
    excluded = gold.filter(pc.invert(ok))
    for (status,), n in _counts_in_order(excluded.column("status").combine_chunks()):
        result.excluded[status] += n
    for (split_file, status), n in _counts_in_order(excluded.column("split_file").combine_chunks(),
                                                    excluded.column("status").combine_chunks()):
        result.excluded_by_split.setdefault(split_file, Counter())[status] += n
    for (split_file,), n in _counts_in_order(gold.filter(ok).column("split_file").combine_chunks()):
        result.listed[split_file] += n
    listed = gold.filter(ok)
    made = pc.or_(listed.column("aclip_128").is_valid(), listed.column("frame_224").is_valid())
    result.features_made += pc.sum(made).as_py() or 0
    errors = listed.column("feature_error")
    for text in errors.filter(pc.fill_null(pc.greater(pc.binary_length(errors), 0), False)).to_pylist():
        for err in filter(None, text.split(",")):
            result.feature_errors[err] += 1
    neg_ok = pc.equal(negatives.column("status"), OK)
    result.negatives_listed += pc.sum(neg_ok).as_py() or 0
    for (status,), n in _counts_in_order(negatives.filter(pc.invert(neg_ok)).column("status").combine_chunks()):
        result.negatives_dropped[status] += n


def _ordered(results: Iterator[SegmentResult], pending: deque[tuple[SegmentTask, RowInfo]]
             ) -> Iterator[tuple[SegmentResult, SegmentTask, RowInfo]]:
    """Yield results in task order. ``pending`` is filled (in order) as tasks are handed out; the
    executor's bounded window keeps the number of results waiting here small."""
    waiting: dict[int, SegmentResult] = {}
    for res in results:
        waiting[res.row] = res
        while pending and pending[0][0].row in waiting:
            task, info = pending.popleft()
            yield waiting.pop(task.row), task, info
