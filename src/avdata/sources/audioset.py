"""AudioSet segment CSVs (``balanced_train_segments.csv``, ``eval_segments.csv``,
``unbalanced_train_segments.csv``): read to the clip table, write back byte for byte.

Published shape::

    # Segments csv created Sun Mar  5 10:54:31 2017
    # num_ytids=22160, num_segs=22160, num_unique_labels=527, num_positive_labels=52882
    # YTID, start_seconds, end_seconds, positive_labels
    --PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"

Canonical lines are parsed in bulk (``segments_fast``); every other line goes through
``parse_segment_line``, which also reads the messy variants found in the wild (CRLF, BOM, blank
lines, ``30`` for ``30.000``, spreadsheet re-exports with trailing empty fields and the label list
unquoted over several columns) and reports malformed rows (file and line) before skipping them.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.atomic import atomic_path
from avdata.paths import is_youtube_id
from avdata.sources.build import build_clips
from avdata.sources.ids import YoutubeIdSet, suffix_repeats, youtube_keys
from avdata.sources.lines import DEFAULT_BLOCK_BYTES, LineBlock, iter_line_blocks
from avdata.sources.numbers import RowError, nonnegative_number
from avdata.sources.ontology import Ontology
from avdata.sources.origins import concat_with_origins, get_origins, with_origins
from avdata.sources.problems import Problems
from avdata.sources.registry import (
    ReadOptions,
    register_reader,
    register_stream_reader,
    register_writer,
    require_source_kind,
)
from avdata.sources.segments_fast import FastSegments, parse_block, parse_block_csv
from avdata.sources.sniff import is_number, register_sniffer

FORMAT = "audioset"


@register_sniffer(FORMAT)
def looks_like_audioset_row(row: list[str]) -> bool:
    """``YTID, start, end, "label ids"`` (the label field may be split by a spreadsheet re-export)."""
    return len(row) >= 4 and is_youtube_id(row[0]) and is_number(row[1]) and is_number(row[2]) \
        and row[3].lstrip('"').startswith("/")
DEFAULT_CREATED = "# Segments csv created by avdata"
COLUMN_HEADER = "# YTID, start_seconds, end_seconds, positive_labels"
COUNT_KEYS = ("num_ytids", "num_segs", "num_unique_labels", "num_positive_labels")
_COUNTS_RE = re.compile(r"(num_ytids|num_segs|num_unique_labels|num_positive_labels)=(\d+)")
_SPLITS = {"balanced_train_segments": "balanced_train", "eval_segments": "eval",
           "unbalanced_train_segments": "unbalanced_train"}


@dataclass(frozen=True)
class Segment:
    ytid: str
    start: float
    end: float
    labels: tuple[str, ...]


def split_from_name(path: str | os.PathLike[str]) -> str:
    """``eval``, ``balanced_train`` or ``unbalanced_train`` from a published file name; else the stem
    without a trailing ``_segments``."""
    stem = Path(path).name.split(".")[0]
    return _SPLITS.get(stem, stem.removesuffix("_segments"))


def _time(text: str, what: str) -> float:
    return nonnegative_number(text, f"{what} time")


def parse_segment_line(text: str) -> Segment | None:
    """Parse one line in any accepted variant; None for blank lines; RowError if malformed."""
    if not text.strip():
        return None
    try:
        fields = next(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error as e:
        reason = "the quoted label list is not closed" if "unexpected end" in str(e) else f"unreadable CSV ({e})"
        raise RowError(reason) from None
    fields = [f.strip() for f in fields]
    while fields and not fields[-1]:
        fields.pop()
    if len(fields) < 4:
        raise RowError(f"expected YTID, start, end, labels; found {len(fields)} field(s)")
    if len(fields) > 4 and text.split(",", 3)[3].lstrip().startswith('"'):
        raise RowError(f"{len(fields) - 4} more field(s) after the quoted label list")
    ytid = fields[0]
    if not is_youtube_id(ytid):
        raise RowError(f"YouTube id {ytid!r} is not 11 characters of [A-Za-z0-9_-]")
    start = _time(fields[1], "start")
    end = _time(fields[2], "end")
    if end <= start:
        raise RowError(f"end time {fields[2]} is not after start time {fields[1]}")
    labels = tuple(lab.strip() for f in fields[3:] for lab in f.split(","))
    if any(not lab for lab in labels):
        raise RowError("empty label in the label list")
    if any(c.isspace() or c == '"' for lab in labels for c in lab):
        raise RowError("a label contains a space or a quote")
    return Segment(ytid, start, end, labels)


@dataclass
class _Header:
    lines: list[str]
    counts: dict[str, int] | None = None
    counts_line: int | None = None


def _block_rows(block: LineBlock, fast: FastSegments, file: str, header: _Header,
                problems: Problems) -> tuple[list, list, list, list, list]:
    """Run the slow path over the lines the fast parser left; returns column lists."""
    lines_out: list[Any] = []
    ids: list[Any] = []
    starts: list[Any] = []
    ends: list[Any] = []
    labels: list[Any] = []
    if not len(fast.other_lines):
        return lines_out, ids, starts, ends, labels
    starts_at: np.ndarray
    ends_at: np.ndarray
    if fast.line_starts is None or fast.line_ends is None:
        ends_at = np.flatnonzero(np.frombuffer(block.data, np.uint8) == 10)
        starts_at = np.concatenate([[0], ends_at[:-1] + 1])
    else:
        starts_at, ends_at = fast.line_starts, fast.line_ends
    for i in fast.other_lines.tolist():
        lineno = block.first_line + i
        raw = block.data[starts_at[i]: ends_at[i]]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.error(file, lineno, "line is not valid UTF-8")
            continue
        if text.startswith("#"):
            if lineno <= 3 and len(header.lines) == lineno - 1:
                header.lines.append(text)
                found = dict(_COUNTS_RE.findall(text))
                if set(found) == set(COUNT_KEYS):
                    header.counts = {k: int(v) for k, v in found.items()}
                    header.counts_line = lineno
            continue
        try:
            seg = parse_segment_line(text)
        except RowError as e:
            problems.error(file, lineno, str(e))
            continue
        if seg is None:
            continue
        lines_out.append(lineno)
        ids.append(seg.ytid)
        starts.append(seg.start)
        ends.append(seg.end)
        labels.append(list(seg.labels))
    return lines_out, ids, starts, ends, labels


def _parse(block: LineBlock) -> FastSegments:
    """Arrow CSV path for the lines after any leading ``#`` header lines, else the numpy path."""
    data, skip, cut = block.data, 0, 0
    while data.startswith(b"#", cut):
        cut = data.index(b"\n", cut) + 1
        skip += 1
    n_lines = block.lines - skip if block.lines is not None else None
    fast = parse_block_csv(data[cut:], n_lines) if cut < len(data) else None
    if fast is None:
        return parse_block(data)
    fast.line_index = fast.line_index + skip
    fast.other_lines = np.concatenate([np.arange(skip), fast.other_lines + skip])
    return fast


