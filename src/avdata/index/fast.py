"""The index stage without media checks or features, a batch of segments at a time (Arrow + numpy).

Without media checks no file is opened: every verdict follows from the clip table and the
extraction manifest. ``check_batch`` applies, column by column, the rules of the per-segment path
(``avdata.index.validate``: label filters, ``not_extracted``, ``extract_{status}``,
``no_audio_file``, the layout of every file name, ``audio_too_short`` from the manifest's samples
and rate, ``no_frame_decodes``, negatives checked only when the gold clip is ok) and returns, per
segment, its split file and its index line, and the check rows ``index_checks.parquet`` keeps.

Segments with something unusual (a file not laid out as ``{dir}/aclip|frame/{id}.NAME``, a chunk
folder or an id that is not a clean path part, an implausible sample count) are not decided here:
their positions come back in ``BatchOutcome.per_segment`` for ``check_segment``, whose messages
and safety rules then apply to them unchanged. The caller merges both (see ``avdata.index.build``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.errors import UnsafePathError
from avdata.index import json_columns as jc
from avdata.index.entry import CAPTION_DATASETS, IndexEntry, format_time, line_events, split_file_name
from avdata.index.validate import (
    AUDIO_TOO_SHORT,
    EXTRACT_MESSAGE_PREFIX,
    EXTRACT_STATUS_PREFIX,
    GOLD_CLIP,
    ID_SEPARATORS,
    LABEL_EXCLUDED,
    LABEL_NOT_KEPT,
    NO_AUDIO_FILE,
    NO_AUDIO_FILE_MESSAGE,
    NO_FRAME_DECODES,
    NO_FRAME_LISTED_MESSAGE,
    NO_P0_MESSAGE,
    NOT_EXTRACTED,
    OK,
    UNKNOWN_EXTRACT_STATUS,
    _checked_dir,
    too_short_message,
)

ROW_COLUMN = "_row"    # sort keys of the check rows: clip-table row, then clip kind (p0 first)
KIND_COLUMN = "_kind"
EXACT_INT = 2 ** 53    # sample counts beyond this are left to Python's exact int / int division
_SEPARATORS = "[" + "".join(f"\\x{ord(c):02x}" for c in ID_SEPARATORS) + "]"  # as one regex class


@dataclass(frozen=True)
class TrustedRun:
    """What every batch of one run shares."""

    kinds: tuple[str, ...]            # p0, then the negative kinds listed (n0, n1, ...)
    exclude: frozenset[str]           # labels (with descendants) that drop a segment
    keep: frozenset[str]              # labels one of which a segment must have (empty: all)
    min_audio_seconds: float
    checks_schema: pa.Schema


@dataclass
class BatchOutcome:
    """One batch, decided column by column."""

    split_files: pa.Array            # per segment
    lines: pa.Array                  # per segment: its index line, null when not listed or left over
    checks: pa.Table                 # check rows of the segments decided here (+ ROW/KIND columns)
    per_segment: np.ndarray          # positions in the batch left to ``check_segment``
    opens_files: np.ndarray          # per segment: a gold clip extracted with an audio file (with
                                     # media checks its verdict needs the files: see build)


@dataclass
class _Clip:
    """One clip kind's verdict for every segment of a batch."""

    present: np.ndarray              # the manifest has a row
    route: np.ndarray                # left to the per-segment path
    trusted: np.ndarray              # judged on the manifest's numbers (props recorded)
    ok: np.ndarray
    status: pa.Array
    message: pa.Array
    seconds: pa.Array
    sample_rate: pa.Array            # the manifest's
    channels: pa.Array
    aclip: pa.Array                  # audio name where laid out
    frames: pa.Array                 # frame names of ok clips (empty lists elsewhere)
    frames_total: np.ndarray


