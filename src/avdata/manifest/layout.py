"""The files of a manifest directory: Parquet parts, Arrow IPC journals, and how they are merged.

Every data file is named ``part-{run}-{seq}[-m{n}].{parquet|arrows}``; the name without ``part-``
and the extension orders the files in write order (a run id starts with its start time in ns).

- ``.arrows``: a run's **journal**, an Arrow IPC stream. Each ``flush`` appends one record batch and
  hands it to the OS, so a SIGKILL loses nothing flushed. A torn last record (a kill while writing)
  is ignored by readers. A live writer holds an exclusive ``flock`` on its journal.
- ``.parquet``: a **part**, written atomically (temp name, then rename). A part made from other
  files (a journal when it is closed, or many files merged) names them in its footer metadata
  (``avdata.replaces``); readers skip replaced files, so a kill between writing the part and
  deleting its inputs neither loses nor doubles a row. ``tidy`` deletes replaced files later.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from avdata.atomic import atomic_path
from avdata.errors import SchemaError
from avdata.keyset import KeySet

PREFIX = "part-"
PART_EXT = ".parquet"
JOURNAL_EXT = ".arrows"
REPLACES_KEY = b"avdata.replaces"
LATEST_KEY = b"avdata.latest_by"    # a part holding one row per key (a merge with keys)
BATCH_ROWS = 1 << 16
PART_ROW_GROUP = 1 << 16          # rows per row group of a part (a page-sized read unit)


def order_key(path: Path) -> str:
    """Write-order key of a data file: its name without ``part-`` and the extension."""
    return path.name[len(PREFIX):].split(".", 1)[0]


def data_files(directory: Path) -> list[Path]:
    """All parts and journals of a manifest directory in write order (replaced ones included)."""
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir()
             if p.name.startswith(PREFIX) and p.name.endswith((PART_EXT, JOURNAL_EXT)) and p.is_file()]
    return sorted(found, key=lambda p: (order_key(p), p.suffix != JOURNAL_EXT))


def part_metadata(path: Path) -> dict[bytes, bytes]:
    """A part's footer key-value metadata (empty for unreadable or foreign parts)."""
    try:
        return dict(pq.read_metadata(path).metadata or {})
    except (OSError, pa.ArrowException):
        return {}


def replaced_names(path: Path) -> set[str]:
    meta = part_metadata(path)
    return set(json.loads(meta[REPLACES_KEY])) if REPLACES_KEY in meta else set()


def unique_keys(path: Path) -> list[str] | None:
    """The keys a part holds one row per (``avdata.latest_by``), or None."""
    if path.suffix != PART_EXT:
        return None
    meta = part_metadata(path)
    return json.loads(meta[LATEST_KEY]) if LATEST_KEY in meta else None


