"""Video-path clip lists (AudioScope, AudioScopeV2, MixIT YFCC100M): shared reading and writing.

A row is ``path, start, end`` (AudioScope), ``path, start, end, offset`` (MixIT), or two of those
side by side for a mixture-of-mixtures (MoM) pair list. Lists come with or without a header line.
Reading streams the file (``csv`` row by row); what the columns cannot hold (header line, line
ends, number style, layout) is kept per file in the table's origin notes so writing gives the file
back byte for byte.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from avdata.atomic import atomic_path
from avdata.errors import UnsafePathError
from avdata.paths import check_relative
from avdata.sources.build import build_clips
from avdata.sources.ids import safe_stem
from avdata.sources.lines import TextLines, csv_rows, detect_newline
from avdata.sources.numbers import (
    MIXED,
    NumberStyle,
    RowError,
    format_number,
    nonnegative_number,
)
from avdata.sources.origins import get_origins, with_origins
from avdata.sources.problems import Problems
from avdata.sources.registry import require_source_kind


@dataclass(frozen=True)
class Layout:
    """Columns of one clip (``with_offset``: MixIT's output offset) and whether rows are pairs."""

    with_offset: bool
    pair: bool

    @property
    def width(self) -> int:
        return (4 if self.with_offset else 3) * (2 if self.pair else 1)


@dataclass(frozen=True)
class ListInfo:
    """What a file name tells about a list (None where it tells nothing)."""

    dataset: str
    split: str | None = None
    annotation: str | None = None
    filtered: bool | None = None
    pair: bool | None = None


@dataclass
class _Columns:
    source: list[str]
    start: list[float]
    end: list[float]
    offset: list[float | None]
    pair_source: list[str | None]
    pair_start: list[float | None]
    pair_end: list[float | None]
    pair_offset: list[float | None]
    line: list[int]
    clip_id: list[str]


def _ms(x: float) -> int:
    return int(round(x * 1000))


def clip_id_for(path: str, start: float, end: float) -> str:
    """``{file stem}_{start_ms}_{end_ms}`` made file-name safe."""
    return f"{safe_stem(PurePosixPath(path).stem)}_{_ms(start)}_{_ms(end)}"


def _number(text: str, what: str, style: NumberStyle) -> float:
    value = nonnegative_number(text, what)
    style.see(text, value)
    return value


def _clip(fields: list[str], with_offset: bool, style: NumberStyle, which: str) -> tuple:
    path = fields[0]
    try:
        check_relative(path)
    except UnsafePathError as e:
        raise RowError(f"{which}video path: {e}") from None
    start = _number(fields[1], f"{which}start", style)
    end = _number(fields[2], f"{which}end", style)
    if end <= start:
        raise RowError(f"{which}end {fields[2]} is not after start {fields[1]}")
    offset = _number(fields[3], f"{which}offset", style) if with_offset else None
    return path, start, end, offset


def _looks_like_header(fields: list[str]) -> bool:
    try:
        float(fields[1])
        return False
    except (ValueError, IndexError):
        return True


def read_clip_list(path: str | os.PathLike[str], info: ListInfo, with_offset: bool, problems: Problems,
                   fmt: str) -> pa.Table:
    """Read one list; the layout (single or pair) comes from the file name or the first data row."""
    file = str(path)
    style = NumberStyle()
    cols = _Columns(*([] for _ in range(10)))
    header: str | None = None
    layout: Layout | None = Layout(with_offset, info.pair) if info.pair is not None else None
    widths = {Layout(with_offset, False).width, Layout(with_offset, True).width}
    newline = detect_newline(path)
    lines = TextLines(path, problems, file)
    for row, line in csv_rows(lines, problems):
        fields = [f.strip() for f in row]
        if not fields or all(not f for f in fields):
            continue
        if header is None and not cols.line and _looks_like_header(fields):
            header = lines.raw_line(line)
            continue
        if layout is None and len(fields) in widths:
            layout = Layout(with_offset, len(fields) == max(widths))
        if layout is None or len(fields) != layout.width:
            want = layout.width if layout else " or ".join(map(str, sorted(widths)))
            problems.error(file, line, f"expected {want} fields, found {len(fields)}")
            continue
        try:
            first = _clip(fields, with_offset, style, "")
            k = 4 if with_offset else 3
            second = _clip(fields[k:], with_offset, style, "second clip ") if layout.pair else None
        except RowError as e:
            problems.error(file, line, str(e))
            continue
        _append(cols, first, second, line)
    layout = layout or Layout(with_offset, bool(info.pair))
    n = len(cols.line)
    table = build_clips(n, {
        "clip_id": cols.clip_id, "source": cols.source, "source_kind": "path", "start": cols.start,
        "end": cols.end, "dataset": info.dataset, "split": info.split or Path(file).name.split(".")[0],
        "annotation": info.annotation, "filtered": info.filtered, "origin_file": file,
        "origin_line": cols.line, "pair_source": cols.pair_source if layout.pair else None,
        "pair_start": cols.pair_start if layout.pair else None, "pair_end": cols.pair_end if layout.pair else None,
        "offset": cols.offset if with_offset else None,
        "pair_offset": cols.pair_offset if (with_offset and layout.pair) else None,
    })
    return with_origins(table, {file: {"format": fmt, "header": header, "newline": newline,
                                       "number_style": style.style, "pair": layout.pair,
                                       "with_offset": with_offset}})


def _append(cols: _Columns, first: tuple, second: tuple | None, line: int) -> None:
    path, start, end, offset = first
    cols.source.append(path)
    cols.start.append(start)
    cols.end.append(end)
    cols.offset.append(offset)
    cols.line.append(line)
    cid = clip_id_for(path, start, end)
    if second is not None:
        p2, s2, e2, o2 = second
        cols.pair_source.append(p2)
        cols.pair_start.append(s2)
        cols.pair_end.append(e2)
        cols.pair_offset.append(o2)
        cid = f"{cid}__{clip_id_for(p2, s2, e2)}"
    cols.clip_id.append(cid)


def write_clip_list(table: pa.Table, path: str | os.PathLike[str], fmt: str, with_offset: bool) -> int:
    """Write ``table`` as a clip list (atomically) in the notes of its first origin file, else
    without header, LF line ends and the shortest number style; return the rows written."""
    require_source_kind(table, "path", fmt)
    note: dict[str, Any] = {}
    if table.num_rows:
        note = get_origins(table).get(table.column("origin_file")[0].as_py(), {})
    if note.get("format") != fmt:
        note = {}
    pair = note.get("pair")
    if pair is None:
        pair = table.num_rows > 0 and table.column("pair_source").null_count < table.num_rows
    style = note.get("number_style", "short")
    style = "repr" if style == MIXED else style
    buf = io.StringIO(newline="")
    newline = note.get("newline", "\n")
    if note.get("header"):
        buf.write(note["header"] + newline)
    w = csv.writer(buf, lineterminator=newline)
    names = ["source", "start", "end"] + (["offset"] if with_offset else [])
    if pair:
        names += ["pair_source", "pair_start", "pair_end"] + (["pair_offset"] if with_offset else [])
    columns = [table.column(c).to_pylist() for c in names]
    for values in zip(*columns):
        w.writerow([v if isinstance(v, str) else format_number(0.0 if v is None else v, style) for v in values])
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue().encode("utf-8"))
    return table.num_rows


def read_clip_lists(paths: Sequence[str], list_info: Callable[[str], ListInfo], split: str | None,
                    with_offset: bool, problems: Problems, fmt: str) -> pa.Table:
    """Read several lists of one format: split/label/filtering from each file name (``list_info``),
    ``split`` overriding the name's split when given; one table with every file's origin notes."""
    from dataclasses import replace

    from avdata.sources.origins import concat_with_origins

    tables = []
    for p in paths:
        info = list_info(p)
        if split:
            info = replace(info, split=split)
        tables.append(read_clip_list(p, info, with_offset, problems, fmt))
    return concat_with_origins(tables)
