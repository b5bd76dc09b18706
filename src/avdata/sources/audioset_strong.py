"""AudioSet-Strong (Hershey et al. 2021): temporally strong labels, one TSV row per event.

``segment_id<TAB>start_time_seconds<TAB>end_time_seconds<TAB>label`` with that header line;
``segment_id`` is ``YTID_<segment start in ms>`` (a 10 s AudioSet segment), the times are the
event's onset and offset inside the segment, ``label`` a MID of the Strong vocabulary
(``data/audioset_strong_vocabulary.tsv``: 456 labels, 32 of them not in ``ontology.json``). The
framed evaluation file adds a 5th column ``present`` (``PRESENT`` / ``NOT_PRESENT``).

One clip per segment (in order of its first row): ``clip_id`` the segment id, the 10 s span,
``labels`` the segment's present labels in first-seen order, and the extra column ``events``:
``[{label, onset, offset, present, line}]`` (times relative to the segment, ``present`` null in the
plain files, ``line`` the row's line so that ``write_audioset_strong`` gives the file back byte for
byte: rows in file order, the times in the style the file used, its line ends). Bad rows cost one
line each: a malformed segment id or time, an event outside the segment, an offset before its
onset, a label not in the vocabulary, a repeated event.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc

from avdata.atomic import atomic_path
from avdata.errors import AvdataError
from avdata.paths import is_youtube_id
from avdata.sources.build import build_clips
from avdata.sources.lines import TextLines, detect_newline, ends_with_newline
from avdata.sources.numbers import NumberStyle, RowError, format_number, nonnegative_number
from avdata.sources.origins import concat_with_origins, get_origins, with_origins
from avdata.sources.problems import Problems, readable_files
from avdata.sources.registry import ReadOptions, register_reader, register_writer, require_source_kind
from avdata.sources.sniff import register_sniffer

FORMAT = "audioset-strong"
HEADER = ("segment_id", "start_time_seconds", "end_time_seconds", "label")
FRAMED = HEADER + ("present",)
SEGMENT_SECONDS = 10.0
SLACK = 0.001                    # published offsets reach 10.0 (and 10.001 after rounding)
PRESENT = {"PRESENT": True, "NOT_PRESENT": False}
VOCABULARY_FILE = "audioset_strong_vocabulary.tsv"
EVENT = pa.struct([("label", pa.string()), ("onset", pa.float64()), ("offset", pa.float64()),
                   ("present", pa.bool_()), ("line", pa.int64())])
EVENTS = pa.list_(EVENT)
_VOCABULARY: dict[str, str] | None = None


def vocabulary() -> dict[str, str]:
    """The Strong label set (MID -> display name), shipped with avdata."""
    global _VOCABULARY
    if _VOCABULARY is None:
        text = resources.files("avdata").joinpath("data", VOCABULARY_FILE).read_text("utf-8")
        _VOCABULARY = dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    return _VOCABULARY


def parse_segment_id(text: str) -> tuple[str, float]:
    """``YTID_<ms>`` -> (YouTube id, segment start in seconds), or RowError."""
    ytid, sep, ms = text.rpartition("_")
    if not sep or not is_youtube_id(ytid) or not ms.isdigit():
        raise RowError(f"segment_id {text!r:.40} is not YTID_<start in ms>")
    return ytid, int(ms) / 1000.0


@register_sniffer(FORMAT, "an AudioSet-Strong list (segment_id, start, end, label per event)")
def looks_like_strong_row(row: list[str]) -> bool:
    """One TSV line (a CSV row of one field): the header, or ``YTID_ms<TAB>t<TAB>t<TAB>/m/...``."""
    if len(row) != 1:
        return False
    fields = row[0].split("\t")
    if tuple(fields) in (HEADER, FRAMED):
        return True
    if len(fields) not in (4, 5):
        return False
    try:
        parse_segment_id(fields[0])
        nonnegative_number(fields[1], "onset")
        nonnegative_number(fields[2], "offset")
    except RowError:
        return False
    return fields[3].startswith("/")


def split_of_name(path: str) -> str:
    name = os.path.basename(path).lower()
    return "train" if "train" in name else "eval" if "eval" in name else "strong"


def read_strong_file(path: str, problems: Problems, split: str | None = None) -> pa.Table:
    """One Strong TSV into a clip table: one row per segment with its ``events``."""
    vocab = vocabulary()
    segments: dict[str, dict] = {}
    seen: set[tuple[str, str, float, float]] = set()
    style = NumberStyle()
    framed = None
    lines = TextLines(path, problems, path)
    for k, text in enumerate(lines, 1):
        line = lines.physical(k)
        fields = text.rstrip("\r\n").split("\t")
        if framed is None:
            if tuple(fields) not in (HEADER, FRAMED):
                problems.error(path, line, "the first line is not the Strong header "
                               f"({chr(9).join(HEADER)}[{chr(9)}present]); the file is left out")
                return _empty(path)
            framed = len(fields) == 5
            continue
        if not text.strip():
            continue
        try:
            if len(fields) != (5 if framed else 4):
                raise RowError(f"expected {5 if framed else 4} tab-separated fields, got {len(fields)}")
            ytid, start = parse_segment_id(fields[0])
            onset = nonnegative_number(fields[1], "start_time_seconds")
            offset = nonnegative_number(fields[2], "end_time_seconds")
            if onset > SEGMENT_SECONDS + SLACK or offset > SEGMENT_SECONDS + SLACK:
                raise RowError(f"event [{fields[1]}, {fields[2]}] s lies past the 10 s segment")
            if offset < onset:
                raise RowError(f"end_time_seconds {fields[2]} is before start_time_seconds {fields[1]}")
            label = fields[3]
            if label not in vocab:
                raise RowError(f"label {label!r:.40} is not in the AudioSet-Strong vocabulary")
            present = None
            if framed:
                if fields[4] not in PRESENT:
                    raise RowError(f"present {fields[4]!r:.20} is not PRESENT or NOT_PRESENT")
                present = PRESENT[fields[4]]
            key = (fields[0], label, onset, offset)
            if key in seen:
                raise RowError(f"repeated event {label} [{fields[1]}, {fields[2]}] in segment {fields[0]}")
        except RowError as e:
            problems.error(path, line, str(e))
            continue
        seen.add(key)
        style.see(fields[1], onset)
        style.see(fields[2], offset)
        seg = segments.setdefault(fields[0], {"source": ytid, "start": start, "line": line, "labels": [],
                                              "events": []})
        if (present is not False) and label not in seg["labels"]:
            seg["labels"].append(label)
        seg["events"].append({"label": label, "onset": onset, "offset": offset, "present": present, "line": line})
    ids = list(segments)
    rows = list(segments.values())
    n = len(ids)
    table = build_clips(n, {
        "clip_id": pa.array(ids, pa.string()), "source": pa.array([r["source"] for r in rows], pa.string()),
        "source_kind": "youtube", "start": pa.array([r["start"] for r in rows], pa.float64()),
        "end": pa.array([r["start"] + SEGMENT_SECONDS for r in rows], pa.float64()),
        "labels": pa.array([r["labels"] for r in rows], pa.list_(pa.string())), "dataset": "audioset_strong",
        "split": split or split_of_name(path), "origin_file": path,
        "origin_line": pa.array([r["line"] for r in rows], pa.int64()),
        "events": pa.array([r["events"] for r in rows], EVENTS),
    })
    notes = {"format": FORMAT, "newline": detect_newline(path), "final_newline": ends_with_newline(path),
             "framed": bool(framed), "times": style.style}
    return with_origins(table, {path: notes})


def _empty(path: str) -> pa.Table:
    return build_clips(0, {"origin_file": path, "events": pa.array([], EVENTS)})


@register_reader(FORMAT)
def read_audioset_strong(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: every file's segments in order."""
    return concat_with_origins([read_strong_file(p, problems, options.split)
                                for p in readable_files(paths, problems)])