def _np(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def _mask(values: pa.Array) -> np.ndarray:
    """A boolean column as numpy, null as False."""
    return _np(pc.fill_null(values, False)).astype(bool)


def split_files(dataset: pa.Array, split: pa.Array) -> pa.Array:
    """``split_file_name`` of every row, called once per distinct (dataset, split)."""
    d, s = dataset.dictionary_encode(), split.dictionary_encode()
    width = max(len(s.dictionary), 1)
    code = _np(d.indices).astype(np.int64) * width + _np(s.indices)
    uniq, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    names = [""] * len(uniq)
    for u in np.argsort(first, kind="stable"):  # in row order, so a bad name fails where it would
        names[u] = split_file_name(d.dictionary[int(uniq[u]) // width].as_py(),
                                   s.dictionary[int(uniq[u]) % width].as_py())
    return pa.array(names, pa.string()).take(pa.array(inverse.astype(np.int64)))


def label_verdicts(labels: pa.Array, exclude: frozenset[str], keep: frozenset[str]) -> pa.Array:
    """``LABEL_EXCLUDED`` / ``LABEL_NOT_KEPT`` / null per row (see ``build._label_verdict``)."""
    n = len(labels)
    codes = np.zeros(n, dtype=np.int8)
    if exclude or keep:
        parents, flat = _np(pc.list_parent_indices(labels)), labels.flatten()

        def any_in(wanted: frozenset[str]) -> np.ndarray:
            hit = _mask(pc.is_in(flat, value_set=pa.array(sorted(wanted), pa.string())))
            return np.bincount(parents[hit], minlength=n) > 0

        if keep:
            codes[~any_in(keep)] = 2
        if exclude:
            codes[any_in(exclude)] = 1
    return pa.array([None, LABEL_EXCLUDED, LABEL_NOT_KEPT], pa.string()).take(pa.array(codes))


def strip_prefix(values: pa.Array, prefixes: pa.Array) -> pa.Array:
    """``values[i][len(prefixes[i]):]`` where ``values[i]`` is ``prefixes[i] + NAME`` with NAME a
    non-empty file name (no ``/``, ``\\`` or NUL), else null: ``validate._name_in_layout`` per row.

    Compared as bytes (a UTF-8 prefix of bytes is a prefix of characters), one group per prefix
    length; only values longer than their prefix can qualify (and only they are sliced).
    """
    n = len(values)
    lengths = _np(pc.fill_null(pc.binary_length(prefixes), -1))
    longer = _np(pc.fill_null(pc.binary_length(values), -1)) > lengths
    vb, pb = values.cast(pa.binary()), prefixes.cast(pa.binary())
    pieces, where = [], []
    groups = np.unique(lengths[longer & (lengths >= 0)]).tolist()
    if len(groups) == 1 and longer.all():  # the common case: one prefix length, nothing to sort out
        return _strip_group(vb, pb, groups[0])
    for length in groups:
        idx = pa.array(np.flatnonzero(longer & (lengths == length)))
        pieces.append(_strip_group(vb.take(idx), pb.take(idx), length))
        where.append(_np(idx))
    if not pieces:
        return pa.nulls(n, pa.string())
    place = np.full(n, -1, dtype=np.int64)
    place[np.concatenate(where)] = np.arange(sum(len(w) for w in where))
    return pa.concat_arrays(pieces).take(pa.array(place, mask=place < 0))


def _strip_group(v: pa.Array, p: pa.Array, length: int) -> pa.Array:
    """``strip_prefix`` of values ``v`` (binary) longer than their prefixes ``p``, all ``length`` bytes."""
    tail = pc.binary_slice(v, length, 2 ** 31 - 1)  # an explicit stop: pyarrow 26 miscounts without one
    good = pc.equal(pc.binary_slice(v, 0, length), p)
    good = pc.and_(good, pc.invert(pc.match_substring_regex(tail, _SEPARATORS)))
    return pc.if_else(good, tail, pa.scalar(None, pa.binary())).cast(pa.string())


def _list_of(values: pa.Array, parents: np.ndarray, keep: np.ndarray, n: int) -> pa.Array:
    """A list column of ``values`` (one per element, ``parents`` giving its row), keeping the
    elements of rows where ``keep`` (other rows: empty lists)."""
    counts = np.bincount(parents[keep[parents]], minlength=n).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values.filter(pa.array(keep[parents])))


def _layout_prefixes(clip_id: pa.Array, gold_dir: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Per row, ``{dir}/aclip/{id}.`` and ``{dir}/frame/{id}.`` (dir as ``_checked_dir`` cleans it);
    null where the dir or the id could lead out of the media root."""
    codes = gold_dir.dictionary_encode()
    clean: list[str | None] = []
    for d in codes.dictionary.to_pylist():
        try:
            clean.append(f"{_checked_dir(d)}/" if d else "")
        except UnsafePathError:
            clean.append(None)
    base = pa.array(clean, pa.string()).take(codes.indices)
    safe_id = pc.if_else(pc.match_substring_regex(clip_id, _SEPARATORS), pa.scalar(None, pa.string()), clip_id)
    return tuple(pc.binary_join_element_wise(base, folder, safe_id, ".", "") for folder in ("aclip/", "frame/"))


@dataclass
class _Segments:
    """What every clip kind of a batch shares."""

    clip_id: pa.Array
    id_json: pa.Array
    gold_dir: pa.Array               # the p0 row's dir ("" when none): every clip's layout root
    dir_json: pa.Array
    aclip_prefix: pa.Array           # see ``_layout_prefixes``
    frame_prefix: pa.Array
    labelled: np.ndarray             # dropped by the label filter


def _check_clip(m: pa.Table, seg: _Segments, run: TrustedRun) -> _Clip:
    """``validate._check_clip`` + ``_trusted`` for one clip kind over a batch; segments dropped
    by the label filter count as absent."""
    n = m.num_rows
    present = _mask(m.column("clip_id").combine_chunks().is_valid()) & ~seg.labelled
    raw_status = m.column("status").combine_chunks()
    status = pc.fill_null(raw_status, UNKNOWN_EXTRACT_STATUS)
    status = pc.if_else(pc.equal(status, ""), UNKNOWN_EXTRACT_STATUS, status)
    extracted = present & _mask(pc.equal(status, OK))
    audio = m.column("audio_file").combine_chunks()
    has_audio = extracted & _mask(pc.greater(pc.binary_length(audio), 0))
    frame_files = m.column("frame_files").combine_chunks()
    frames_flat, parents = frame_files.flatten(), _np(pc.list_parent_indices(frame_files))
    aclip = strip_prefix(audio, seg.aclip_prefix)
    frame_names = strip_prefix(frames_flat, seg.frame_prefix.take(pa.array(parents)))
    frames_total = _np(pc.fill_null(pc.list_value_length(frame_files), 0)).astype(np.int64)
    bad_frame = np.bincount(parents[_np(frame_names.is_null())], minlength=n) > 0
    samples = m.column("audio_samples").combine_chunks()
    rate = m.column("sample_rate").combine_chunks()
    big = _mask(pc.greater(pc.abs(samples), EXACT_INT))
    route = has_audio & (_np(aclip.is_null()) | bad_frame | big)
    trusted = has_audio & ~route
    has_seconds = _mask(pc.and_(samples.is_valid(), pc.not_equal(rate, 0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        secs = _np(pc.fill_null(samples, 0)).astype(np.float64) / _np(pc.fill_null(rate, 1)).astype(np.float64)
    short = trusted & has_seconds & (secs < run.min_audio_seconds)
    no_frames = trusted & ~short & (frames_total == 0)
    ok = trusted & ~short & (frames_total > 0)
    codes = np.zeros(n, dtype=np.int8)
    codes[extracted & ~has_audio] = 1
    codes[short], codes[no_frames], codes[ok] = 2, 3, 4
    codes_arr = pa.array(codes)
    not_ok = present & ~extracted
    out_status = pc.if_else(pa.array(not_ok), jc.concat(EXTRACT_STATUS_PREFIX, status),
                            pa.array([None, NO_AUDIO_FILE, AUDIO_TOO_SHORT, NO_FRAME_DECODES, OK]).take(codes_arr))
    message = pc.if_else(pa.array(not_ok), jc.concat(EXTRACT_MESSAGE_PREFIX, status),
                         pa.array([None, NO_AUDIO_FILE_MESSAGE, None, NO_FRAME_LISTED_MESSAGE, ""]).take(codes_arr))
    short_rows = np.flatnonzero(short)
    if len(short_rows):
        texts = [too_short_message(a, s, run.min_audio_seconds)
                 for a, s in zip(audio.take(pa.array(short_rows)).to_pylist(), secs[short_rows].tolist())]
        message = pc.replace_with_mask(message, pa.array(short), pa.array(texts, pa.string()))
    seconds = pa.array(secs, mask=~(trusted & has_seconds))
    return _Clip(present, route, trusted, ok, out_status, message, seconds, rate,
                 m.column("channels").combine_chunks(), aclip, _list_of(frame_names, parents, ok, n),
                 frames_total)


def _times(values: pa.Array) -> pa.Array:
    """``json.dumps(format_time(t))`` per row, formatted once per distinct value (bit pattern)."""
    bits = _np(values).astype(np.float64).view(np.int64)
    uniq, inverse = np.unique(bits, return_inverse=True)
    texts = [json.dumps(format_time(t)) for t in uniq.view(np.float64).tolist()]
    return pa.array(texts, pa.string()).take(pa.array(inverse.astype(np.int64)))


_KEYS = {f.name: json.dumps(f.name) + ": " for f in fields(IndexEntry)}


def _lines(rows: pa.Table, seg: _Segments, clips: Sequence[_Clip]) -> pa.Array:
    """``IndexEntry.to_line`` of every row as if listed with the ok clips of ``clips``."""
    gold, negatives = clips[0], clips[1:]
    aclip = [jc.strings(gold.aclip, dedupe=True)]
    frames = [pc.binary_join(_encoded(gold.frames), ", ")]
    for c in negatives:
        ok = pa.array(c.ok)
        aclip.append(pc.if_else(ok, jc.concat(", ", jc.strings(c.aclip, dedupe=True)), pa.scalar(None, pa.string())))
        frames.append(pc.if_else(ok, jc.concat(", ", pc.binary_join(_encoded(c.frames), ", ")),
                                 pa.scalar(None, pa.string())))
    captions = rows.column("captions").combine_chunks()
    with_captions = pc.and_(captions.is_valid(), pc.or_(
        pc.is_in(rows.column("dataset"), value_set=pa.array(sorted(CAPTION_DATASETS), pa.string())),
        pc.greater(pc.fill_null(pc.list_value_length(captions), 0), 0)))
    captions_part = pc.if_else(with_captions, jc.concat(", " + _KEYS["captions"], jc.lists(captions)),
                               pa.scalar(None, pa.string()))
    return jc.concat(
        "{", _KEYS["dir"], seg.dir_json, ", ", _KEYS["aclip"], "[", *aclip, "], ",
        _KEYS["frame"], "[", *frames, "], ", _KEYS["id"], seg.id_json,
        ", ", _KEYS["bos"], _times(rows.column("start")), ", ", _KEYS["eos"], _times(rows.column("end")), ", ",
        _KEYS["labels"], jc.lists(rows.column("labels").combine_chunks(), dedupe=True), captions_part,
        _events_part(rows), "}\n")


def _events_part(rows: pa.Table) -> pa.Array:
    """``, "events": [[label, onset, offset], ...]`` of rows with timed events (null for the rest:
    the key is absent), as ``IndexEntry.to_line`` writes it."""
    if "events" not in rows.column_names:
        return pa.nulls(rows.num_rows, pa.string())
    texts = []
    for events in rows.column("events").to_pylist():
        ev = line_events(events)
        texts.append(None if ev is None else ", " + _KEYS["events"] + json.dumps(ev))
    return pa.array(texts, pa.string())


def _encoded(names: pa.Array) -> pa.Array:
    """A list-of-names column with every name JSON-encoded (for ``binary_join``)."""
    offsets = pc.subtract(names.offsets, names.offsets[0])
    return pa.ListArray.from_arrays(offsets, jc.strings(names.flatten(), dedupe=True))


def _check_rows(idx: np.ndarray, offset: int, kind: int, clip_id: pa.Array, split: pa.Array,
                c: _Clip, status: pa.Array, message: pa.Array, clip: str, schema: pa.Schema) -> pa.Table:
    """The check rows of ``idx`` for one clip kind (``build._check_rows`` column by column)."""
    k, n = len(idx), len(c.ok)
    take = pa.array(idx)

    def sel(values: pa.Array) -> pa.Array:
        return values if k == n else values.take(take)

    def where(mask: np.ndarray, values: pa.Array) -> pa.Array:
        return pc.if_else(pa.array(mask[idx]), sel(values), pa.scalar(None, values.type))

    empty = pa.ListArray.from_arrays(pa.array(np.zeros(k + 1, np.int32)), pa.array([], pa.string()))
    columns = {
        "clip_id": sel(clip_id), "clip": pa.repeat(pa.scalar(clip, pa.string()), k),
        "split_file": sel(split), "status": sel(status), "message": sel(message),
        "audio_seconds": where(c.trusted, c.seconds), "sample_rate": where(c.trusted, c.sample_rate),
        "channels": where(c.trusted, c.channels),
        "frames_ok": pa.array(np.where(c.ok[idx], c.frames_total[idx], 0), pa.int32()),
        "frames_total": pa.array(np.where(c.trusted[idx], c.frames_total[idx], 0), pa.int32()),
        "aclip_128": pa.nulls(k, pa.string()), "frame_224": pa.nulls(k, pa.string()),
        "feature_error": pa.repeat(pa.scalar("", pa.string()), k), "aclip": where(c.ok, c.aclip),
        "frames": sel(c.frames), "fingerprint": pa.nulls(k, pa.string()),  # nothing read: see validate
        "files": empty, "sizes": empty.cast(pa.list_(pa.int64())), "mtimes_ns": empty.cast(pa.list_(pa.int64())),
    }
    return with_order(pa.table({name: columns[name] for name in schema.names}).cast(schema), idx, offset, kind)


def with_order(table: pa.Table, idx: np.ndarray, offset: int, kind: int) -> pa.Table:
    """Check rows of batch positions ``idx`` and one clip kind with their sort keys (ROW, KIND)."""
    table = table.append_column(ROW_COLUMN, pa.array(idx.astype(np.int64) + offset))
    return table.append_column(KIND_COLUMN, pa.repeat(pa.scalar(kind, pa.int8()), len(idx)))


def listed_lines(rows: pa.Table, gold_dir: pa.Array, clips: Sequence) -> pa.Array:
    """``IndexEntry.to_line`` of every row as if listed with the ok clips of ``clips`` (objects
    with ``ok``, ``aclip`` and ``frames`` per row, p0 first) under the gold clip's ``dir``."""
    clip_id = rows.column("clip_id").combine_chunks()
    seg = _Segments(clip_id, jc.strings(clip_id), gold_dir, jc.strings(gold_dir, dedupe=True),
                    gold_dir, gold_dir, np.zeros(len(clip_id), bool))
    return _lines(rows, seg, clips)


def check_batch(rows: pa.Table, manifest: Sequence[pa.Table], offset: int, run: TrustedRun,
                with_lines: bool = True) -> BatchOutcome:
    """Decide a batch of clip-table ``rows`` (``clip_id, start, end, labels, captions, dataset,
    split``) with the manifest rows of each clip kind aligned to them (null rows: none).
    ``with_lines=False``: no index line is made (all null), for callers that list by other means."""
    n = rows.num_rows
    clip_id = rows.column("clip_id").combine_chunks()
    split = split_files(rows.column("dataset").combine_chunks(), rows.column("split").combine_chunks())
    verdict = label_verdicts(rows.column("labels").combine_chunks(), run.exclude, run.keep)
    labelled = _mask(verdict.is_valid())
    gold_dir = pc.fill_null(manifest[0].column("dir").combine_chunks(), "")
    seg = _Segments(clip_id, jc.strings(clip_id), gold_dir, jc.strings(gold_dir, dedupe=True),
                    *_layout_prefixes(clip_id, gold_dir), labelled)
    clips = [_check_clip(m, seg, run) for m in manifest]
    gold = clips[0]
    gold_ok = gold.ok
    route = gold.route | (gold_ok & np.logical_or.reduce([c.route for c in clips[1:]] + [np.zeros(n, bool)]))
    decided = ~route
    status = pc.if_else(pa.array(labelled), verdict, pc.if_else(pa.array(gold.present), gold.status, NOT_EXTRACTED))
    message = pc.if_else(pa.array(labelled), "", pc.if_else(pa.array(gold.present), gold.message, NO_P0_MESSAGE))
    tables = [_check_rows(np.flatnonzero(decided), offset, 0, clip_id, split, gold, status, message,
                          GOLD_CLIP, run.checks_schema)]
    for k, (kind, c) in enumerate(zip(run.kinds[1:], clips[1:]), 1):
        idx = np.flatnonzero(decided & gold_ok & c.present)
        tables.append(_check_rows(idx, offset, k, clip_id, split, c, c.status, c.message, kind,
                                  run.checks_schema))
    listed = decided & gold_ok
    lines = (pc.if_else(pa.array(listed), _lines(rows, seg, clips), pa.scalar(None, pa.string()))
             if with_lines else pa.nulls(n, pa.string()))
    opens = gold.present & _mask(pc.equal(pc.fill_null(manifest[0].column("status").combine_chunks(), ""), OK)) \
        & _mask(pc.greater(pc.binary_length(manifest[0].column("audio_file").combine_chunks()), 0))
    return BatchOutcome(split, lines, pa.concat_tables(tables), np.flatnonzero(route), opens)