@dataclass(frozen=True)
class SegmentsReadOptions:
    """How to read a segment file: ``split`` overrides the split told by the file name;
    ``threads`` parse blocks in parallel (numpy and Arrow release the GIL)."""

    split: str | None = None
    block_bytes: int = DEFAULT_BLOCK_BYTES
    threads: int = 2


def iter_segment_tables(path: str | os.PathLike[str], options: SegmentsReadOptions = SegmentsReadOptions(),
                        problems: Problems | None = None, header: _Header | None = None) -> Iterator[pa.Table]:
    """Stream a segment file as clip-table blocks in file order (clip_id = YTID; see ``read_segments``)."""
    problems = problems if problems is not None else Problems()
    header = header if header is not None else _Header([])
    for table, _ in _iter_parsed(path, options, problems, header):
        yield table


@dataclass
class _BlockFacts:
    """What the per-file checks need of a block, worked out on the parsing thread: the YouTube id
    keys and the distinct labels (and label count) of its rows."""

    keys: tuple[np.ndarray, np.ndarray]
    labels: list[str]
    n_labels: int


def _parse_with_facts(block: LineBlock) -> tuple[FastSegments, _BlockFacts | None]:
    """``_parse`` plus the facts of its fast-path rows (worker thread). They are the block's facts
    unless the slow path adds rows, which only the caller's thread knows (see ``_take``)."""
    fast = _parse(block)
    keys = fast.keys
    if keys is None:
        try:
            keys = youtube_keys(fast.ytid)
        except ValueError:
            return fast, None
    flat = pc.list_flatten(fast.labels)
    return fast, _BlockFacts(keys, pc.unique(flat).to_pylist(), len(flat))