@register_writer(FORMAT)
def write_audioset_strong(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """Registry entry: one row per event, in the order of the rows read (their ``line``), with the
    header, time style and line ends of the rows' first origin file."""
    require_source_kind(table, "youtube", FORMAT)
    if "events" not in table.column_names:
        raise AvdataError(f"{FORMAT}: the table has no 'events' column (not read from an AudioSet-Strong file)")
    origins = get_origins(table)
    first = table.column("origin_file")[0].as_py() if table.num_rows else None
    notes = origins.get(first or "", {})
    newline, style, framed = notes.get("newline", "\n"), notes.get("times", "repr"), notes.get("framed", False)
    events = table.column("events").combine_chunks()
    parent = pc.list_parent_indices(events)
    flat = pc.list_flatten(events)
    seg = [f"{s}_{round(t * 1000)}" for s, t in zip(table.column("source").to_pylist(),
                                                    table.column("start").to_pylist())]
    rows = sorted(zip(flat.field("line").to_pylist(), parent.to_pylist(), flat.field("label").to_pylist(),
                      flat.field("onset").to_pylist(), flat.field("offset").to_pylist(),
                      flat.field("present").to_pylist()))
    out = ["\t".join(FRAMED if framed else HEADER)]
    for _, i, label, onset, offset, present in rows:
        fields = [seg[i], format_number(onset, style), format_number(offset, style), label]
        if framed:
            fields.append("PRESENT" if present else "NOT_PRESENT")
        out.append("\t".join(fields))
    text = newline.join(out) + (newline if notes.get("final_newline", True) else "")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return len(rows)
