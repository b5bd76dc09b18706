"""The bulk path of ``dir:`` fetch: scan the tree once, join it with the clip table column-wise, and
record every missing video in one go. Only sources with real work (found, or anything unusual)
reach the per-item backend, which keeps the last word on them (links, verification, odd names).

The missing rows are exactly those the per-item path writes (``LocalTreeBackend``: a YouTube id
is looked for as ``{root}/{id}.{ext}`` in ``VIDEO_EXTENSIONS`` order, a path source at
``{root}/{path}``). A source counts as missing here only when the per-item answer is certainly
"missing": a well-formed id or a clean relative path that names nothing in the tree and does not
pass through a symlinked folder. A rerun rewrites only rows that changed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.fetch.local import VIDEO_EXTENSIONS
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.table import iter_clips

PLAN_COLUMNS = ("source", "source_kind", "start", "end", "pair_source", "pair_start", "pair_end")

_YOUTUBE_ID = r"^[A-Za-z0-9_-]{11}$"
# a clean relative POSIX path: no leading '/', no '\\', NUL, empty/'.'/'..' part, drive letter
_UNCLEAN = r"(^/)|(\\)|(\x00)|(//)|(^\.\.?(/|$))|(/\.\.?(/|$))|(/$)|(^[A-Za-z]:)|(^$)"


def read_plan_columns(path: str | os.PathLike[str], columns: tuple[str, ...] = PLAN_COLUMNS) -> pa.Table:
    """Only the clip-table columns a stage plans from (a fraction of the memory of the whole table)."""
    return pa.concat_tables(iter_clips(path, list(columns), 1 << 20))


@dataclass
class TreeScan:
    """Every file below a root (relative POSIX paths, symlinks followed, loops cut), whether the
    path passes through a symlink, and the symlinked folders met."""

    files: pa.Array            # string: relative paths
    linked: pa.Array           # bool: the file or a folder above it is a symlink
    linked_dirs: list[str]     # relative paths of symlinked folders


def scan_tree(root: Path) -> TreeScan:
    """Walk ``root`` once (``os.scandir``, links followed, each real folder visited once: first
    every folder reachable without a link, then the linked ones, so a folder also reachable by a
    link keeps its plain path)."""
    files: list[str] = []
    linked: list[bool] = []
    linked_dirs: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[str, str, bool]] = [(str(root), "", False)]
    later: list[tuple[str, str, bool]] = []
    while stack or later:
        path, rel, via_link = stack.pop() if stack else later.pop()
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for e in entries:
            name = f"{rel}{e.name}"
            is_link = e.is_symlink()
            try:
                is_dir = e.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                if is_link:
                    linked_dirs.append(name)
                (later if via_link or is_link else stack).append((e.path, name + "/", via_link or is_link))
            else:
                files.append(name)
                linked.append(via_link or is_link)
    return TreeScan(pa.array(files, pa.string()), pa.array(linked, pa.bool_()), linked_dirs)


CHUNK_ROWS = 1 << 18


@dataclass
class BulkResult:
    """What the bulk path decided: rows to write, how many sources it settled, and the clip rows
    (``source``, ``source_kind``, times, pair columns) left for the per-item path."""

    chunks: Callable[[], Iterator[pa.Table]]   # manifest rows that are new or changed, a chunk at a time
    missing: int               # sources recorded missing (written or unchanged)
    remaining: pa.Table        # clip rows still to plan per item

    @property
    def rows(self) -> pa.Table:
        """All rows to write at once (small lists, tests)."""
        return pa.concat_tables([FETCH_MANIFEST_SCHEMA.empty_table(), *self.chunks()])


@dataclass
class EncodedSources:
    """The distinct sources (and mixture pair sources) of a clip table, each with the kind of its
    first appearance (row order, a row's source before its pair), and each row's indices into them."""

    sources: pa.Array              # distinct, strings
    kinds: pa.Array                # per distinct source
    source_at: np.ndarray          # per row: index of its source
    pair_at: np.ndarray | None     # per row: index of its pair source, -1 when none


def encode_sources(table: pa.Table) -> EncodedSources:
    """Distinct sources by one stable sort of the names (no hash table holding a copy of every
    name: a fraction of the memory at millions of long paths)."""
    src = table.column("source").cast(pa.string())
    kind = table.column("source_kind").cast(pa.string())
    n = len(src)
    pair = table.column("pair_source").cast(pa.string()) if "pair_source" in table.column_names else None
    has_pairs = pair is not None and pair.null_count < n
    both = pa.chunked_array(src.chunks + pair.chunks, pa.string()) if has_pairs else src
    order = pc.array_sort_indices(both).to_numpy()        # stable; nulls last
    order = order[:len(both) - both.null_count]
    ordered = pc.take(both, pa.array(order))
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new[1:] = ~np.asarray(pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, len(order) - 1)), False))
    del ordered
    group = np.cumsum(new) - 1
    at = np.full(len(both), -1, dtype=np.int64)
    at[order] = group
    starts = np.flatnonzero(new)
    # write order: row r's source (2r), then its pair (2r + 1); each source keeps its first
    key = np.where(order < n, 2 * order, 2 * (order - n) + 1) if has_pairs else order
    first = np.minimum.reduceat(key, starts) if len(starts) else np.array([], dtype=np.int64)
    rows = first // 2 if has_pairs else first
    sources = pc.take(both, pa.array(order[starts])).combine_chunks() if len(starts) else pa.array([], pa.string())
    return EncodedSources(sources, pc.take(kind, pa.array(rows)).combine_chunks(), at[:n],
                          at[n:] if has_pairs else None)


def positions_in(values: pa.Array | pa.ChunkedArray, lookup: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """For each of ``values``, the position of an equal string in ``lookup`` (whose values are
    distinct), or -1: ``pc.index_in`` by one stable sort instead of a hash table of copies."""
    n = len(values)
    both = pa.chunked_array(list(pa.chunked_array([values]).chunks) + list(pa.chunked_array([lookup]).chunks),
                            pa.string())
    order = pc.array_sort_indices(both).to_numpy()
    order = order[:len(both) - both.null_count]
    ordered = pc.take(both, pa.array(order))
    same = np.zeros(len(order), dtype=bool)              # same string as the previous one in order
    if len(order) > 1:
        same[1:] = np.asarray(pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, len(order) - 1)), False))
    del ordered
    group = np.cumsum(~same) - 1
    owner = np.full(group[-1] + 1 if len(group) else 0, -1, dtype=np.int64)
    from_lookup = order >= n
    owner[group[from_lookup]] = order[from_lookup] - n
    out = np.full(n, -1, dtype=np.int64)
    mine = ~from_lookup
    out[order[mine]] = owner[group[mine]]
    return out


def distinct_sources(table: pa.Table) -> pa.Table:
    """(source, source_kind) of every distinct source and mixture pair source, first kind wins."""
    enc = encode_sources(table)
    return pa.table({"source": enc.sources, "source_kind": enc.kinds})


def _best_by_stem(scan: TreeScan) -> tuple[pa.Array, pa.Array]:
    """Root-level ``{stem}.{ext}`` files: (stem, linked) of the stems present, any known ext."""
    top = pc.invert(pc.match_substring(scan.files, "/"))
    names, links = scan.files.filter(top), scan.linked.filter(top)
    stems, flags = [], []
    for ext in VIDEO_EXTENSIONS:
        hit = pc.ends_with(names, "." + ext)
        stems.append(pc.utf8_slice_codeunits(names.filter(hit), 0, -(len(ext) + 1)))
        flags.append(links.filter(hit))
    if not stems:
        return pa.array([], pa.string()), pa.array([], pa.bool_())
    return pa.concat_arrays(stems), pa.concat_arrays(flags)


def bulk_missing(table: pa.Table, root: Path, source_uri: str, previous: pa.Table) -> BulkResult:
    """Scan ``root`` once and settle every source that is certainly missing (see module doc).

    ``previous``: the manifest's latest rows (with ``source``, ``status``, ``source_uri``);
    sources already recorded missing for the same ``--source`` are not written again."""
    scan = scan_tree(root)
    enc = encode_sources(table)
    source, kind = enc.sources, enc.kinds
    is_yt = pc.and_(pc.equal(kind, "youtube"), pc.match_substring_regex(source, _YOUTUBE_ID))
    is_path = pc.and_(pc.equal(kind, "path"), pc.invert(pc.match_substring_regex(source, _UNCLEAN)))
    stems, _ = _best_by_stem(scan)
    found_yt = pc.is_in(source, value_set=stems)
    found_path = pc.is_in(source, value_set=scan.files)
    via_link = pa.array([False] * len(source), pa.bool_())
    for d in scan.linked_dirs:
        via_link = pc.or_(via_link, pc.starts_with(source, d + "/"))
    missing = pc.or_(pc.and_(is_yt, pc.invert(found_yt)),
                     pc.and_(is_path, pc.and_(pc.invert(found_path), pc.invert(via_link))))
    missing = pc.fill_null(missing, False)
    remaining = _remaining(table, np.asarray(missing), enc)
    gone = np.flatnonzero(np.asarray(missing))          # distinct sources settled missing
    del enc, missing
    recorded = _recorded(source, gone, previous, source_uri)

    def chunks() -> Iterator[pa.Table]:
        for start in range(0, len(gone), CHUNK_ROWS):
            todo = gone[start:start + CHUNK_ROWS][~recorded[start:start + CHUNK_ROWS]]
            if len(todo):
                at = pa.array(todo)
                yield missing_rows(pa.table({"source": pc.take(source, at), "source_kind": pc.take(kind, at)}),
                                   root, source_uri)

    return BulkResult(chunks=chunks, missing=len(gone), remaining=remaining)


def missing_rows(sources: pa.Table, root: Path, source_uri: str) -> pa.Table:
    """Manifest rows for missing sources, as ``LocalTreeBackend`` words them."""
    n = sources.num_rows
    src = sources.column("source").combine_chunks()
    message = pc.binary_join_element_wise(src, pa.scalar(f": not found under {root}"), "")
    now = time.time()
    cols = {
        "source": src, "source_kind": sources.column("source_kind").combine_chunks(),
        "status": pa.array(["missing"] * n, pa.string()), "seconds": pa.array([0.0] * n, pa.float64()),
        "attempts": pa.array([1] * n, pa.int32()), "error_class": pa.array(["missing"] * n, pa.string()),
        "transient": pa.array([False] * n, pa.bool_()), "message": message,
        "backend": pa.array(["dir"] * n, pa.string()), "source_uri": pa.array([source_uri] * n, pa.string()),
        "deleted": pa.array([False] * n, pa.bool_()), "finished_at": pa.array([now] * n, pa.float64()),
    }
    return pa.Table.from_arrays([cols[f.name] if f.name in cols else pa.nulls(n, f.type)
                                 for f in FETCH_MANIFEST_SCHEMA], schema=FETCH_MANIFEST_SCHEMA)


def _recorded(source: pa.Array, gone: np.ndarray, previous: pa.Table, source_uri: str) -> np.ndarray:
    """Which sources ``source[gone]`` the previous rows already record as missing for the same
    ``--source`` (the message is a function of the two): their rows are not written again."""
    if previous.num_rows == 0 or len(gone) == 0:
        return np.zeros(len(gone), dtype=bool)
    pos = pc.index_in(pc.take(source, pa.array(gone)), value_set=previous.column("source").combine_chunks())
    status = pc.take(previous.column("status").combine_chunks(), pos)
    uri = pc.take(previous.column("source_uri").combine_chunks(), pos)
    same = pc.and_(pc.equal(status, "missing"), pc.equal(uri, source_uri))
    return np.asarray(pc.fill_null(same, False))


def _remaining(table: pa.Table, gone: np.ndarray, enc: EncodedSources) -> pa.Table:
    """Clip rows still needing the per-item path: a missing pair source is dropped from its row,
    a row whose own source is missing keeps only its pair source (as its source). ``gone``: per
    distinct source of ``enc``, whether it was settled missing."""
    names = [c for c in ("source", "source_kind", "start", "end", "pair_source", "pair_start", "pair_end")
             if c in table.column_names]
    t = table.select(names)
    src_gone = pa.array(gone[enc.source_at])
    if enc.pair_at is None:
        return t.filter(pc.invert(src_gone))
    pair = t.column("pair_source")
    has_pair = enc.pair_at >= 0
    pair_gone = pa.array(has_pair & gone[np.where(has_pair, enc.pair_at, 0)])
    pair_kept = pa.array(has_pair & ~np.asarray(pair_gone))
    null_pair = pa.nulls(t.num_rows, t.schema.field("pair_source").type)
    keep_src = t.filter(pc.invert(src_gone))
    keep_src = keep_src.set_column(names.index("pair_source"), "pair_source",
                                   pc.if_else(pair_gone, null_pair, pair).filter(pc.invert(src_gone)))
    swapped = t.filter(pc.and_(src_gone, pair_kept))
    if swapped.num_rows:
        moved = {"source": swapped.column("pair_source"), "source_kind": swapped.column("source_kind"),
                 "start": swapped.column("pair_start") if "pair_start" in names else swapped.column("start"),
                 "end": swapped.column("pair_end") if "pair_end" in names else swapped.column("end")}
        swapped = pa.table({n: (moved[n] if n in moved else pa.nulls(swapped.num_rows, t.schema.field(n).type))
                            for n in names}).cast(t.schema)
        keep_src = pa.concat_tables([keep_src, swapped])
    return keep_src
