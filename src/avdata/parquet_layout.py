"""How clip tables are laid out in Parquet: the encoding and statistics of each column.

Content never depends on these choices (``read_clips`` gives back the table written); they only
trade writing time against file size. Columns that hold a new value on nearly every row (clip ids,
YouTube ids as sources) get no dictionary, whose hashing would be wasted, but delta-length encoding
(the lengths take almost no bytes, the bytes compress as they are); line numbers are delta-encoded;
columns with one value per input file are handed to Parquet dictionary-encoded already.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

UNIQUE_COLUMNS = ("clip_id",)                   # a new value on every row
MAYBE_UNIQUE_COLUMNS = ("source", "pair_source")  # YouTube ids: unique; video paths: many clips each
FEW_VALUE_COLUMNS = ("source_kind", "dataset", "split", "origin_file")   # mostly one value per file
DELTA_COLUMNS = ("origin_line",)                # ascending integers


def parquet_options(schema: pa.Schema, unique: tuple[str, ...] = ()) -> dict[str, Any]:
    """Writer settings for clip tables: zstd; min/max statistics only for numeric and bool columns
    (string and list statistics cost a pass over every value and no stage filters on them); no
    dictionary but delta-length encoding for ``UNIQUE_COLUMNS`` and the string columns named in
    ``unique`` (see ``mostly_distinct``); ``DELTA_COLUMNS`` delta-encoded (a tenth of the time,
    almost no bytes)."""
    stats = [f.name for f in schema if not (pa.types.is_string(f.type) or pa.types.is_list(f.type))]
    fields = {f.name: f for f in schema}
    plain = [c for c in (*UNIQUE_COLUMNS, *unique) if c in fields and pa.types.is_string(fields[c].type)]
    encoding = {c: "DELTA_BINARY_PACKED" for c in DELTA_COLUMNS
                if c in fields and pa.types.is_integer(fields[c].type)}
    encoding.update({c: "DELTA_LENGTH_BYTE_ARRAY" for c in plain})
    no_dictionary = set(plain) | set(encoding)
    return {"compression": "zstd", "write_statistics": stats, "column_encoding": encoding,
            "use_dictionary": [p for f in schema if f.name not in no_dictionary for p in _leaf_paths(f)]}


def mostly_distinct(table: pa.Table, sample: int = 16384) -> tuple[str, ...]:
    """Those ``MAYBE_UNIQUE_COLUMNS`` of ``table`` (strings) in which more than half the values of
    the first ``sample`` rows differ."""
    found = []
    for name in MAYBE_UNIQUE_COLUMNS:
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            col = table.column(name).slice(0, sample)
            if len(col) > col.null_count and 2 * len(col.unique()) > len(col):
                found.append(name)
    return tuple(found)


def _leaf_paths(field: pa.Field, prefix: str = "") -> list[str]:
    """The Parquet column paths of a field's leaves, as writer options name them (nested types
    with Parquet's compliant names: ``labels.list.element``)."""
    path, t = prefix + field.name, field.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _leaf_paths(pa.field("element", t.value_type), path + ".list.")
    if pa.types.is_map(t):
        return (_leaf_paths(pa.field("key", t.key_type), path + ".key_value.")
                + _leaf_paths(pa.field("value", t.item_type), path + ".key_value."))
    if pa.types.is_struct(t):
        return [leaf for i in range(t.num_fields) for leaf in _leaf_paths(t.field(i), path + ".")]
    return [path]


def dictionary_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its ``FEW_VALUE_COLUMNS`` (strings) as dictionary<int32, string>: the same
    Parquet column, handed over already encoded (see ``as_dictionary``)."""
    fields = [pa.field(f.name, pa.dictionary(pa.int32(), f.type), f.nullable, f.metadata)
              if f.name in FEW_VALUE_COLUMNS and pa.types.is_string(f.type) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def as_dictionary(col: pa.ChunkedArray, value_type: pa.DataType) -> pa.Array:
    """A string column dictionary-encoded; one repeated value (the usual case) without hashing."""
    chunks = [c for c in col.chunks if len(c)]
    if chunks and all(_one_value(c) for c in chunks) and len({c[0].as_py() for c in chunks}) == 1:
        indices = pa.array(np.zeros(len(col), dtype=np.int32))
        return pa.DictionaryArray.from_arrays(indices, chunks[0].slice(0, 1))
    return col.combine_chunks().dictionary_encode().cast(pa.dictionary(pa.int32(), value_type))


def _one_value(arr: pa.Array) -> bool:
    """Is the string array ``arr`` one value repeated (no nulls)? Byte comparisons, no hashing."""
    n = len(arr)
    if n == 0 or arr.null_count:
        return False
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset: arr.offset + n + 1]
    first, width = int(offsets[0]), int(offsets[1] - offsets[0])
    if int(offsets[-1]) - first != n * width or not (np.diff(offsets) == width).all():
        return False
    if width == 0 or n == 1:
        return True
    data = bufs[2]   # value k starts at first + k * width: the bytes equal themselves one value on
    return data.slice(first, (n - 1) * width).equals(data.slice(first + width, (n - 1) * width))
