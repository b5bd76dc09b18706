"""Parquet layout of clip tables: encodings chosen from the data, content read back unchanged."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from avdata.parquet_layout import _one_value, as_dictionary
from avdata.table import ClipTableWriter, clips_from_records, conform, read_clips, write_clips


def _encodings(path: Path) -> dict[str, tuple[str, ...]]:
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(0)
    return {group.column(i).path_in_schema: group.column(i).encodings for i in range(meta.num_columns)}


def _rows(n: int, source: callable, origin: callable) -> pa.Table:
    return conform(clips_from_records(
        [dict(clip_id=f"c{i:07d}", source=source(i), source_kind="youtube", start=float(i), end=i + 10.0,
              labels=["/m/09x0r"] * (i % 3), dataset="audioset", split="eval", origin_file=origin(i),
              origin_line=i + 4) for i in range(n)]))


@pytest.mark.parametrize("writer", ["stream", "whole"])
def test_unique_sources_are_plain_repeated_ones_keep_a_dictionary(tmp_path: Path, writer: str) -> None:
    unique = _rows(3000, lambda i: f"{i:011d}", lambda i: "a.csv")
    repeated = _rows(3000, lambda i: f"videos/v{i // 50}.mp4", lambda i: "a.csv" if i < 1700 else "b.csv")
    for name, table in (("unique", unique), ("repeated", repeated)):
        out = tmp_path / f"{name}.parquet"
        if writer == "whole":
            write_clips(table, out)
        else:
            with ClipTableWriter(out, row_group_rows=2000) as w:
                for off in range(0, table.num_rows, 700):
                    w.write(table.slice(off, 700))
        back = read_clips(out)
        assert back.equals(table) and back.schema.field("origin_file").type == pa.string()
        enc = _encodings(out)
        assert "RLE_DICTIONARY" not in enc["clip_id"] and "DELTA_LENGTH_BYTE_ARRAY" in enc["clip_id"]
        assert ("RLE_DICTIONARY" in enc["source"]) == (name == "repeated")
        assert "RLE_DICTIONARY" in enc["origin_file"] and "RLE_DICTIONARY" in enc["labels.list.element"]


def test_one_value_is_told_by_bytes() -> None:
    same = pa.array(["abc"] * 5)
    assert _one_value(same) and _one_value(pa.array([""] * 3)) and _one_value(pa.array(["x"]))
    assert _one_value(pa.array(["q", "abc", "abc", "abc"]).slice(1))
    assert not _one_value(pa.array(["abc", "abc", "abd"])) and not _one_value(pa.array(["ab", "abc"]))
    assert not _one_value(pa.array(["abcabc", "abc", "abcabc"]))
    assert not _one_value(pa.array(["abc", None, "abc"])) and not _one_value(pa.array([], pa.string()))
    for col in (pa.chunked_array([same, same.slice(2)]), pa.chunked_array([same, pa.array(["abd"])]),
                pa.chunked_array([pa.array(["a", "b"]), pa.array(["b"])])):
        enc = as_dictionary(col, pa.string())
        assert enc.type == pa.dictionary(pa.int32(), pa.string())
        assert enc.cast(pa.string()).to_pylist() == col.to_pylist()
