"""Resumable per-item manifests: a status and an error code for every item a stage touches.

A manifest is a directory (``extract_manifest.parquet/``) that a stage appends to as work finishes,
durably per item and without a file per item (the files: ``avdata.manifest.layout``):

- ``ManifestWriter.flush()`` appends the buffered rows as one record batch to the run's journal (an
  Arrow IPC stream) and hands them to the OS: a SIGKILL after ``flush`` loses none of them. Stages
  call ``write_many(rows)`` then ``flush()`` after every finished item.
- The journal becomes a large Parquet part every ``journal_rows`` rows and at ``close``; a writer
  opening a directory with more than ``max_files`` files merges them into one part (with ``keys``:
  only the latest row per key), so a directory stays small across many runs. Each step is atomic
  and safe to kill: a part names the files it replaces, and readers skip those.
- ``read_manifest`` reads parts and journals (a torn last journal record is ignored) in write
  order, with a ``_seq`` column; ``latest`` keeps the last row per key, so a rerun's rows win.
  Today's and older layouts (``part-*.parquet`` only, or one Parquet file) read the same way.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.manifest import layout

STATUS_OK = "ok"
SEQ_COLUMN = "_seq"


class ManifestWriter:
    """Append rows to a manifest directory: buffered by ``write``, durable at ``flush``.

    ``write`` flushes by itself every ``flush_rows`` rows or ``flush_seconds`` seconds; stages
    that need per-item durability call ``flush()`` after each item (a cheap append). ``keys``
    (optional) lets merges keep only the latest row per key. ``fsync`` adds a disk sync per flush
    (power-loss safety; a kill is survived without it). Use as a context manager.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        keys: Sequence[str] | None = None,
        flush_rows: int = 256,
        flush_seconds: float = 5.0,
        journal_rows: int = 1 << 23,
        max_files: int = 16,
        fsync: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.keys = tuple(keys) if keys else None
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.journal_rows = journal_rows
        self.fsync = fsync
        self._rows: list[Mapping[str, Any]] = []
        self._last_flush = time.monotonic()
        self._run = f"{time.time_ns():020d}-{secrets.token_hex(3)}"
        self._seq = 0
        self._journal: tuple[Path, IO[bytes], pa.RecordBatchStreamWriter] | None = None
        self._journal_count = 0
        layout.tidy(self.directory, schema, self.keys, max_files)

    def write(self, row: Mapping[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def write_table(self, table: pa.Table) -> None:
        """Append a whole table of rows (in the writer's schema) after the rows written before
        it, durably: the bulk path (record batches of the journal, no Python object per row)."""
        self.flush()
        if not table.num_rows:
            return
        table = table.select(self.schema.names).cast(self.schema)
        for batch in table.to_batches(max_chunksize=layout.BATCH_ROWS):
            self._append(batch)

    def flush(self) -> None:
        """Make every row written so far durable (one journal record)."""
        self._last_flush = time.monotonic()
        if not self._rows:
            return
        columns = {f.name: [r.get(f.name) for r in self._rows] for f in self.schema}
        batch = pa.RecordBatch.from_pydict(columns, schema=self.schema)
        self._rows = []
        self._append(batch)

    def _append(self, batch: pa.RecordBatch) -> None:
        """One durable journal record; the journal becomes a part when it is big enough."""
        path, fh, stream = self._open_journal()
        stream.write_batch(batch)
        fh.flush()
        if self.fsync:
            os.fsync(fh.fileno())
        self._journal_count += batch.num_rows
        if self._journal_count >= self.journal_rows:
            self._close_journal()

    def _name(self, ext: str) -> str:
        return f"{layout.PREFIX}{self._run}-{self._seq:06d}{ext}"

    def _open_journal(self) -> tuple[Path, IO[bytes], pa.RecordBatchStreamWriter]:
        if self._journal is None:
            path = self.directory / self._name(layout.JOURNAL_EXT)
            fh = open(path, "xb", buffering=0)  # noqa: SIM115  (closed in _close_journal)
            layout.try_lock(fh.fileno())
            self._journal = (path, fh, pa.ipc.new_stream(fh, self.schema))
            self._journal_count = 0
        return self._journal

    def _close_journal(self) -> None:
        """Turn the journal into a Parquet part (which replaces it), then delete it."""
        if self._journal is None:
            return
        path, fh, stream = self._journal
        self._journal = None
        try:
            stream.close()
            unique = self.keys is not None and layout.keys_are_unique(path, self.keys)
            layout.write_part(self.directory, self._name(layout.PART_EXT), layout.iter_file(path),
                              self.schema, [path.name], latest_by=self.keys if unique else None)
        finally:
            fh.close()            # on failure the journal stays: readers and the next writer use it
        layout.unlink_quietly([path])
        self._seq += 1

    def close(self) -> None:
        self.flush()
        self._close_journal()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def manifest_parts(directory: str | os.PathLike[str]) -> list[Path]:
    """The data files (Parquet parts and journals) a reader uses, in write order."""
    return layout.live_files(Path(directory))[0]


def manifest_columns(directory: str | os.PathLike[str]) -> set[str]:
    """The column names any data file of a manifest holds (from footers and stream headers)."""
    names: set[str] = set()
    for p in manifest_parts(directory):
        names |= set(layout.file_columns(p))
    return names


def read_manifest(directory: str | os.PathLike[str], schema: pa.Schema | None = None,
                  columns: Sequence[str] | None = None) -> pa.Table:
    """All rows of a manifest in write order, with a ``_seq`` column giving that order.

    Returns an empty table (with ``schema`` if given) when the manifest does not exist yet.
    ``columns``: read only these columns (of the schema, when given; without a schema, those
    each file has).
    """
    if schema is not None and columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    files = manifest_parts(directory)
    if schema is None:
        tables = [t for t in (layout.read_file(p, columns) for p in files) if t.num_columns]
    else:
        tables = [layout.fill(layout.read_file(p, schema.names), schema) for p in files]
    if not tables:
        base = schema.empty_table() if schema is not None else pa.table({})
        return base.append_column(SEQ_COLUMN, pa.array([], pa.int64()))
    table = pa.concat_tables(tables, promote_options="default")
    if schema is not None:
        table = table.replace_schema_metadata(schema.metadata)
    return table.append_column(SEQ_COLUMN, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def iter_manifest(directory: str | os.PathLike[str], schema: pa.Schema, columns: Sequence[str] | None = None,
                  batch_rows: int = layout.BATCH_ROWS) -> Iterator[pa.Table]:
    """Every row of a manifest in write order, a batch at a time, in ``schema`` (only ``columns``):
    for a streaming pass (e.g. the latest state per key kept in an ``avdata.keyset.KeySet``) over
    a manifest too big to read whole. A later row of a key replaces an earlier one."""
    sub = pa.schema([schema.field(c) for c in columns]) if columns is not None else schema
    for path in manifest_parts(directory):
        for t in layout.iter_file(path, sub.names, batch_rows):
            if t.num_rows:
                yield layout.fill(t, sub)


def _read_only(path: Path, names: Sequence[str], sub: pa.Schema, key: str, only: pa.Array) -> pa.Table:
    """A data file's rows whose ``key`` is one of ``only``, read a batch at a time."""
    kept = [t.filter(pc.fill_null(pc.is_in(t.column(key), value_set=only), False))
            for t in (layout.fill(b, sub) for b in layout.iter_file(path, names))]
    return pa.concat_tables(kept) if kept else sub.empty_table()


def read_latest(directory: str | os.PathLike[str], schema: pa.Schema, keys: Sequence[str],
                columns: Sequence[str] | None = None, *, only: pa.Array | None = None) -> pa.Table:
    """``latest(read_manifest(directory, schema, columns), keys)``, faster on big manifests: file by
    file from the newest, each file's rows deduplicated (not at all for parts known to hold one
    row per key) and dropped when a newer file has their key. The usual big manifest (one large
    part, small newer ones) costs one probe of the large part's keys into a small set.

    ``only``: keep only the rows whose first key is one of these values, filtered as each file is
    read a batch at a time (the few keys a stage still works on, out of a huge manifest)."""
    names = list(dict.fromkeys([*keys, *(columns or schema.names)]))
    sub = pa.schema([schema.field(c) for c in names])
    kept: list[pa.Table] = []
    newer: list[pa.Table] = []          # key columns of the rows kept from newer files
    files = manifest_parts(directory)
    if only is not None:
        only = pa.chunked_array([only]).combine_chunks().cast(sub.field(keys[0]).type)
    for i, path in enumerate(reversed(files)):
        t = (layout.fill(layout.read_file(path, names), sub) if only is None
             else _read_only(path, names, sub, keys[0], only))
        if layout.unique_keys(path) != list(keys):
            t = latest(t, keys)
            t = t.drop_columns([SEQ_COLUMN]) if SEQ_COLUMN in t.column_names else t
        if newer:
            t = t.filter(pc.invert(_in_newer(t, pa.concat_tables(newer), keys)))
        if i < len(files) - 1:
            newer.append(t.select(list(keys)))
        kept.append(t)
    if not kept:
        return read_manifest(directory, schema, names) if only is None else \
            sub.empty_table().append_column(SEQ_COLUMN, pa.array([], pa.int64()))
    table = pa.concat_tables(list(reversed(kept))) if len(kept) > 1 else kept[0]
    if columns is not None:
        table = table.select(list(columns))
    return table.append_column(SEQ_COLUMN, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def _in_newer(t: pa.Table, newer: pa.Table, keys: Sequence[str]) -> pa.Array:
    """Which rows of ``t`` have a key that ``newer`` holds: the first key column probed first, the
    whole key built only for the rows that match it."""
    first = pc.is_in(t.column(keys[0]), value_set=newer.column(keys[0]).combine_chunks())
    first = pc.fill_null(first, False)
    if len(keys) == 1 or not pc.any(first).as_py():
        return first
    cand = np.flatnonzero(np.asarray(first))
    hit = pc.is_in(_key_column(t.take(pa.array(cand)), keys), value_set=_key_column(newer, keys))
    mask = np.zeros(t.num_rows, dtype=bool)
    mask[cand[np.asarray(pc.fill_null(hit, False))]] = True
    return pa.array(mask)


def _key_column(t: pa.Table, keys: Sequence[str]) -> pa.Array:
    """One array naming each row's key (the column itself for one key)."""
    if len(keys) == 1:
        return t.column(keys[0]).combine_chunks()
    cols = [pc.fill_null(t.column(k).combine_chunks().cast(pa.string()), "\x01") for k in keys]
    return pc.binary_join_element_wise(*cols, "\x00")


def latest(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Keep the last row (highest ``_seq``, or last position) for each distinct key tuple.

    Cheap in the common case: when every key is distinct the table comes back as it is (no copy),
    and a table already in write order is not sorted again. One hash pass over the keys, then a
    numpy mask: a few seconds for millions of rows.
    """
    n = table.num_rows
    if n == 0:
        return table
    if SEQ_COLUMN not in table.column_names:
        table = table.append_column(SEQ_COLUMN, pa.array(np.arange(n, dtype=np.int64)))
    if not _in_order(table):
        table = table.sort_by(SEQ_COLUMN)
    positions = pa.array(np.arange(n, dtype=np.int64))
    last = table.select(list(keys)).append_column("_pos", positions).group_by(
        list(keys), use_threads=False).aggregate([("_pos", "max")])
    if last.num_rows == n:
        return table
    keep = np.zeros(n, dtype=bool)
    keep[last.column("_pos_max").to_numpy()] = True
    return table.filter(pa.array(keep))


def _in_order(table: pa.Table) -> bool:
    seq = table.column(SEQ_COLUMN)
    if len(seq) < 2:
        return True
    return bool(pc.all(pc.greater(seq.slice(1), seq.slice(0, len(seq) - 1))).as_py())


def compact(directory: str | os.PathLike[str], keys: Sequence[str], schema: pa.Schema | None = None) -> pa.Table:
    """Rewrite a manifest as one part holding only the latest row per key; return that table."""
    d = Path(directory)
    files, replaced = layout.live_files(d)
    if schema is None:
        tables = [layout.read_file(p) for p in files]
        schema = pa.unify_schemas([t.schema for t in tables if t.num_columns]) if files else pa.schema([])
    if files:
        layout.merge(d, files, schema.remove_metadata(), replaced, keys)
    return latest(read_manifest(d, schema), keys)


def status_counts(table: pa.Table, column: str = "status") -> dict[str, int]:
    """Counts of each value of ``column``, largest first."""
    if table.num_rows == 0:
        return {}
    counts = pc.value_counts(table.column(column)).to_pylist()
    pairs = sorted(((c["values"], c["counts"]) for c in counts), key=lambda x: (-x[1], str(x[0])))
    return {str(k): int(v) for k, v in pairs}


def write_changed(directory: str | os.PathLike[str], schema: pa.Schema, keys: Sequence[str],
                  rows: Sequence[Mapping[str, Any]], ignore: Sequence[str] = ("finished_at", "seconds")) -> int:
    """Append only the ``rows`` whose key has no latest row yet or whose latest row differs (columns
    in ``ignore`` aside): a stage that records its whole result on every run does not grow its
    manifest on a rerun that changes nothing. Returns how many rows were written."""
    old = latest(read_manifest(directory, schema), keys).to_pylist() if Path(directory).exists() else []
    seen = {tuple(r[k] for k in keys): r for r in old}
    compare = [f.name for f in schema if f.name not in ignore]

    def same(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> bool:
        return a is not None and all(a.get(c) == b.get(c) for c in compare)

    new = [r for r in rows if not same(seen.get(tuple(r[k] for k in keys)), r)]
    with ManifestWriter(directory, schema, keys=keys) as writer:
        writer.write_many(new)
        writer.flush()
    return len(new)
