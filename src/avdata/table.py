"""The clip table: the one internal table that flows between stages (Arrow schema, Parquet file).

One row per clip (a segment of one source video). Published list formats are imports and exports
of this table (see ``avdata.sources``). Columns, in order:

==============  =================  ==========================================================
column          type               meaning
==============  =================  ==========================================================
clip_id         string             unique within the table; file-name safe; used as ``{id}`` in
                                   media file names and as ``id`` in index files. AudioSet and
                                   AudioCaps: the YouTube id (``{ytid}_{start_ms}`` for a repeat
                                   of the same id in one table)
source          string             YouTube id, or a video path relative to a video root
source_kind     string             ``youtube`` or ``path``
start           float64            clip start, seconds in the source video
end             float64            clip end, seconds in the source video (> start)
labels          list<string>       ontology ids, in file order (empty when the list has none)
captions        list<string>       captions in file order (AudioCaps), else empty
dataset         string             ``audioset``, ``audiocaps``, ``audioscope``, ``audioscope_v2``,
                                   ``mixit_yfcc``
split           string             e.g. ``eval``, ``balanced_train``, ``unbalanced_train``,
                                   ``train``, ``validate``, ``val``, ``test``
annotation      string (null)      human-label subset, e.g. ``onscreen_unanimous``,
                                   ``offscreen_unanimous``; null when none
filtered        bool (null)        AudioScope coincidence-score filtering; null when not stated
origin_file     string             the file the row was read from (as given)
origin_line     int64              1-based line number in that file
pair_source     string (null)      mixture-of-mixtures: the second clip's source
pair_start      float64 (null)     ... its start
pair_end        float64 (null)     ... its end
offset          float64 (null)     MixIT YFCC lists: output offset of the (first) clip
pair_offset     float64 (null)     MixIT YFCC MoM lists: output offset of the second clip
==============  =================  ==========================================================

Later stages may add columns of their own after these (for example ``chunk_dir``); readers keep
unknown columns, and ``conform`` fills missing optional ones with nulls.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from avdata.atomic import atomic_path
from avdata.errors import SchemaError
from avdata.parquet_layout import as_dictionary, dictionary_schema, mostly_distinct, parquet_options

CLIP_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_kind", pa.string(), nullable=False),
        pa.field("start", pa.float64(), nullable=False),
        pa.field("end", pa.float64(), nullable=False),
        pa.field("labels", pa.list_(pa.string()), nullable=False),
        pa.field("captions", pa.list_(pa.string()), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("annotation", pa.string()),
        pa.field("filtered", pa.bool_()),
        pa.field("origin_file", pa.string(), nullable=False),
        pa.field("origin_line", pa.int64(), nullable=False),
        pa.field("pair_source", pa.string()),
        pa.field("pair_start", pa.float64()),
        pa.field("pair_end", pa.float64()),
        pa.field("offset", pa.float64()),
        pa.field("pair_offset", pa.float64()),
    ],
    metadata={b"avdata.table": b"clips", b"avdata.table_version": b"1"},
)

REQUIRED_COLUMNS = tuple(f.name for f in CLIP_SCHEMA if not f.nullable)
SOURCE_KINDS = ("youtube", "path")


def empty_clips() -> pa.Table:
    """An empty clip table with the full schema."""
    return CLIP_SCHEMA.empty_table()


def _default(field: pa.Field) -> Any:
    if pa.types.is_list(field.type):
        return []
    return None


def clips_from_records(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build a clip table from dicts; optional columns may be omitted, list columns default to []."""
    rows = list(records)
    columns = {}
    for field in CLIP_SCHEMA:
        columns[field.name] = [r.get(field.name, _default(field)) for r in rows]
    missing = [
        name for name in REQUIRED_COLUMNS
        if any(v is None for v in columns[name]) and not pa.types.is_list(CLIP_SCHEMA.field(name).type)
    ]
    if missing:
        raise SchemaError(f"clip records lack required values for: {', '.join(missing)}")
    return pa.table(columns, schema=CLIP_SCHEMA)