def _iter_parsed(path: str | os.PathLike[str], options: SegmentsReadOptions, problems: Problems,
                 header: _Header) -> Iterator[tuple[pa.Table, _BlockFacts | None]]:
    """Clip-table blocks in file order, parsed ``options.threads`` at a time, each with its facts
    (None when they must be worked out from the table)."""
    file = str(path)
    split = options.split or split_from_name(path)
    blocks = iter_line_blocks(path, options.block_bytes)
    with ThreadPoolExecutor(max(1, options.threads)) as pool:
        pending: list = []
        for block in blocks:
            pending.append((block, pool.submit(_parse_with_facts, block)))
            if len(pending) > options.threads:
                yield _take(pending, file, split, header, problems)
        while pending:
            yield _take(pending, file, split, header, problems)


def _take(pending: list, file: str, split: str, header: _Header,
          problems: Problems) -> tuple[pa.Table, _BlockFacts | None]:
    block, fut = pending.pop(0)
    fast, facts = fut.result()
    table = _to_table(block, fast, file, split, header, problems)
    if facts is not None and table.num_rows != len(fast.ytid):
        facts = None     # the slow path added rows
    return table, facts


def _to_table(block: LineBlock, fast: FastSegments, file: str, split: str, header: _Header,
              problems: Problems) -> pa.Table:
    slow_lines, ids, starts, ends, labels = _block_rows(block, fast, file, header, problems)
    line = pa.array(fast.line_index + block.first_line, pa.int64())
    ytid, labs = fast.ytid, fast.labels
    start = pa.array(fast.start_ms / 1000.0)
    end = pa.array(fast.end_ms / 1000.0)
    if slow_lines:
        order = np.argsort(np.concatenate([fast.line_index + block.first_line, slow_lines]), kind="stable")
        take = pa.array(order)
        line = pa.concat_arrays([line, pa.array(slow_lines, pa.int64())]).take(take)
        ytid = pa.concat_arrays([ytid, pa.array(ids, pa.string())]).take(take)
        labs = pa.concat_arrays([labs, pa.array(labels, pa.list_(pa.string()))]).take(take)
        start = pa.concat_arrays([start, pa.array(starts, pa.float64())]).take(take)
        end = pa.concat_arrays([end, pa.array(ends, pa.float64())]).take(take)
    return build_clips(len(line), {
        "clip_id": ytid, "source": ytid, "source_kind": "youtube", "start": start, "end": end,
        "labels": labs, "dataset": FORMAT, "split": split, "origin_file": file, "origin_line": line,
    })


def segment_counts(table: pa.Table) -> dict[str, int]:
    """The four counts of the second header line, computed from a table."""
    flat = pc.list_flatten(table.column("labels"))
    return {
        "num_ytids": pc.count_distinct(table.column("source")).as_py() if table.num_rows else 0,
        "num_segs": table.num_rows,
        "num_unique_labels": pc.count_distinct(flat).as_py() if len(flat) else 0,
        "num_positive_labels": len(flat),
    }


