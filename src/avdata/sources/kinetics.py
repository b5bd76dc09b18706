"""Kinetics (activitynet/ActivityNet ``Crawler/Kinetics/data/``): one clip per row, its own span.

Layouts, told by the header line:

- Kinetics-400 train/val: ``label,youtube_id,time_start,time_end,split,is_cc``; every label
  containing a space is double-quoted (``"air drumming",--nQbRBEz2s,104,114,val,0``);
- Kinetics-600: ``label,youtube_id,time_start,time_end,split``, nothing quoted;
- test files: ``youtube_id,time_start,time_end,split`` (no label).

Times are integer seconds; the label is the class *name*. The reader keeps each file's header,
quoting, line end and final line end (origin notes) and each row's ``is_cc`` (column
``kinetics_is_cc``), so ``write_kinetics`` gives the published file back byte for byte. Bad rows (a
missing field, an id that is not a YouTube id, times that are not numbers with end > start, a
repeated segment) cost one line each.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources

import pyarrow as pa

from avdata.atomic import atomic_path
from avdata.paths import is_youtube_id
from avdata.sources.build import build_clips
from avdata.sources.lines import TextLines, csv_rows, detect_newline, ends_with_newline
from avdata.sources.numbers import format_number
from avdata.sources.origins import concat_with_origins, get_origins, with_origins
from avdata.sources.problems import Problems, readable_files
from avdata.sources.registry import (
    ReadOptions,
    Subset,
    register_reader,
    register_subset,
    register_writer,
    require_source_kind,
)
from avdata.sources.sniff import is_number, register_sniffer

FORMAT = "kinetics"
HEADERS = (("label", "youtube_id", "time_start", "time_end", "split", "is_cc"),
           ("label", "youtube_id", "time_start", "time_end", "split"),
           ("youtube_id", "time_start", "time_end", "split"))


@register_sniffer(FORMAT, "a Kinetics list (label, youtube_id, time_start, time_end, split)")
def looks_like_kinetics_row(row: list[str]) -> bool:
    """A data row of any Kinetics layout (the header line is not a data row)."""
    for cols in HEADERS:
        if len(row) == len(cols):
            i = cols.index("youtube_id")
            split = row[cols.index("split")].strip()
            if is_youtube_id(row[i]) and is_number(row[i + 1]) and is_number(row[i + 2]) and split.isalpha():
                return True
    return False


def _head_lines(path: str, size: int = 1 << 16) -> list[bytes]:
    """The file's first lines (from its first ``size`` bytes): header and quoting are told there."""
    with open(path, "rb") as fh:
        return fh.read(size).splitlines()[:200]


def read_kinetics_file(path: str, problems: Problems, split: str | None = None) -> pa.Table:
    """One Kinetics CSV into a clip table (ids made unique later by ingest)."""
    raw = _head_lines(path)
    header: tuple[str, ...] | None = None
    cols: dict[str, list] = {k: [] for k in ("id", "start", "end", "label", "split", "is_cc", "line")}
    seen: set[tuple[str, float, float]] = set()
    quoted = any(x.startswith(b'"') for x in raw[1:])
    for row, line in csv_rows(TextLines(path, problems, path), problems):
        if not row or all(not f.strip() for f in row):
            continue
        if header is None:
            if tuple(f.strip() for f in row) in HEADERS:
                header = tuple(f.strip() for f in row)
                continue
            header = HEADERS[0] if len(row) == 6 else HEADERS[1] if len(row) == 5 else HEADERS[2]
        if len(row) != len(header):
            problems.error(path, line, f"expected {len(header)} fields ({', '.join(header)}), got {len(row)}")
            continue
        rec = dict(zip(header, (f.strip() for f in row)))
        ytid = rec["youtube_id"]
        if not is_youtube_id(ytid):
            problems.error(path, line, f"not a YouTube id: {ytid!r:.40}")
            continue
        if not (is_number(rec["time_start"]) and is_number(rec["time_end"])):
            problems.error(path, line, f"time_start / time_end are not numbers: {rec['time_start']!r:.20}, "
                                       f"{rec['time_end']!r:.20}")
            continue
        start, end = float(rec["time_start"]), float(rec["time_end"])
        if start < 0 or end <= start:
            problems.error(path, line, f"time_end {rec['time_end']} is not after time_start {rec['time_start']} >= 0")
            continue
        if (ytid, start, end) in seen:
            problems.error(path, line, f"repeated segment {ytid} [{rec['time_start']}, {rec['time_end']}]")
            continue
        seen.add((ytid, start, end))
        for key, value in (("id", ytid), ("start", start), ("end", end), ("label", rec.get("label")),
                           ("split", split or rec["split"]), ("is_cc", rec.get("is_cc")), ("line", line)):
            cols[key].append(value)
    header = header or HEADERS[1]
    table = build_clips(len(cols["id"]), {
        "clip_id": pa.array(cols["id"], pa.string()), "source": pa.array(cols["id"], pa.string()),
        "source_kind": "youtube", "start": pa.array(cols["start"], pa.float64()),
        "end": pa.array(cols["end"], pa.float64()),
        "labels": pa.array([[x] if x else [] for x in cols["label"]], pa.list_(pa.string())),
        "dataset": FORMAT, "split": pa.array(cols["split"], pa.string()), "origin_file": path,
        "origin_line": pa.array(cols["line"], pa.int64()),
        "kinetics_is_cc": pa.array(cols["is_cc"], pa.string()),
    })
    has_header = bool(raw) and tuple(raw[0].decode("utf-8", "replace").lstrip("\ufeff").split(",")) in HEADERS
    notes = {"format": FORMAT, "columns": list(header), "header": has_header,
             "quote_spaces": quoted, "newline": detect_newline(path), "final_newline": ends_with_newline(path)}
    return with_origins(table, {path: notes})


