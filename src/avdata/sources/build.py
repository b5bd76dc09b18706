"""Build clip-table blocks from column arrays and constants without a per-row Python loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from avdata.table import CLIP_SCHEMA


def empty_lists(n: int, value_type: pa.DataType = pa.string()) -> pa.Array:
    """``n`` empty lists."""
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], value_type))


def build_clips(n: int, columns: Mapping[str, Any]) -> pa.Table:
    """A clip table of ``n`` rows. Each column is an array, a constant (repeated), or absent
    (empty lists for list columns, nulls otherwise). Names not in the clip schema are appended."""
    arrays = []
    fields = []
    for f in CLIP_SCHEMA:
        v = columns.get(f.name)
        if isinstance(v, (pa.Array, pa.ChunkedArray)):
            arr = v if v.type == f.type else v.cast(f.type)
        elif isinstance(v, (list, np.ndarray)):
            arr = pa.array(v, f.type)
        elif v is None:
            arr = empty_lists(n) if pa.types.is_list(f.type) else pa.nulls(n, f.type)
        else:
            arr = pa.repeat(pa.scalar(v, f.type), n)
        arrays.append(arr)
        fields.append(f)
    for name, v in columns.items():
        if CLIP_SCHEMA.get_field_index(name) < 0:
            arr = v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v)
            arrays.append(arr)
            fields.append(pa.field(name, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=CLIP_SCHEMA.metadata))