class UnknownLabels:
    """Rows whose labels are not in the ontology, gathered block by block; ``report`` gives one
    warning per file naming a few unknown label ids and the lines they are on."""

    def __init__(self, ontology: Ontology, show: int = 5) -> None:
        self.ontology = ontology
        self.show = show
        self.files: dict[str, tuple[list[int], list[tuple[int, list[str]]], set[str]]] = {}

    def see(self, table: pa.Table, labels: pa.Array | None = None, uniq: list[str] | None = None) -> None:
        """Look at the rows of ``table`` (``labels``/``uniq``: its label column and distinct labels,
        if the caller has them)."""
        if table.num_rows == 0:
            return
        if labels is None:
            labels = _one_chunk(table.column("labels"))
        flat = pc.list_flatten(labels)
        if uniq is None:
            uniq = pc.unique(flat).to_pylist()
        unknown = self.ontology.unknown(uniq)
        if not unknown:
            return
        rows = pc.list_parent_indices(labels).to_numpy()
        hit = pc.is_in(flat, value_set=pa.array(sorted(unknown))).to_numpy(zero_copy_only=False)
        sub = table.take(pa.array(np.unique(rows[hit])))
        for f, ln, labs in zip(sub.column("origin_file").to_pylist(), sub.column("origin_line").to_pylist(),
                               sub.column("labels").to_pylist()):
            count, first, ids = self.files.setdefault(f, ([0], [], set()))
            mine = [x for x in labs if x in unknown]
            count[0] += 1
            ids.update(mine)
            if len(first) < self.show:
                first.append((ln, mine))

    def report(self, problems: Problems) -> None:
        for f, (count, first, ids) in self.files.items():
            where = ", ".join(f"line {ln}: {' '.join(labs)}" for ln, labs in first)
            more = f" (and {count[0] - self.show} more rows)" if count[0] > self.show else ""
            problems.warn(f, first[0][0], f"{len(ids)} label id(s) not in the ontology on {count[0]} row(s): "
                                          f"{where}{more}")
        self.files = {}


