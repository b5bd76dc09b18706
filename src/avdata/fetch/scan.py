"""The bulk path of ``dir:`` fetch: scan the tree once, stream the clip table a batch at a time,
decide column-wise which sources are missing and record them as they are decided. Only sources
with real work (found, or anything unusual) reach the per-item backend, which keeps the last word
on them (links, verification, odd names). Driver memory follows the batch, plus 16 bytes per
distinct source (``avdata.keyset.KeySet``), not the list.

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
import pyarrow.parquet as pq

from avdata.fetch.local import VIDEO_EXTENSIONS
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.keyset import KeySet
from avdata.manifest import iter_manifest
from avdata.table import CLIP_SCHEMA, iter_clips

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


CHUNK_ROWS = 1 << 16      # clip rows per planning batch


@dataclass
class BulkResult:
    """What the bulk path decided: how many sources it settled missing (their rows written, or
    unchanged), and the clip rows (``source``, ``source_kind``, times, pair columns) left for the
    per-item path."""

    missing: int               # sources recorded missing (written or unchanged)
    remaining: pa.Table        # clip rows still to plan per item


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
    both = pa.chunked_array(src.chunks + pair.chunks, pa.string()) if pair is not None and has_pairs else src
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


# per-source bits of the bulk pass's KeySet
RECORDED = 1        # the manifest's latest row: missing, for the same --source
SEEN = 2            # met in this clip table
GONE = 4            # settled missing by this run


def clip_batches(clips: pa.Table | str | os.PathLike[str], columns: tuple[str, ...],
                 batch_rows: int) -> Iterator[pa.Table]:
    """A clip table (or its Parquet path) ``batch_rows`` rows at a time, only ``columns`` (those a
    table in memory has): a stage's planning pass streams the list instead of holding it."""
    if isinstance(clips, pa.Table):
        t = clips.select([c for c in columns if c in clips.column_names])
        for start in range(0, t.num_rows, batch_rows):
            yield t.slice(start, batch_rows)
        return
    yield from iter_clips(clips, list(columns), batch_rows)


def check_clips(clips: pa.Table | str | os.PathLike[str], columns: tuple[str, ...]) -> None:
    """Raise ``SchemaError`` now, before anything is written, when a clip-table path cannot be
    streamed (not Parquet, a required column missing): its first row is read."""
    if not isinstance(clips, pa.Table):
        next(iter_clips(clips, list(columns), 1), None)


def clip_rows(clips: pa.Table | str | os.PathLike[str]) -> int:
    """How many rows a clip table (or its Parquet file, from the footer) has."""
    if isinstance(clips, pa.Table):
        return clips.num_rows
    try:
        return pq.ParquetFile(os.path.abspath(clips)).metadata.num_rows
    except (OSError, pa.ArrowException):
        return 0        # iter_clips says what is wrong with it


class TreeIndex:
    """Membership in a scanned tree: root-level ``{stem}.{ext}`` stems (any known ext) and every
    relative path, as hashed key sets; folders reached through symlinks."""

    def __init__(self, scan: TreeScan, hashes_like: KeySet | None = None) -> None:
        self.stems, self.files = KeySet(hashes_like=hashes_like), KeySet(hashes_like=hashes_like)
        stems, _ = _best_by_stem(scan)
        self.stems.add(self.stems.hash(stems))
        self.files.add(self.files.hash(scan.files))
        self.linked_dirs = scan.linked_dirs

    def certainly_missing(self, source: pa.Array, kind: pa.Array, hashes: np.ndarray | None = None) -> np.ndarray:
        """Per source: a well-formed id with no stem, or a clean path naming nothing in the tree
        and not below a symlinked folder (anything else is the per-item backend's to decide).
        ``hashes``: the sources' hashes, when made by a set this index ``hashes_like``."""
        if hashes is None:
            hashes = self.stems.hash(source)
        is_yt = pc.fill_null(pc.and_(pc.equal(kind, "youtube"), pc.match_substring_regex(source, _YOUTUBE_ID)), False)
        is_path = pc.fill_null(pc.and_(pc.equal(kind, "path"),
                                       pc.invert(pc.match_substring_regex(source, _UNCLEAN))), False)
        yt, path = np.asarray(is_yt), np.asarray(is_path)
        out = np.zeros(len(source), dtype=bool)
        if yt.any():
            at = np.flatnonzero(yt)
            out[at] = ~self.stems.contains(hashes[at])
        if path.any():
            at = np.flatnonzero(path)
            sub = source.take(pa.array(at))
            gone = ~self.files.contains(hashes[at])
            for d in self.linked_dirs:
                gone &= ~np.asarray(pc.fill_null(pc.starts_with(sub, d + "/"), False))
            out[at] = gone
        return out


def previous_state(manifest: str | os.PathLike[str], source_uri: str, capacity: int) -> KeySet:
    """Per source of the manifest, whether its latest row records it missing for ``source_uri``
    (``RECORDED``): one streaming pass, 16 bytes a source."""
    state = KeySet(capacity)
    for t in iter_manifest(manifest, FETCH_MANIFEST_SCHEMA, ("source", "status", "source_uri")):
        same = pc.and_(pc.equal(t.column("status"), "missing"), pc.equal(t.column("source_uri"), source_uri))
        state.put(state.hash(t.column("source")), np.asarray(pc.fill_null(same, False)).astype(np.uint8) * RECORDED)
    return state


