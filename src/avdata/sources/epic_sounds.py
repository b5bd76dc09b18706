"""Epic-Sounds (epic-kitchens/epic-sounds-annotations; CC BY-NC 4.0): audio events in EPIC-KITCHENS-100.

``annotation_id,participant_id,video_id,start_timestamp,stop_timestamp,start_sample,stop_sample,
description,class,class_id`` (train / validation: 10 columns; the non-categorised file: the first 8;
the recognition test file: the first 7), with that header; timestamps ``HH:MM:SS.mmm``; samples at
24 kHz, kept as given (``start_sample`` is off by one from timestamp x 24000 in some rows).

One clip per annotation: ``clip_id`` the annotation id, the span from the timestamps, the class
*name* as label (none in the test file), the source ``{participant_id}/videos/{video_id}.MP4``
(EPIC-KITCHENS-100's own layout: fetch them with ``--source dir:EPIC-KITCHENS``), the split from the
file name. The columns a writer needs beyond the clip schema are kept as ``epic_*`` columns, so
``write_epic_sounds`` gives the file back byte for byte. Bad rows cost one line each: a wrong
number of fields, a malformed timestamp or sample, a stop before its start, an empty class, a
repeated annotation id.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import pyarrow as pa

from avdata.atomic import atomic_path
from avdata.errors import AvdataError
from avdata.sources.build import build_clips
from avdata.sources.lines import TextLines, csv_rows, detect_newline, ends_with_newline
from avdata.sources.numbers import RowError
from avdata.sources.origins import concat_with_origins, get_origins, with_origins
from avdata.sources.problems import Problems, readable_files
from avdata.sources.registry import ReadOptions, register_reader, register_writer, require_source_kind
from avdata.sources.sniff import register_sniffer

FORMAT = "epic-sounds"
COLUMNS = ("annotation_id", "participant_id", "video_id", "start_timestamp", "stop_timestamp", "start_sample",
           "stop_sample", "description", "class", "class_id")
LAYOUTS = {10: COLUMNS, 8: COLUMNS[:8], 7: COLUMNS[:7]}
_TIME = re.compile(r"(\d{2}):([0-5]\d):([0-5]\d\.\d{3})")
_VIDEO = re.compile(r"P\d{2,3}_\d{2,4}")


def parse_timestamp(text: str) -> float:
    """``HH:MM:SS.mmm`` -> seconds, or RowError."""
    m = _TIME.fullmatch(text)
    if m is None:
        raise RowError(f"timestamp {text!r:.30} is not HH:MM:SS.mmm")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def format_timestamp(seconds: float) -> str:
    """Seconds -> ``HH:MM:SS.mmm`` (milliseconds rounded)."""
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


@register_sniffer(FORMAT, "an Epic-Sounds annotation file (annotation_id, participant_id, video_id, ...)")
def looks_like_epic_row(row: list[str]) -> bool:
    """The header, or ``P01_11_0,P01,P01_11,00:00:02.069,...``."""
    if tuple(row) in LAYOUTS.values():
        return True
    return len(row) in LAYOUTS and _VIDEO.fullmatch(row[2]) is not None and _TIME.fullmatch(row[3]) is not None


def split_of_name(path: str) -> str:
    name = os.path.basename(path).lower()
    for word in ("train", "validation", "test"):
        if word in name:
            return word
    return "epic_sounds"


def read_epic_file(path: str, problems: Problems, split: str | None = None) -> pa.Table:
    """One Epic-Sounds CSV into a clip table (one clip per annotation)."""
    cols: dict[str, list] = {k: [] for k in ("id", "participant", "video", "start", "end", "start_sample",
                                             "stop_sample", "description", "label", "class_id", "line")}
    layout: tuple[str, ...] | None = None
    seen: set[str] = set()
    for row, line in csv_rows(TextLines(path, problems, path), problems):
        if layout is None:
            if tuple(row) not in LAYOUTS.values():
                problems.error(path, line, f"the first line is not an Epic-Sounds header ({','.join(COLUMNS)}, "
                               "or its first 8 or 7 columns); the file is left out")
                break
            layout = tuple(row)
            continue
        if not row or all(not f for f in row):
            continue
        try:
            if len(row) != len(layout):
                raise RowError(f"expected {len(layout)} fields, got {len(row)}")
            f = dict(zip(layout, row))
            start, stop = parse_timestamp(f["start_timestamp"]), parse_timestamp(f["stop_timestamp"])
            if stop < start:
                raise RowError(f"stop_timestamp {f['stop_timestamp']} is before start_timestamp {f['start_timestamp']}")
            if not (f["start_sample"].isdigit() and f["stop_sample"].isdigit()):
                raise RowError(f"start_sample / stop_sample {f['start_sample']!r:.20} / {f['stop_sample']!r:.20} "
                               "are not whole numbers")
            if not f["annotation_id"] or not _VIDEO.fullmatch(f["video_id"]) or not f["participant_id"]:
                raise RowError(f"annotation, participant or video id malformed ({f['video_id']!r:.30})")
            if "class" in f and (not f["class"] or not f["class_id"].isdigit()):
                raise RowError("empty class, or class_id not a whole number")
            if f["annotation_id"] in seen:
                raise RowError(f"repeated annotation_id {f['annotation_id']}")
        except RowError as e:
            problems.error(path, line, str(e))
            continue
        seen.add(f["annotation_id"])
        for key, value in (("id", f["annotation_id"]), ("participant", f["participant_id"]), ("video", f["video_id"]),
                           ("start", start), ("end", stop), ("start_sample", int(f["start_sample"])),
                           ("stop_sample", int(f["stop_sample"])), ("description", f.get("description")),
                           ("label", f.get("class")), ("class_id", int(f["class_id"]) if "class_id" in f else None),
                           ("line", line)):
            cols[key].append(value)
    n = len(cols["id"])
    table = build_clips(n, {
        "clip_id": pa.array(cols["id"], pa.string()),
        "source": pa.array([f"{p}/videos/{v}.MP4" for p, v in zip(cols["participant"], cols["video"])], pa.string()),
        "source_kind": "path", "start": pa.array(cols["start"], pa.float64()),
        "end": pa.array(cols["end"], pa.float64()),
        "labels": pa.array([[x] if x else [] for x in cols["label"]], pa.list_(pa.string())),
        "dataset": "epic_sounds", "split": split or split_of_name(path), "origin_file": path,
        "origin_line": pa.array(cols["line"], pa.int64()),
        "epic_participant_id": pa.array(cols["participant"], pa.string()),
        "epic_video_id": pa.array(cols["video"], pa.string()),
        "epic_start_sample": pa.array(cols["start_sample"], pa.int64()),
        "epic_stop_sample": pa.array(cols["stop_sample"], pa.int64()),
        "epic_description": pa.array(cols["description"], pa.string()),
        "epic_class_id": pa.array(cols["class_id"], pa.int64()),
    })
    notes = {"format": FORMAT, "newline": detect_newline(path), "final_newline": ends_with_newline(path),
             "columns": len(layout or COLUMNS)}
    return with_origins(table, {path: notes})


@register_reader(FORMAT)
def read_epic_sounds(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: every file's annotations in order."""
    return concat_with_origins([read_epic_file(p, problems, options.split) for p in readable_files(paths, problems)])