def _one_chunk(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def report_unknown_labels(table: pa.Table, ontology: Ontology, problems: Problems, *, show: int = 5) -> None:
    """One warning per file naming a few unknown label ids and the lines they are on."""
    unknown = UnknownLabels(ontology, show)
    unknown.see(table)
    unknown.report(problems)


class _FileChecks:
    """The header's four counts of one file (and unknown labels), gathered block by block."""

    def __init__(self, ontology: Ontology | None) -> None:
        self.ids = YoutubeIdSet()
        self.labels: set[str] = set()
        self.rows = 0
        self.positive = 0
        self.unknown = UnknownLabels(ontology) if ontology is not None else None

    def see(self, block: pa.Table, facts: _BlockFacts | None = None) -> np.ndarray:
        """Count ``block``; return a bool per row: did its YouTube id occur earlier in the file?
        ``facts``: the block's ids and labels worked out already (on a parsing thread)."""
        labels = _one_chunk(block.column("labels"))
        if facts is None:
            repeats = self.ids.add(block.column("source"))
            flat = pc.list_flatten(labels)
            uniq, n_labels = pc.unique(flat).to_pylist(), len(flat)
        else:
            repeats = self.ids.add(block.column("source"), facts.keys)
            uniq, n_labels = facts.labels, facts.n_labels
        self.labels.update(uniq)
        self.rows += block.num_rows
        self.positive += n_labels
        if self.unknown is not None:
            self.unknown.see(block, labels, uniq)
        return repeats

    def counts(self) -> dict[str, int]:
        return {"num_ytids": len(self.ids), "num_segs": self.rows, "num_unique_labels": len(self.labels),
                "num_positive_labels": self.positive}


class SegmentFileStream:
    """One segment file as clip-table blocks (clip_id = YTID), each with a bool per row telling
    whether its YouTube id occurred earlier in the file. When the blocks are done, header counts
    that disagree with the rows and unknown label ids are reported as warnings, and ``origins``
    holds the file's format notes."""

    def __init__(self, path: str | os.PathLike[str], options: SegmentsReadOptions, problems: Problems,
                 ontology: Ontology | None = None) -> None:
        self.path, self.file = path, str(path)
        self.options, self.problems = options, problems
        self.header = _Header([])
        self.checks = _FileChecks(ontology)

    def __iter__(self) -> Iterator[tuple[pa.Table, np.ndarray]]:
        for block, facts in _iter_parsed(self.path, self.options, self.problems, self.header):
            yield block, self.checks.see(block, facts)
        header = self.header
        if header.counts is not None:
            found = self.checks.counts()
            diff = [f"{k}={header.counts[k]} stated, {found[k]} read" for k in COUNT_KEYS
                    if header.counts[k] != found[k]]
            if diff:
                self.problems.warn(self.file, header.counts_line,
                                   "header counts disagree with the rows: " + "; ".join(diff))
        if self.checks.unknown is not None:
            self.checks.unknown.report(self.problems)

    def origins(self) -> dict[str, dict]:
        lines = self.header.lines
        return {self.file: {"format": FORMAT, "header": lines, "created": lines[0] if lines else None,
                            "column_header": lines[2] if len(lines) > 2 else None}}


def read_segments(path: str | os.PathLike[str], options: SegmentsReadOptions = SegmentsReadOptions(),
                  problems: Problems | None = None, ontology: Ontology | None = None) -> pa.Table:
    """Read one segment file to a clip table (clip_id = YTID; the ingest stage makes ids unique).

    Malformed rows are reported to ``problems`` and skipped; header counts that disagree with the
    rows read, and label ids not in ``ontology`` (when given), are reported as warnings.
    """
    problems = problems if problems is not None else Problems()
    stream = SegmentFileStream(path, options, problems, ontology)
    tables = [block for block, _ in stream]
    table = pa.concat_tables(tables) if tables else build_clips(0, {})
    return with_origins(table, stream.origins())


def _fmt_time(x: float) -> str:
    return f"{x:.3f}"


def segments_header(table: pa.Table, created: str | None = None, column_header: str | None = None) -> str:
    """The three header lines for ``table`` (counts recomputed)."""
    counts = segment_counts(table)
    line2 = "# " + ", ".join(f"{k}={counts[k]}" for k in COUNT_KEYS)
    return f"{created or DEFAULT_CREATED}\n{line2}\n{column_header or COLUMN_HEADER}\n"


def write_segments(table: pa.Table, path: str | os.PathLike[str], *, created: str | None = None,
                   chunk_rows: int = 100_000) -> int:
    """Write ``table`` as an AudioSet segment CSV (atomically); return the rows written.

    The first header line is ``created`` if given, else the one stored when the rows' (first)
    origin file was read; counts are recomputed; times are written ``%.3f``.
    """
    require_source_kind(table, "youtube", FORMAT)
    origins = get_origins(table)
    note = {}
    if table.num_rows:
        note = origins.get(table.column("origin_file")[0].as_py(), {})
    if note.get("format") != FORMAT:
        note = {}
    head = segments_header(table, created or note.get("created"), note.get("column_header"))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(head)
        for off in range(0, table.num_rows, chunk_rows):
            part = table.slice(off, chunk_rows)
            out = [f'{y}, {s:.3f}, {e:.3f}, "{",".join(labs)}"\n' for y, s, e, labs in zip(
                part.column("source").to_pylist(), part.column("start").to_pylist(),
                part.column("end").to_pylist(), part.column("labels").to_pylist())]
            fh.write("".join(out))
    return table.num_rows


def _segment_options(options: ReadOptions) -> SegmentsReadOptions:
    return SegmentsReadOptions(split=options.split, threads=options.threads,
                               block_bytes=options.block_bytes or DEFAULT_BLOCK_BYTES)


@register_reader(FORMAT)
def read_audioset(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: read several segment files into one table."""
    seg_opts = _segment_options(options)
    return concat_with_origins([read_segments(p, seg_opts, problems, options.ontology) for p in paths])


@register_stream_reader(FORMAT)
def stream_audioset(paths: Sequence[str], options: ReadOptions, problems: Problems) -> Iterator[pa.Table]:
    """Registry entry: the table of ``read_audioset`` then ``make_unique``, block by block (memory
    stays near a few blocks); after each file, an empty block carrying its origin notes."""
    seg_opts = _segment_options(options)
    earlier = YoutubeIdSet()        # ids of the files before this one
    taken: set[str] = set()
    for k, path in enumerate(paths):
        stream = SegmentFileStream(path, seg_opts, problems, options.ontology)
        for block, repeats in stream:
            if len(earlier):
                repeats |= earlier.contains(block.column("clip_id"))
            yield suffix_repeats(block, repeats, taken)
        if k + 1 < len(paths):
            earlier.update(stream.checks.ids)
        yield with_origins(build_clips(0, {}), stream.origins())


@register_writer(FORMAT)
def write_audioset(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """Registry entry: see ``write_segments``."""
    return write_segments(table, path)