def keys_are_unique(path: Path, keys: Sequence[str]) -> bool:
    """Does a journal hold at most one row per key? (Its keys' 96-bit keyed hashes, streamed a
    record at a time into one array, sorted once: 16 bytes a row, however long the keys.)"""
    hasher = KeySet()
    found = np.empty(path.stat().st_size // 16, dtype=np.complex128)   # pages not yet used cost nothing
    rows = 0
    for t in iter_file(path, keys):
        if not all(k in t.column_names for k in keys):
            return False
        h = hasher.hash(*(t.column(k) for k in keys))
        if rows + len(h) > len(found):
            found = np.concatenate([found[:rows], np.empty(max(len(h), rows // 2), dtype=np.complex128)])
        found[rows:rows + len(h)] = h
        rows += len(h)
    if rows == 0:
        return False
    found = found[:rows]
    found.sort()
    return not bool((found[1:] == found[:-1]).any())


def live_files(directory: Path) -> tuple[list[Path], set[str]]:
    """(the data files a reader uses, in write order; the names of files replaced by a part)."""
    files = data_files(directory)
    replaced: set[str] = set()
    for p in files:
        if p.suffix == PART_EXT:
            replaced |= replaced_names(p)
    return [p for p in files if p.name not in replaced], replaced


def read_journal(path: Path, columns: Sequence[str] | None = None) -> tuple[pa.Schema | None, list[pa.RecordBatch]]:
    """The whole record batches of a journal; a torn tail (or a torn header) is ignored."""
    batches: list[pa.RecordBatch] = []
    try:
        reader = pa.ipc.open_stream(pa.OSFile(str(path)))
    except (OSError, pa.ArrowException):
        return None, batches
    schema = reader.schema
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (OSError, pa.ArrowException):
            break                       # torn last record of a killed run
        batches.append(batch.select(list(columns)) if columns is not None else batch)
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    return schema, batches


def file_columns(path: Path) -> list[str]:
    """The column names of a data file (a part's footer or a journal's header)."""
    try:
        if path.suffix == JOURNAL_EXT:
            return pa.ipc.open_stream(pa.OSFile(str(path))).schema.names
        return pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        return []


def iter_file(path: Path, names: Sequence[str] | None = None, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """The columns ``names`` (those it has; all when None) of one data file, ``batch_rows`` rows at
    a time (a journal's records, often one row each, are gathered into batches of that size)."""
    if path.suffix == JOURNAL_EXT:
        try:
            reader = pa.ipc.open_stream(pa.OSFile(str(path)))
        except (OSError, pa.ArrowException):
            return
        cols = [n for n in names if n in reader.schema.names] if names is not None else list(reader.schema.names)
        pending: list[pa.RecordBatch] = []
        count = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except (StopIteration, OSError, pa.ArrowException):
                break                   # the end, or the torn last record of a killed run
            pending.append(batch.select(cols))
            count += batch.num_rows
            if count >= batch_rows:
                yield pa.Table.from_batches(pending).combine_chunks()
                pending, count = [], 0
        if pending:
            yield pa.Table.from_batches(pending).combine_chunks()
        return
    try:    # a page at a time, not whole row groups: memory follows ``batch_rows``
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        have = parquet.schema_arrow.names
        cols = [n for n in names if n in have] if names is not None else list(have)
        schema = pa.schema([parquet.schema_arrow.field(n) for n in cols])
        batches = parquet.iter_batches(batch_size=batch_rows, columns=cols)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            yield pa.Table.from_batches([batch], schema=schema)
    except (pa.ArrowException, OSError) as e:     # not Parquet (a user's file, a damaged part)
        raise SchemaError(f"{path}: not a readable manifest ({' '.join(str(e).split())})") from e


def read_file(path: Path, names: Sequence[str] | None = None) -> pa.Table:
    """The columns ``names`` (those it has; all when None) of one data file."""
    if path.suffix == JOURNAL_EXT:
        try:
            have = pa.ipc.open_stream(pa.OSFile(str(path))).schema.names
        except (OSError, pa.ArrowException):
            return pa.table({})
        cols = [n for n in names if n in have] if names is not None else list(have)
        schema, batches = read_journal(path, cols)
        return pa.Table.from_batches(batches, schema=schema) if schema is not None else pa.table({})
    try:
        parquet = pq.ParquetFile(path)
        have = parquet.schema_arrow.names
        cols = [n for n in names if n in have] if names is not None else list(have)
        schema = pa.schema([parquet.schema_arrow.field(n) for n in cols])
        return pa.Table.from_batches(list(parquet.iter_batches(batch_size=BATCH_ROWS, columns=cols)),
                                     schema=schema)
    except (pa.ArrowException, OSError) as e:     # not Parquet (a user's file, a damaged part)
        raise SchemaError(f"{path}: not a readable manifest ({' '.join(str(e).split())})") from e


def fill(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` in ``schema``: missing columns as nulls, others cast."""
    try:
        arrays = [table.column(f.name).cast(f.type) if f.name in table.column_names
                  else pa.nulls(table.num_rows, f.type) for f in schema]
    except pa.ArrowException as e:                 # a column of another type: not this manifest
        raise SchemaError(f"manifest columns do not match {', '.join(schema.names)} "
                          f"({' '.join(str(e).split())})") from e
    return pa.Table.from_arrays(arrays, schema=schema)


def try_lock(fh: int) -> bool:
    """Take an exclusive non-blocking lock on an open file; False when another process holds it."""
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def is_live(path: Path) -> bool:
    """Is a journal held by a running writer?"""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        if try_lock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


def write_part(directory: Path, name: str, tables: Iterator[pa.Table], schema: pa.Schema,
               replaces: Sequence[str], latest_by: Sequence[str] | None = None) -> Path:
    """Stream ``tables`` into one part atomically, naming the files it ``replaces`` in its footer."""
    meta = dict(schema.metadata or {})
    meta[REPLACES_KEY] = json.dumps(sorted(replaces)).encode()
    if latest_by:
        meta[LATEST_KEY] = json.dumps(list(latest_by)).encode()
    schema = schema.with_metadata(meta)
    final = directory / name
    with atomic_path(final) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            pending: list[pa.Table] = []
            count = 0
            for t in tables:            # small tables gathered: row groups of PART_ROW_GROUP rows
                if t.num_rows:
                    pending.append(t.cast(schema))
                    count += t.num_rows
                if count >= PART_ROW_GROUP:
                    writer.write_table(pa.concat_tables(pending), row_group_size=PART_ROW_GROUP)
                    pending, count = [], 0
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=PART_ROW_GROUP)
    return final


def unlink_quietly(paths: Sequence[Path]) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def merged_name(last: Path) -> str:
    """Name of a part that merges files up to ``last``: it sorts where ``last`` sorts."""
    stem = order_key(last).split("-m", 1)[0] if "-m" in order_key(last) else order_key(last)
    return f"{PREFIX}{stem}-m{time.time_ns():020d}{PART_EXT}"


def keep_mask(files: Sequence[Path], keys: Sequence[str]) -> list[pa.Array]:
    """Per file, a boolean mask of the rows that are the latest for their key across all files."""
    tables = [read_file(p, keys) for p in files]
    sizes = [t.num_rows for t in tables]
    usable = [t for t in tables if all(k in t.column_names for k in keys)]
    if len(usable) != len(tables):
        return [pa.array([True] * n) for n in sizes]
    keys_table = pa.concat_tables([t.select(list(keys)).cast(tables[0].select(list(keys)).schema)
                                   for t in tables], promote_options="permissive")
    seq = pa.array(np.arange(keys_table.num_rows, dtype=np.int64))
    last = keys_table.append_column("_seq", seq).group_by(list(keys), use_threads=False).aggregate(
        [("_seq", "max")]).column("_seq_max")
    mask = np.zeros(keys_table.num_rows, dtype=bool)
    mask[last.to_numpy()] = True
    keep = pa.array(mask)
    masks, start = [], 0
    for n in sizes:
        masks.append(keep.slice(start, n))
        start += n
    return masks


def merge(directory: Path, files: Sequence[Path], schema: pa.Schema, replaced: set[str],
          keys: Sequence[str] | None = None) -> Path | None:
    """Merge ``files`` (in write order) into one part that replaces them (and what they replaced),
    keeping only the latest row per key when ``keys`` are given; then delete the inputs.

    Streams file by file; peak memory is one file plus the key columns."""
    if not files:
        return None
    masks = keep_mask(files, keys) if keys else None

    def tables() -> Iterator[pa.Table]:
        for i, p in enumerate(files):
            t = fill(read_file(p, schema.names), schema)
            yield t.filter(masks[i]) if masks is not None else t

    names = {p.name for p in files} | (replaced & {p.name for p in data_files(directory)})
    part = write_part(directory, merged_name(files[-1]), tables(), schema, sorted(names), latest_by=keys)
    unlink_quietly([p for p in files if p != part])
    return part


def tidy(directory: Path, schema: pa.Schema, keys: Sequence[str] | None, max_files: int) -> None:
    """Make a manifest directory small again (a writer does this when it opens one):
    delete files replaced by a part (left by a kill mid-compaction), and when more than
    ``max_files`` data files remain, merge every file not held by a live writer into one part."""
    files, replaced = live_files(directory)
    stale = [directory / n for n in replaced if (directory / n).exists()]
    if stale:
        unlink_quietly(stale)
    if len(files) <= max_files:
        return
    # merge each stretch of idle files (in write order): a live journal between them keeps its place
    groups: list[list[Path]] = [[]]
    for p in files:
        if p.suffix == JOURNAL_EXT and is_live(p):
            groups.append([])
        else:
            groups[-1].append(p)
    for group in groups:
        if len(group) > 1:
            merge(directory, group, schema, replaced, keys)
