"""Unique, file-name safe clip ids for a whole clip table."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_stem(text: str) -> str:
    """``text`` reduced to a file-name component: unsafe characters become ``_``; no leading dot."""
    out = _UNSAFE.sub("_", text) or "_"
    return "_" + out[1:] if out[0] == "." else out


def make_unique(table: pa.Table) -> pa.Table:
    """Give repeated ``clip_id`` values the suffix ``_{start_ms}`` (then ``_{k}`` if still taken);
    the first occurrence keeps its id. Cost is linear, with Python work only for the repeats."""
    if table.num_rows == 0:
        return table
    ids = table.column("clip_id").combine_chunks()
    if len(pc.unique(ids)) == len(ids):
        return table
    codes = pc.dictionary_encode(ids).indices.to_numpy()
    _, first = np.unique(codes, return_index=True)
    repeat = np.ones(len(ids), dtype=bool)
    repeat[first] = False
    rows = np.flatnonzero(repeat)
    base = ids.take(pa.array(rows)).to_pylist()
    starts = table.column("start").take(pa.array(rows)).to_pylist()
    taken = set(pc.filter(ids, pc.is_in(ids, value_set=pa.array(
        [f"{b}_{int(round(s * 1000))}" for b, s in zip(base, starts)]))).to_pylist())
    new = []
    for b, s in zip(base, starts):
        cand = f"{b}_{int(round(s * 1000))}"
        k = 1
        while cand in taken:
            k += 1
            cand = f"{b}_{int(round(s * 1000))}_{k}"
        taken.add(cand)
        new.append(cand)
    out = ids.to_numpy(zero_copy_only=False).astype(object)
    out[rows] = new
    col = table.schema.get_field_index("clip_id")
    return table.set_column(col, table.schema.field(col), pa.array(out, pa.string()))