@register_writer(FORMAT)
def write_epic_sounds(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """Registry entry: the annotations in table order, in the layout (10, 8 or 7 columns), line end
    and final line end of the rows' first origin file (no field is quoted, as published)."""
    require_source_kind(table, "path", FORMAT)
    missing = [c for c in ("epic_participant_id", "epic_video_id", "epic_start_sample", "epic_stop_sample")
               if c not in table.column_names]
    if missing:
        raise AvdataError(f"{FORMAT}: the table lacks {', '.join(missing)} (not read from an Epic-Sounds file)")
    first = table.column("origin_file")[0].as_py() if table.num_rows else None
    notes = get_origins(table).get(first or "", {})
    newline, width = notes.get("newline", "\n"), int(notes.get("columns", 10))
    out = [",".join(LAYOUTS[width])]
    names = ["clip_id", "epic_participant_id", "epic_video_id", "start", "end", "epic_start_sample",
             "epic_stop_sample", "labels"]
    extra = [c for c in ("epic_description", "epic_class_id") if c in table.column_names]
    for r in table.select(names + extra).to_pylist():
        fields = [r["clip_id"], r["epic_participant_id"], r["epic_video_id"], format_timestamp(r["start"]),
                  format_timestamp(r["end"]), str(r["epic_start_sample"]), str(r["epic_stop_sample"])]
        if width >= 8:
            fields.append(r.get("epic_description") or "")
        if width == 10:
            fields += [(r["labels"] or [""])[0], "" if r.get("epic_class_id") is None else str(r["epic_class_id"])]
        out.append(",".join(fields))
    text = newline.join(out) + (newline if notes.get("final_newline", True) else "")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return table.num_rows
