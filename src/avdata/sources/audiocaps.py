"""AudioCaps caption CSVs (``audiocap_id,youtube_id,start_time,caption``): one clip per
(youtube_id, start_time) with all its captions in file order; bos = start, eos = start + 10.

Besides the clip-table columns the reader adds ``caption_ids`` and ``caption_lines`` (one per
caption) so that ``write_audiocaps`` can give back the published file byte for byte (CSV quoting as
Python's ``csv`` module does it, the file's own line ends and number style). AudioSet labels are
joined from segment files when given (key: YouTube id and start in milliseconds).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from avdata.atomic import atomic_path
from avdata.paths import is_youtube_id
from avdata.sources.audioset import SegmentsReadOptions, read_segments
from avdata.sources.build import build_clips
from avdata.sources.lines import TextLines, csv_rows, detect_newline
from avdata.sources.numbers import (
    NumberStyle,
    RowError,
    format_number,
    nonnegative_number,
)
from avdata.sources.origins import concat_with_origins, get_origins, with_origins
from avdata.sources.problems import Problems, readable_files
from avdata.sources.registry import (
    ReadOptions,
    register_reader,
    register_writer,
    require_source_kind,
)
from avdata.sources.sniff import is_number, register_sniffer

FORMAT = "audiocaps"


@register_sniffer(FORMAT)
def looks_like_audiocaps_row(row: list[str]) -> bool:
    """``audiocap_id, youtube_id, start_time, caption``."""
    return len(row) >= 4 and row[0].isdigit() and is_youtube_id(row[1]) and is_number(row[2])
CLIP_SECONDS = 10.0
HEADER = ["audiocap_id", "youtube_id", "start_time", "caption"]


@dataclass
class _Clip:
    ytid: str
    start: float
    line: int
    captions: list[str] = field(default_factory=list)
    caption_ids: list[str] = field(default_factory=list)
    caption_lines: list[int] = field(default_factory=list)


def read_captions(path: str | os.PathLike[str], problems: Problems | None = None, *, split: str | None = None,
                  labels: dict[tuple[str, int], list[str]] | None = None) -> pa.Table:
    """Read one AudioCaps CSV to a clip table (clip_id = YouTube id; ingest makes ids unique)."""
    problems = problems if problems is not None else Problems()
    file = str(path)
    split = split or Path(path).name.split(".")[0]
    clips: dict[tuple[str, int], _Clip] = {}
    style = NumberStyle()
    header: list[str] | None = None
    for row, line in csv_rows(TextLines(path, problems, file), problems):
        if not row or all(not f.strip() for f in row):
            continue
        if header is None and [f.strip() for f in row[:4]] == HEADER:
            header = row
            continue
        _add_row(row, line, file, clips, style, problems)
    rows = list(clips.values())
    n = len(rows)
    ids = [c.ytid for c in rows]
    starts = [c.start for c in rows]
    joined = [labels.get((c.ytid, round(c.start * 1000)), []) for c in rows] if labels else None
    table = build_clips(n, {
        "clip_id": ids, "source": ids, "source_kind": "youtube", "start": starts,
        "end": [s + CLIP_SECONDS for s in starts], "labels": joined, "captions": [c.captions for c in rows],
        "dataset": FORMAT, "split": split, "origin_file": file, "origin_line": [c.line for c in rows],
        "caption_ids": pa.array([c.caption_ids for c in rows], pa.list_(pa.string())),
        "caption_lines": pa.array([c.caption_lines for c in rows], pa.list_(pa.int64())),
    })
    if labels is not None:
        missing = sum(1 for j in joined or [] if not j)
        if missing:
            problems.warn(file, None, f"{missing} of {n} clip(s) have no AudioSet labels in the segment files given")
    return with_origins(table, {file: {"format": FORMAT, "header": header or HEADER,
                                       "number_style": style.style, "newline": detect_newline(path)}})


def _add_row(row: list[str], line: int, file: str, clips: dict, style: NumberStyle, problems: Problems) -> None:
    if len(row) != 4:
        problems.error(file, line, f"expected audiocap_id,youtube_id,start_time,caption; found {len(row)} field(s)")
        return
    cap_id, ytid, start_text, caption = row
    if any("\x00" in f for f in row):
        problems.error(file, line, "a NUL character in the row")
        return
    if not cap_id.strip().isdigit() or not cap_id.strip().isascii():
        problems.error(file, line, f"audiocap_id {cap_id!r} is not a whole number")
        return
    if not is_youtube_id(ytid):
        problems.error(file, line, f"YouTube id {ytid!r} is not 11 characters of [A-Za-z0-9_-]")
        return
    try:
        start = nonnegative_number(start_text, "start_time")
    except RowError as e:
        problems.error(file, line, str(e))
        return
    if not caption.strip():
        problems.error(file, line, "empty caption")
        return
    style.see(start_text, start)
    key = (ytid, round(start * 1000))
    clip = clips.get(key)
    if clip is None:
        clip = clips[key] = _Clip(ytid, start, line)
    clip.captions.append(caption)
    clip.caption_ids.append(cap_id)
    clip.caption_lines.append(line)


def labels_by_segment(paths: Sequence[str], problems: Problems) -> dict[tuple[str, int], list[str]]:
    """(YouTube id, start ms) -> labels from AudioSet segment files."""
    out: dict[tuple[str, int], list[str]] = {}
    for p in readable_files(paths, problems):
        t = read_segments(p, SegmentsReadOptions(), problems)
        for y, s, labs in zip(t.column("source").to_pylist(), t.column("start").to_pylist(),
                              t.column("labels").to_pylist()):
            out.setdefault((y, round(s * 1000)), labs)
    return out


@register_reader(FORMAT)
def read_audiocaps(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: read caption files, joining labels from ``options.segments``."""
    labels = labels_by_segment(options.segments, problems) if options.segments else None
    return concat_with_origins([read_captions(p, problems, split=options.split, labels=labels) for p in paths])


@register_writer(FORMAT)
def write_audiocaps(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """Write one line per caption in original line order (atomically); return the captions written.

    Without ``caption_ids`` (a table not read from AudioCaps) captions are numbered from 1.
    """
    require_source_kind(table, "youtube", FORMAT)
    note = {}
    if table.num_rows:
        note = get_origins(table).get(table.column("origin_file")[0].as_py(), {})
    if note.get("format") != FORMAT:
        note = {}
    style = note.get("number_style", "short")
    style = "repr" if style == "mixed" else style
    newline = note.get("newline", "\r\n")
    cols = table.column_names
    out: list[tuple[int, int, list[str]]] = []
    n = 0
    for _i, r in enumerate(table.to_pylist()):
        lines = r.get("caption_lines") if "caption_lines" in cols else None
        cids = r.get("caption_ids") if "caption_ids" in cols else None
        for k, cap in enumerate(r["captions"]):
            n += 1
            order = lines[k] if lines else 1 << 62
            cid = cids[k] if cids else str(n)
            out.append((order, n, [cid, r["source"], format_number(r["start"], style), cap]))
    out.sort(key=lambda x: (x[0], x[1]))
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(note.get("header", HEADER))
    w.writerows(row for _, _, row in out)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue().encode("utf-8"))
    return len(out)