def conform(table: pa.Table) -> pa.Table:
    """Return ``table`` with the clip schema's columns first (cast, nulls for absent optional ones)
    and any extra per-stage columns after them. Raise SchemaError if a required column is absent."""
    absent = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if absent:
        raise SchemaError(f"clip table lacks required column(s): {', '.join(absent)}")
    arrays, fields = [], []
    for field in CLIP_SCHEMA:
        if field.name in table.column_names:
            col = table.column(field.name)
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise SchemaError(f"column {field.name!r} cannot be read as {field.type}") from e
        else:
            col = pa.nulls(table.num_rows, field.type)
        arrays.append(col)
        fields.append(field)
    for name in table.column_names:
        if CLIP_SCHEMA.get_field_index(name) < 0:
            arrays.append(table.column(name))
            fields.append(table.schema.field(name))
    metadata = {**(table.schema.metadata or {}), **CLIP_SCHEMA.metadata}  # keep readers' notes
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))


def write_clips(table: pa.Table, path: str | os.PathLike[str]) -> None:
    """Write a clip table to Parquet atomically."""
    table = conform(table)
    with atomic_path(path) as tmp:
        pq.write_table(table, os.path.abspath(tmp), **parquet_options(table.schema, mostly_distinct(table)))


class ClipTableWriter:
    """Write a clip table to Parquet block by block (a row group every ``row_group_rows`` rows), so
    that the whole table is never in memory; the file appears under its final name only when ``close`` succeeds.

    Every block must have the columns of ``schema`` (default: the clip schema). The schema metadata
    of the file is ``schema``'s, updated by ``update_metadata`` (e.g. with notes only known once the
    last block is read), so ``read_clips`` of the file equals ``write_clips`` of the whole table.

    Encodings follow ``avdata.parquet_layout``: chosen when the first row group is known (ids
    unique on nearly every row are not dictionary-encoded), and columns with few values reach
    Parquet dictionary-encoded already; the file's Arrow schema is ``schema`` all the same.

    Row groups are encoded and written on a background thread (pyarrow releases the GIL there), at
    most ``queue_groups`` waiting, so the caller keeps producing blocks meanwhile; an error of the
    writer thread is raised by the next ``write`` or by ``close``. What is still queued when the
    caller is done is written alone at ``close``, hence row groups of 128 Ki rows (not larger) and
    one waiting group.
    """

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema = CLIP_SCHEMA, *,
                 row_group_rows: int = 128 * 1024, queue_groups: int = 1) -> None:
        self.path = Path(path)
        self.schema = schema
        self.metadata: dict[bytes, bytes] = dict(schema.metadata or {})
        self.rows = 0
        self.row_group_rows = row_group_rows
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._sink = pa.OSFile(str(tmp), "wb")
        except BaseException as e:
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise
        self._write_schema = dictionary_schema(schema)
        self._writer: pq.ParquetWriter | None = None    # opened on the first row group
        self._queue: queue.Queue[list[pa.Table] | None] = queue.Queue(max(1, queue_groups))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_groups, name="clip-table-writer", daemon=True)
        self._thread.start()

    def _write_groups(self) -> None:
        """The writer thread: one row group per queued list of blocks until ``None``; after an
        error, keep draining the queue so the producer never blocks."""
        while (blocks := self._queue.get()) is not None:
            if self._error is None:
                try:
                    table = pa.concat_tables(blocks)
                    writer = self._open(table)
                    writer.write_table(self._for_parquet(table), row_group_size=max(table.num_rows, 1))
                except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                    self._error = e

    def _open(self, first: pa.Table | None) -> pq.ParquetWriter:
        """The Parquet writer, opened with encodings suited to the ``first`` row group."""
        if self._writer is None:
            unique = mostly_distinct(first) if first is not None else ()
            self._writer = pq.ParquetWriter(self._sink, self._write_schema, **parquet_options(self.schema, unique))
        return self._writer

    def _for_parquet(self, table: pa.Table) -> pa.Table:
        """``table`` in the writer's schema (few-value columns dictionary-encoded); a table of
        other columns or types is left as it is, for the Parquet writer to refuse."""
        if not table.schema.equals(self.schema):
            return table
        arrays = [as_dictionary(table.column(f.name), f.type.value_type) if pa.types.is_dictionary(f.type)
                  else table.column(f.name) for f in self._write_schema]
        return pa.Table.from_arrays(arrays, schema=self._write_schema)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, block: pa.Table) -> None:
        """Append ``block`` (conformed to the schema). Blocks are gathered into row groups of about
        ``row_group_rows`` rows (few large row groups write faster than many small ones)."""
        self._check()
        if block.num_rows:
            self._pending.append(conform(block).replace_schema_metadata(self.schema.metadata))
            self._pending_rows += block.num_rows
            self.rows += block.num_rows
            if self._pending_rows >= self.row_group_rows:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._queue.put(self._pending)
            self._pending, self._pending_rows = [], 0

    def _join(self) -> None:
        """Let the writer thread finish what is queued and stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def update_metadata(self, metadata: Mapping[bytes, bytes]) -> None:
        """Merge ``metadata`` into the file's schema metadata (later values win)."""
        self.metadata.update(metadata)

    def close(self) -> None:
        """Finish the file and move it to its final name."""
        self._flush()
        self._join()
        self._check()
        final = self.schema.with_metadata(self.metadata)
        arrow_schema = base64.b64encode(final.serialize().to_pybytes()).decode()
        # Arrow readers take the schema (and its metadata) from the ARROW:schema entry.
        writer = self._open(None)
        writer.add_key_value_metadata({**{k.decode(): v.decode() for k, v in self.metadata.items()},
                                       "ARROW:schema": arrow_schema})
        writer.close()
        self._sink.close()
        self._atomic.__exit__(None, None, None)

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop the temporary file."""
        self._pending = []
        self._error = self._error or RuntimeError("aborted")   # the thread skips what is queued
        self._join()
        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        with contextlib.suppress(Exception):
            self._sink.close()
        exc = exc or RuntimeError("aborted")
        with contextlib.suppress(type(exc)):
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> ClipTableWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)


def read_clips(path: str | os.PathLike[str]) -> pa.Table:
    """Read a clip table written by ``write_clips`` (or any Parquet file with the required columns)."""
    try:
        table = pq.read_table(os.path.abspath(path))    # absolute: never taken for a URI (``a:/x``)
    except (OSError, pa.ArrowInvalid) as e:
        raise SchemaError(f"{path}: not a readable Parquet clip table ({e})") from e
    try:
        return conform(table)
    except SchemaError as e:
        raise SchemaError(f"{path}: {e}") from e


STREAM_BUFFER = 1 << 20      # bytes read at a time from a column chunk when streaming


def iter_clips(path: str | os.PathLike[str], columns: Sequence[str], batch_rows: int) -> Iterator[pa.Table]:
    """The clip table in ``path`` a batch of at most ``batch_rows`` rows at a time, in order, with
    only ``columns`` (cast to the clip schema; nulls for an absent optional one): for stages that
    stream a table too large to hold whole."""
    try:    # read a page at a time, not whole row groups: memory follows ``batch_rows``
        parquet = pq.ParquetFile(os.path.abspath(path), pre_buffer=False, buffer_size=STREAM_BUFFER)
    except (OSError, pa.ArrowInvalid) as e:
        raise SchemaError(f"{path}: not a readable Parquet clip table ({e})") from e
    names = parquet.schema_arrow.names
    absent = [c for c in columns if c not in names and c in REQUIRED_COLUMNS]
    if absent:
        raise SchemaError(f"{path}: clip table lacks required column(s): {', '.join(absent)}")
    fields = [CLIP_SCHEMA.field(c) if CLIP_SCHEMA.get_field_index(c) >= 0 else parquet.schema_arrow.field(c)
              for c in columns]          # a stage's own columns keep the file's type
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=[c for c in columns if c in names]):
        arrays = []
        for f in fields:
            if f.name not in names:
                arrays.append(pa.nulls(batch.num_rows, f.type))
                continue
            try:
                arrays.append(batch.column(f.name).cast(f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise SchemaError(f"{path}: column {f.name!r} cannot be read as {f.type}") from e
        yield pa.Table.from_arrays(arrays, schema=pa.schema(fields))