@register_reader(FORMAT)
def read_kinetics(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: every file's rows in order."""
    return concat_with_origins([read_kinetics_file(p, problems, options.split)
                                for p in readable_files(paths, problems)])


def _field(text: str, quote_spaces: bool) -> str:
    if '"' in text or "," in text or "\n" in text or (quote_spaces and " " in text):
        return '"' + text.replace('"', '""') + '"'
    return text


@register_writer(FORMAT)
def write_kinetics(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """Registry entry: rows in table order in the layout of the rows' first origin file (header,
    columns, quoting, line ends); a table read from elsewhere gets the Kinetics-600 layout."""
    require_source_kind(table, "youtube", FORMAT)
    first = table.column("origin_file")[0].as_py() if table.num_rows else None
    notes = get_origins(table).get(first or "", {})
    columns = notes.get("columns", list(HEADERS[1]))
    newline, quote = notes.get("newline", "\n"), bool(notes.get("quote_spaces", False))
    has_cc = "kinetics_is_cc" in table.column_names
    out = [",".join(columns)] if notes.get("header", True) else []
    names = ["source", "start", "end", "labels", "split"] + (["kinetics_is_cc"] if has_cc else [])
    for r in table.select(names).to_pylist():
        values = {"label": _field((r["labels"] or [""])[0], quote), "youtube_id": r["source"],
                  "time_start": format_number(r["start"], "short"), "time_end": format_number(r["end"], "short"),
                  "split": r["split"],
                  "is_cc": (r.get("kinetics_is_cc") or "0")}
        out.append(",".join(values[c] for c in columns))
    text = newline.join(out) + (newline if notes.get("final_newline", True) and out else "")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return table.num_rows


def _data_text(name: str) -> str:
    return resources.files("avdata").joinpath("data", name).read_text("utf-8")


def class_names(version: int = 400) -> tuple[str, ...]:
    """The shipped Kinetics-400 or -600 class list (``data/kinetics{400,600}_classes.txt``)."""
    if version not in (400, 600):
        raise ValueError(f"Kinetics-{version}: only the 400 and 600 class lists ship with avdata")
    return tuple(line for line in _data_text(f"kinetics{version}_classes.txt").splitlines() if line)


def kinetics_sounds_mapping() -> dict[str, str | None]:
    """L3-Net's 34 Kinetics-Sounds names -> their Kinetics label, None where there is none
    (``data/kinetics_sounds.tsv``)."""
    rows = [line.split("\t") for line in _data_text("kinetics_sounds.tsv").splitlines()[1:] if line]
    return {name: label or None for name, label, _ in rows}


def kinetics_sounds_labels() -> tuple[str, ...]:
    """The 31 Kinetics labels of Kinetics-Sounds, in L3-Net's order."""
    return tuple(label for label in kinetics_sounds_mapping().values() if label)


def _kinetics_sounds_note() -> str:
    mapping = kinetics_sounds_mapping()
    none = [name for name, label in mapping.items() if label is None]
    renamed = [f"{name} -> {label}" for name, label in mapping.items() if label and label != name]
    return (f"{len(mapping) - len(none)} of L3-Net's {len(mapping)} classes map ({', '.join(renamed)}); "
            f"no Kinetics class: {', '.join(none)}")


# Kinetics-Sounds (L3-Net, Appendix A1): the shipped mapping ``data/kinetics_sounds.tsv``
register_subset("kinetics-sounds", Subset(FORMAT, kinetics_sounds_labels, _kinetics_sounds_note))