def bulk_missing(clips: pa.Table | str | os.PathLike[str], root: Path, source_uri: str,
                 manifest: str | os.PathLike[str], write: Callable[[pa.Table], None], *,
                 batch_rows: int | None = None) -> BulkResult:
    """Scan ``root`` once, stream the clip table a batch at a time, and settle every source that
    is certainly missing (see module doc): its row goes to ``write`` as soon as it is decided,
    unless the manifest's latest row for it already says so for the same ``--source``.

    Memory: the batch, the tree, and 16 bytes per distinct source (a ``KeySet`` of the
    manifest's and the list's sources with a few bits each). Only the clip rows with real work
    are kept (``remaining``): a row's missing pair source is dropped, a row whose own source is
    missing keeps only its pair source (as its source)."""
    batch_rows = batch_rows or CHUNK_ROWS
    state = previous_state(manifest, source_uri, clip_rows(clips))
    tree = TreeIndex(scan_tree(root), hashes_like=state)
    kept: list[pa.Table] = []
    missing = 0
    pool = pa.default_memory_pool()
    for batch in clip_batches(clips, PLAN_COLUMNS, batch_rows):
        batch = _as_plan_batch(batch)
        src, kind, pair = (batch.column(c).combine_chunks() for c in ("source", "source_kind", "pair_source"))
        n = batch.num_rows
        pair_rows = np.flatnonzero(np.asarray(pair.is_valid()))
        # occurrences in write order: row r's source, then its pair source (of the row's kind)
        occ = pa.concat_arrays([src, pair.take(pa.array(pair_rows))]) if len(pair_rows) else src
        occ_kind = pa.concat_arrays([kind, kind.take(pa.array(pair_rows))]) if len(pair_rows) else kind
        h = state.hash(occ)
        order = np.argsort(np.concatenate([2 * np.arange(n), 2 * pair_rows + 1]), kind="stable")
        pos = state.find(h)
        fresh = pos < 0
        fresh[~fresh] = (state.get(pos[~fresh]) & SEEN) == 0
        if fresh.any():     # sources met for the first time: the first occurrence (write order) decides
            cand = order[fresh[order]]
            _, first = np.unique(h[cand], return_index=True)
            new = cand[np.sort(first)]                  # each new source once, in write order
            gone = tree.certainly_missing(occ.take(pa.array(new)), occ_kind.take(pa.array(new)), h[new])
            bits = (SEEN | np.where(gone, GONE, 0)).astype(np.uint8)
            old = pos[new] >= 0
            recorded = np.zeros(len(new), dtype=bool)
            if old.any():
                prev = state.get(pos[new[old]])
                recorded[old] = (prev & RECORDED) != 0
                state.set(pos[new[old]], prev | bits[old])
            state.insert(h[new[~old]], bits[~old])
            missing += int(gone.sum())
            write_at = new[gone & ~recorded]
            if len(write_at):
                write(missing_rows(pa.table({"source": occ.take(pa.array(write_at)),
                                             "source_kind": occ_kind.take(pa.array(write_at))}), root, source_uri))
        occ_gone = (state.get(state.find(h)) & GONE) != 0
        src_gone = occ_gone[:n]
        pair_gone = np.zeros(n, dtype=bool)
        pair_gone[pair_rows] = occ_gone[n:]
        part = _remaining(batch, src_gone, pair_gone, pair_rows)
        if part.num_rows:
            kept.append(part)
        pool.release_unused()       # the batch's buffers go back to the system, not to a growing cache
    remaining = pa.concat_tables(kept) if kept else _as_plan_batch(pa.table({})).slice(0, 0)
    return BulkResult(missing=missing, remaining=remaining)


def _as_plan_batch(batch: pa.Table) -> pa.Table:
    """A batch with every plan column (nulls for absent optional ones)."""
    fields = [CLIP_SCHEMA.field(c) for c in PLAN_COLUMNS]
    return pa.Table.from_arrays([batch.column(f.name).cast(f.type) if f.name in batch.column_names
                                 else pa.nulls(batch.num_rows, f.type) for f in fields], schema=pa.schema(fields))


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


def _remaining(t: pa.Table, src_gone: np.ndarray, pair_gone: np.ndarray, pair_rows: np.ndarray) -> pa.Table:
    """Clip rows still needing the per-item path, in order: a missing pair source is dropped from
    its row, a row whose own source is missing keeps only its pair source (as its source)."""
    has_pair = np.zeros(t.num_rows, dtype=bool)
    has_pair[pair_rows] = True
    swap = src_gone & has_pair & ~pair_gone
    keep = ~src_gone | swap
    drop_pair = pair_gone | swap
    if not swap.any() and not drop_pair.any():
        return t.filter(pa.array(keep)) if not keep.all() else t
    cols = {n: t.column(n).combine_chunks() for n in t.column_names}
    swap_a = pa.array(swap)
    cols["source"] = pc.if_else(swap_a, cols["pair_source"], cols["source"])
    cols["start"] = pc.if_else(swap_a, cols["pair_start"], cols["start"])
    cols["end"] = pc.if_else(swap_a, cols["pair_end"], cols["end"])
    for c in ("pair_source", "pair_start", "pair_end"):
        cols[c] = pc.if_else(pa.array(drop_pair), pa.nulls(t.num_rows, cols[c].type), cols[c])
    return pa.table(cols, schema=t.schema).filter(pa.array(keep))
