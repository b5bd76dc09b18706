from pathlib import Path

import pyarrow as pa
import pytest

from avdata.errors import SchemaError
from avdata.table import CLIP_SCHEMA, ClipTableWriter, clips_from_records, conform, read_clips, write_clips


def _row(**kw):
    base = dict(clip_id="--PJHxphWEs", source="--PJHxphWEs", source_kind="youtube", start=30.0, end=40.0,
                labels=["/m/09x0r"], dataset="audioset", split="balanced_train",
                origin_file="balanced_train_segments.csv", origin_line=4)
    base.update(kw)
    return base


def test_round_trip_keeps_values_and_extra_columns(tmp_path: Path) -> None:
    table = clips_from_records([_row(), _row(clip_id="b", source="data/x.mp4", source_kind="path", labels=[],
                                            pair_source="data/y.mp4", pair_start=1.0, pair_end=6.0)])
    table = table.append_column("chunk_dir", pa.array(["all_0_35000", "all_0_35000"]))
    write_clips(table, tmp_path / "c.parquet")
    back = read_clips(tmp_path / "c.parquet")
    assert back.schema.names[: len(CLIP_SCHEMA)] == CLIP_SCHEMA.names
    assert back.column("chunk_dir").to_pylist() == ["all_0_35000"] * 2
    assert back.column("labels").to_pylist() == [["/m/09x0r"], []]
    assert back.column("captions").to_pylist() == [[], []]
    assert back.column("pair_end").to_pylist() == [None, 6.0]


def test_missing_required_column_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="start"):
        conform(pa.table({"clip_id": ["a"], "source": ["a"]}))
    with pytest.raises(SchemaError, match="source_kind"):
        clips_from_records([_row(source_kind=None)])


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(SchemaError, match="bad.parquet"):
        read_clips(bad)


def test_writer_thread_error_reaches_the_caller_and_leaves_no_file(tmp_path: Path) -> None:
    good = clips_from_records([_row(clip_id=f"c{i}", origin_line=i) for i in range(3)])
    bad = good.append_column("extra", pa.array([1, 2, 3]))    # not in the file's schema
    out = tmp_path / "c.parquet"
    with pytest.raises(ValueError, match="schema"):
        with ClipTableWriter(out, row_group_rows=1) as w:
            w.write(good)
            w.write(bad)          # fails on the writer thread
            for _ in range(5):
                w.write(good)     # raises here or at close
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with ClipTableWriter(out, row_group_rows=2) as w:
        for _ in range(4):
            w.write(good)
    assert read_clips(out).num_rows == 12


def test_unique_columns_are_plain_and_line_numbers_delta_encoded_yet_read_back_equal(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rows = [_row(clip_id=f"id{i:06d}", origin_line=4 + i + (i // 1000) * 7) for i in range(30_000)]
    table = conform(clips_from_records(rows))
    write_clips(table, tmp_path / "a.parquet")
    with ClipTableWriter(tmp_path / "b.parquet", row_group_rows=7_000) as w:
        for off in range(0, table.num_rows, 5_000):
            w.write(table.slice(off, 5_000))
    for name in ("a.parquet", "b.parquet"):
        assert read_clips(tmp_path / name).equals(table)
        meta = pq.ParquetFile(tmp_path / name).metadata
        names = [meta.row_group(0).column(i).path_in_schema for i in range(meta.num_columns)]
        enc = {n: meta.row_group(0).column(i).encodings for i, n in enumerate(names)}
        assert "DELTA_BINARY_PACKED" in enc["origin_line"]
        assert "RLE_DICTIONARY" not in enc["clip_id"] and "RLE_DICTIONARY" in enc["labels.list.element"]
