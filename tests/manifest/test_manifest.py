from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from avdata.manifest import ManifestWriter, compact, latest, read_manifest, status_counts

SCHEMA = pa.schema([("item", pa.string()), ("status", pa.string()), ("n", pa.int64())])


def test_rows_append_across_runs_and_latest_wins(tmp_path: Path) -> None:
    m = tmp_path / "m.parquet"
    with ManifestWriter(m, SCHEMA, flush_rows=2) as w:
        w.write({"item": "a", "status": "decode_error", "n": 1})
        w.write({"item": "b", "status": "ok", "n": 2})
        w.write({"item": "c", "status": "ok", "n": 3})
    with ManifestWriter(m, SCHEMA) as w:
        w.write({"item": "a", "status": "ok", "n": 4})
    rows = read_manifest(m, SCHEMA)
    assert rows.num_rows == 4
    last = latest(rows, ["item"])
    assert dict(zip(last.column("item").to_pylist(), last.column("n").to_pylist())) == {"b": 2, "c": 3, "a": 4}
    assert status_counts(last) == {"ok": 3}
    # plain pyarrow reads the directory too
    assert pq.read_table(m).num_rows == 4
    compact(m, ["item"], SCHEMA)
    assert len(list(m.glob("part-*.parquet"))) == 1
    assert read_manifest(m, SCHEMA).num_rows == 3


def test_missing_manifest_reads_empty(tmp_path: Path) -> None:
    t = read_manifest(tmp_path / "none.parquet", SCHEMA)
    assert t.num_rows == 0 and "status" in t.column_names


def test_latest_with_unique_keys_returns_the_table_uncopied() -> None:
    t = pa.table({"item": ["a", "b", "c"], "status": ["ok"] * 3, "n": [1, 2, 3]})
    once = latest(t, ["item"])
    assert once.column("n").to_pylist() == [1, 2, 3]
    assert latest(once, ["item"]) is once
    shuffled = once.take([2, 0, 1])
    assert latest(shuffled, ["item"]).column("item").to_pylist() == ["a", "b", "c"]
