"""VGGSound (``vggsound.csv``, hche11/VGGSound): ``youtube_id,start_seconds,label,split``.

No header; start seconds are integers; the clip is the 10 s from ``start_seconds``; the label is a
class *name* (309 of them; ``labels`` holds the name, as the published file does); the split is the
row's own (``train`` / ``test``). The published file has CRLF line ends and ends with one; only
labels containing a comma are double-quoted (CSV's minimal quoting). The reader keeps each file's
line end and whether it ends with one (origin notes), so ``write_vggsound`` gives the published
file back byte for byte. Bad rows (a missing field, an id that is not a YouTube id, a start that is
not a number >= 0, an empty label or split, a repeated segment) cost one line each.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import pyarrow as pa

from avdata.atomic import atomic_path
from avdata.paths import is_youtube_id
from avdata.sources.build import build_clips
from avdata.sources.lines import TextLines, csv_rows, detect_newline, ends_with_newline
from avdata.sources.numbers import format_number
from avdata.sources.origins import concat_with_origins, get_origins, with_origins
from avdata.sources.problems import Problems, readable_files
from avdata.sources.registry import ReadOptions, register_reader, register_writer, require_source_kind
from avdata.sources.sniff import is_number, register_sniffer

FORMAT = "vggsound"
CLIP_SECONDS = 10.0
SPLITS = ("train", "test")


@register_sniffer(FORMAT, "a VGGSound list (youtube_id, start_seconds, label, split)")
def looks_like_vggsound_row(row: list[str]) -> bool:
    """``youtube_id, start_seconds, label name, split``."""
    return len(row) == 4 and is_youtube_id(row[0]) and row[1].strip().isdigit() and not row[2].startswith("/") \
        and not is_number(row[2]) and row[3].strip() in SPLITS




def read_vggsound_file(path: str, problems: Problems, split: str | None = None) -> pa.Table:
    """One VGGSound CSV into a clip table (ids made unique later by ingest)."""
    ids: list[str] = []
    starts: list[float] = []
    labels: list[list[str]] = []
    splits: list[str] = []
    lines: list[int] = []
    seen: set[tuple[str, float]] = set()
    for row, line in csv_rows(TextLines(path, problems, path), problems):
        if not row or all(not f.strip() for f in row):
            continue
        if len(row) != 4:
            problems.error(path, line, f"expected 4 fields (youtube_id, start_seconds, label, split), got {len(row)}")
            continue
        ytid, start_text, label, row_split = (f.strip() for f in row)
        if not is_youtube_id(ytid):
            problems.error(path, line, f"not a YouTube id: {ytid!r:.40}")
            continue
        if not is_number(start_text) or float(start_text) < 0:
            problems.error(path, line, f"start_seconds is not a number >= 0: {start_text!r:.40}")
            continue
        if not label or not row_split:
            problems.error(path, line, "empty label or split")
            continue
        start = float(start_text)
        if (ytid, start) in seen:
            problems.error(path, line, f"repeated segment {ytid} at {start_text} s")
            continue
        seen.add((ytid, start))
        ids.append(ytid)
        starts.append(start)
        labels.append([label])
        splits.append(split or row_split)
        lines.append(line)
    n = len(ids)
    table = build_clips(n, {
        "clip_id": pa.array(ids, pa.string()), "source": pa.array(ids, pa.string()), "source_kind": "youtube",
        "start": pa.array(starts, pa.float64()), "end": pa.array([s + CLIP_SECONDS for s in starts], pa.float64()),
        "labels": pa.array(labels, pa.list_(pa.string())), "dataset": FORMAT,
        "split": pa.array(splits, pa.string()), "origin_file": path, "origin_line": pa.array(lines, pa.int64()),
    })
    notes = {"format": FORMAT, "newline": detect_newline(path), "final_newline": ends_with_newline(path)}
    return with_origins(table, {path: notes})


@register_reader(FORMAT)
def read_vggsound(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: every file's rows in order."""
    return concat_with_origins([read_vggsound_file(p, problems, options.split)
                                for p in readable_files(paths, problems)])


@register_writer(FORMAT)
def write_vggsound(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """Registry entry: ``youtube_id,start_seconds,label,split`` rows in table order, with the line
    end and final line end of the rows' first origin file (published: CRLF, ending with one)."""
    require_source_kind(table, "youtube", FORMAT)
    origins = get_origins(table)
    first = table.column("origin_file")[0].as_py() if table.num_rows else None
    notes = origins.get(first or "", {})
    newline = notes.get("newline", "\r\n")
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    for r in table.select(["source", "start", "labels", "split"]).to_pylist():
        writer.writerow([r["source"], format_number(r["start"], "short"), (r["labels"] or [""])[0], r["split"]])
    text = buf.getvalue()
    if not notes.get("final_newline", True) and text.endswith(newline):
        text = text[:-len(newline)]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return table.num_rows
