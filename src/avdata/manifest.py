"""Resumable per-item manifests: a status and an error code for every item a stage touches.

A manifest is a Parquet *dataset directory* (``extract_manifest.parquet/part-*.parquet``) so that
rows can be appended as work finishes: ``ManifestWriter`` buffers rows and writes each batch as a
new part file atomically. A killed run loses at most the rows not yet flushed; ``read_manifest``
reads all parts (``pyarrow.parquet.read_table`` on the directory works too) and ``latest`` keeps
the last row written for each key, so a rerun's rows supersede earlier ones.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from avdata.atomic import atomic_path
from avdata.errors import SchemaError

STATUS_OK = "ok"
SEQ_COLUMN = "_seq"


class ManifestWriter:
    """Append rows to a manifest directory in atomically written Parquet parts.

    Rows are flushed every ``flush_rows`` rows or ``flush_seconds`` seconds, and on ``close``.
    Use as a context manager.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        flush_rows: int = 256,
        flush_seconds: float = 5.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._rows: list[Mapping[str, Any]] = []
        self._last_flush = time.monotonic()
        self._run = f"{time.time_ns():020d}-{secrets.token_hex(3)}"
        self._part = 0

    def write(self, row: Mapping[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def write_table(self, table: pa.Table) -> None:
        """Append a whole table of rows (in the writer's schema) as one part, after the rows
        written before it."""
        self.flush()
        if table.num_rows:
            self._write_part(table.select(self.schema.names).cast(self.schema))

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._rows:
            return
        columns = {f.name: [r.get(f.name) for r in self._rows] for f in self.schema}
        self._write_part(pa.table(columns, schema=self.schema))
        self._rows = []

    def _write_part(self, table: pa.Table) -> None:
        name = f"part-{self._run}-{self._part:06d}.parquet"
        with atomic_path(self.directory / name) as tmp:
            pq.write_table(table, tmp)
        self._part += 1

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "ManifestWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def manifest_parts(directory: str | os.PathLike[str]) -> list[Path]:
    """The part files of a manifest in write order (run start time, then part number)."""
    d = Path(directory)
    if d.is_file():
        return [d]
    if not d.exists():
        return []
    return sorted(p for p in d.glob("part-*.parquet") if p.is_file())


def read_manifest(directory: str | os.PathLike[str], schema: pa.Schema | None = None,
                  columns: Sequence[str] | None = None) -> pa.Table:
    """All rows of a manifest in write order, with a ``_seq`` column giving that order.

    Returns an empty table (with ``schema`` if given) when the manifest does not exist yet.
    ``columns`` (with ``schema``): read only these columns of the schema.
    """
    if schema is not None and columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    parts = manifest_parts(directory)
    try:
        if schema is None:
            tables = [pq.read_table(p) for p in parts]
        else:
            tables = [_fill(_read_columns(p, schema.names), schema) for p in parts]
    except (pa.ArrowException, OSError) as e:   # a part that is not Parquet, or of other types
        raise SchemaError(f"{directory}: not a readable manifest ({' '.join(str(e).split())})") from e
    if not tables:
        base = schema.empty_table() if schema is not None else pa.table({})
        return base.append_column(SEQ_COLUMN, pa.array([], pa.int64()))
    table = pa.concat_tables(tables, promote_options="default")
    return table.append_column(SEQ_COLUMN, pa.array(range(table.num_rows), pa.int64()))


def _read_columns(part: Path, names: Sequence[str]) -> pa.Table:
    """The columns ``names`` of a part (those it has), read in batches: a lower peak than a whole read."""
    parquet = pq.ParquetFile(part)
    columns = [n for n in names if n in parquet.schema_arrow.names]
    schema = pa.schema([parquet.schema_arrow.field(n) for n in columns])
    return pa.Table.from_batches(list(parquet.iter_batches(batch_size=1 << 16, columns=columns)), schema=schema)


def _fill(table: pa.Table, schema: pa.Schema) -> pa.Table:
    arrays = []
    for f in schema:
        arrays.append(table.column(f.name).cast(f.type) if f.name in table.column_names
                      else pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def latest(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Keep the last row (highest ``_seq``, or last position) for each distinct key tuple.

    Cheap in the common case: when every key is distinct the table comes back as it is (no copy),
    and a table already in write order is not sorted again.
    """
    if table.num_rows == 0:
        return table
    if SEQ_COLUMN not in table.column_names:
        table = table.append_column(SEQ_COLUMN, pa.array(range(table.num_rows), pa.int64()))
    last = table.select([*keys, SEQ_COLUMN]).group_by(list(keys), use_threads=False).aggregate(
        [(SEQ_COLUMN, "max")])
    if last.num_rows == table.num_rows:
        return table if _in_order(table) else table.sort_by(SEQ_COLUMN)
    keep = pc.is_in(table.column(SEQ_COLUMN), value_set=last.column(f"{SEQ_COLUMN}_max"))
    kept = table.filter(keep)
    return kept if _in_order(kept) else kept.sort_by(SEQ_COLUMN)


def _in_order(table: pa.Table) -> bool:
    seq = table.column(SEQ_COLUMN)
    if len(seq) < 2:
        return True
    return bool(pc.all(pc.greater(seq.slice(1), seq.slice(0, len(seq) - 1))).as_py())


def compact(directory: str | os.PathLike[str], keys: Sequence[str], schema: pa.Schema | None = None) -> pa.Table:
    """Rewrite a manifest as one part holding only the latest row per key; return that table."""
    d = Path(directory)
    old = manifest_parts(d)
    table = latest(read_manifest(d, schema), keys)
    out = table.drop_columns([SEQ_COLUMN]) if SEQ_COLUMN in table.column_names else table
    name = f"part-{time.time_ns():020d}-compact-000000.parquet"
    with atomic_path(d / name) as tmp:
        pq.write_table(out, tmp)
    for p in old:
        if p.name != name:
            p.unlink(missing_ok=True)
    return table


def status_counts(table: pa.Table, column: str = "status") -> dict[str, int]:
    """Counts of each value of ``column``, largest first."""
    if table.num_rows == 0:
        return {}
    counts = pc.value_counts(table.column(column)).to_pylist()
    pairs = sorted(((c["values"], c["counts"]) for c in counts), key=lambda x: (-x[1], str(x[0])))
    return {str(k): int(v) for k, v in pairs}
