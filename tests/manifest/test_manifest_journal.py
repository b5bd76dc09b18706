"""The durable manifest: per-flush journal records survive SIGKILL, torn tails are ignored, merges
are kill-safe (no lost row, no doubled row), and a directory stays small across many runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from avdata.manifest import ManifestWriter, compact, latest, layout, manifest_parts, read_manifest, status_counts

SCHEMA = pa.schema([("item", pa.string()), ("status", pa.string()), ("n", pa.int64())])
SRC = str(Path(__file__).resolve().parents[2] / "src")

_CHILD = r"""
import sys, pyarrow as pa
from avdata.manifest import ManifestWriter
schema = pa.schema([("item", pa.string()), ("status", pa.string()), ("n", pa.int64())])
w = ManifestWriter(sys.argv[1], schema, keys=["item"], flush_rows=1 << 30, flush_seconds=1e9, max_files=4)
i = int(sys.argv[2])
while True:
    w.write_many([{"item": f"i{i}", "status": "ok", "n": i}])
    w.flush()
    sys.stdout.write(f"{i}\n"); sys.stdout.flush()
    i += 1
"""


def _items(d: Path) -> list[int]:
    return read_manifest(d, SCHEMA).column("n").to_pylist()


@pytest.mark.slow
def test_flushed_rows_survive_sigkill_and_every_rerun_adds_more(tmp_path: Path) -> None:
    d = tmp_path / "m.parquet"
    rng = np.random.default_rng(7)
    start = 0
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(d), str(start)], stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": SRC}, text=True)
        assert child.stdout is not None
        first = child.stdout.readline()          # at least one row flushed
        assert first.strip() == str(start)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        os.kill(child.pid, signal.SIGKILL)
        reported = [int(x) for x in [first, *child.stdout.read().split()] if str(x).strip()]
        child.wait()
        got = _items(d)
        # every row reported flushed is there, exactly once, in order
        assert got == list(range(len(got)))
        assert got[-1] >= reported[-1] > start - 1
        start = got[-1] + 1
    assert len(list(d.iterdir())) < 10        # killed runs' journals get merged at open


def test_torn_last_record_is_ignored(tmp_path: Path) -> None:
    d = tmp_path / "m"
    w = ManifestWriter(d, SCHEMA, flush_rows=1 << 30, flush_seconds=1e9)
    for i in range(3):
        w.write({"item": f"i{i}", "status": "ok", "n": i})
        w.flush()
    journal = next(d.glob("*.arrows"))
    size = journal.stat().st_size
    w.write({"item": "i3", "status": "ok", "n": 3})
    w.flush()
    with open(journal, "r+b") as fh:            # a kill in the middle of the fourth record
        fh.truncate(size + (journal.stat().st_size - size) // 2)
    assert _items(d) == [0, 1, 2]


def test_kill_between_merge_and_delete_neither_loses_nor_doubles(tmp_path: Path, monkeypatch) -> None:
    d = tmp_path / "m"
    for run in range(5):
        with ManifestWriter(d, SCHEMA) as w:
            w.write_many({"item": f"i{k}", "status": "ok" if run == 4 else "decode_error", "n": run * 10 + k}
                         for k in range(3))
    before = read_manifest(d, SCHEMA)
    assert before.num_rows == 15

    def killed(paths):  # noqa: ANN001
        raise KeyboardInterrupt("killed before the inputs were deleted")

    monkeypatch.setattr(layout, "unlink_quietly", killed)
    with pytest.raises(KeyboardInterrupt):
        ManifestWriter(d, SCHEMA, keys=["item"], max_files=2)
    monkeypatch.undo()
    assert len(list(d.glob("part-*.parquet"))) == 6      # the merged part beside all its inputs
    after = read_manifest(d, SCHEMA)
    assert after.num_rows == 3                            # readers see only the merged part
    assert status_counts(after) == {"ok": 3}
    assert latest(after, ["item"]).column("n").to_pylist() == [40, 41, 42]
    ManifestWriter(d, SCHEMA, keys=["item"]).close()      # the next writer tidies
    assert len(list(d.iterdir())) == 1
    assert latest(read_manifest(d, SCHEMA), ["item"]).column("n").to_pylist() == [40, 41, 42]


def test_directory_stays_small_across_many_runs_and_live_journal_is_kept(tmp_path: Path) -> None:
    d = tmp_path / "m"
    live = ManifestWriter(d, SCHEMA, flush_rows=1)
    live.write({"item": "live", "status": "ok", "n": -1})      # a running writer's journal
    for run in range(150):
        with ManifestWriter(d, SCHEMA, keys=["item"]) as w:
            w.write({"item": f"i{run % 7}", "status": "ok", "n": run})
            w.flush()
        assert len(list(d.iterdir())) <= 18
    rows = latest(read_manifest(d, SCHEMA), ["item"]).to_pylist()
    assert {r["item"]: r["n"] for r in rows} == {"live": -1, **{f"i{k}": max(r for r in range(150) if r % 7 == k)
                                                                  for k in range(7)}}
    live.close()


def test_legacy_parts_and_single_file_still_read(tmp_path: Path) -> None:
    d = tmp_path / "old.parquet"
    d.mkdir()
    pq.write_table(pa.table({"item": ["a", "b"], "status": ["x", "ok"], "n": [1, 2]}),
                   d / "part-00000000000000000001-abcdef-000000.parquet")
    pq.write_table(pa.table({"item": ["a"], "status": ["ok"], "n": [3]}),
                   d / "part-00000000000000000002-abcdef-000000.parquet")
    assert _items(d) == [1, 2, 3]
    with ManifestWriter(d, SCHEMA) as w:
        w.write({"item": "c", "status": "ok", "n": 4})
    assert _items(d) == [1, 2, 3, 4]
    single = tmp_path / "single.parquet"
    pq.write_table(pa.table({"item": ["z"], "status": ["ok"], "n": [9]}), single)
    assert _items(single) == [9]
    assert compact(d, ["item"], SCHEMA).column("n").to_pylist() == [2, 3, 4]
    assert len(manifest_parts(d)) == 1


def test_write_table_keeps_order_with_journal_rows(tmp_path: Path) -> None:
    d = tmp_path / "m"
    with ManifestWriter(d, SCHEMA, flush_rows=1) as w:
        w.write({"item": "a", "status": "x", "n": 1})
        w.write_table(pa.table({"item": ["a", "b"], "status": ["ok", "ok"], "n": [2, 3]}))
        w.write({"item": "b", "status": "y", "n": 4})
    assert _items(d) == [1, 2, 3, 4]
    assert pq.read_table(d).num_rows == 4      # closed: only Parquet parts, plain pyarrow reads them


_MERGER = r"""
import sys, pyarrow as pa
from avdata.manifest import ManifestWriter
schema = pa.schema([("item", pa.string()), ("status", pa.string()), ("n", pa.int64())])
ManifestWriter(sys.argv[1], schema, max_files=4).close()
print("done", flush=True)
"""


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_merge_loses_and_doubles_nothing(tmp_path: Path) -> None:
    d = tmp_path / "m"
    expected: list[int] = []
    for run in range(30):
        with ManifestWriter(d, SCHEMA, max_files=1000) as w:
            w.write_table(pa.table({"item": [f"i{k}" for k in range(3000)], "status": ["ok"] * 3000,
                                    "n": list(range(run * 3000, run * 3000 + 3000))}))
            w.write({"item": "tail", "status": "ok", "n": -run})          # a journal part too
        expected += list(range(run * 3000, run * 3000 + 3000)) + [-run]
    rng = np.random.default_rng(11)
    finished = 0
    for _ in range(8):
        child = subprocess.Popen([sys.executable, "-c", _MERGER, str(d)], stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": SRC}, text=True)
        time.sleep(float(rng.uniform(0.2, 1.5)))
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        finished += "done" in out
        got = read_manifest(d, SCHEMA).column("n").to_pylist()
        assert sorted(got) == sorted(expected)        # no row lost, none doubled, whatever the moment
        assert got == [x for x in expected]           # and still in write order
    ManifestWriter(d, SCHEMA, max_files=4).close()
    assert len(list(d.iterdir())) <= 4
    assert read_manifest(d, SCHEMA).column("n").to_pylist() == expected


def test_read_latest_equals_latest_of_read_manifest(tmp_path: Path) -> None:
    from avdata.manifest import read_latest

    rng = np.random.default_rng(5)
    schema = pa.schema([("a", pa.string()), ("b", pa.string()), ("status", pa.string()), ("n", pa.int64())])
    d = tmp_path / "m"
    n = 0
    for run in range(12):
        with ManifestWriter(d, schema, keys=["a", "b"] if run % 3 else None, max_files=5) as w:
            if run % 4 == 0:            # a bulk table with unique keys
                k = int(rng.integers(50, 200))
                w.write_table(pa.table({"a": [f"k{i}" for i in range(k)], "b": ["p0"] * k,
                                        "status": ["missing"] * k, "n": list(range(n, n + k))}, schema=schema))
                n += k
            for _ in range(int(rng.integers(0, 40))):
                w.write({"a": f"k{int(rng.integers(0, 300))}", "b": str(rng.choice(["p0", "n0"])),
                         "status": "ok", "n": n})
                n += 1
                if rng.random() < 0.3:
                    w.flush()
        for keys in (["a", "b"], ["a"]):
            want = latest(read_manifest(d, schema), keys).drop_columns(["_seq"])
            got = read_latest(d, schema, keys).drop_columns(["_seq"])
            assert got.equals(want), (run, keys)
    assert read_latest(d, schema, ["a"], ["a", "n"]).column_names == ["a", "n", "_seq"]


def test_manifest_columns_from_parts_and_journals(tmp_path: Path) -> None:
    from avdata.manifest import manifest_columns

    d = tmp_path / "m"
    assert manifest_columns(d) == set()
    w = ManifestWriter(d, SCHEMA, flush_rows=1)
    w.write({"item": "a", "status": "ok", "n": 1})             # only a journal so far
    assert manifest_columns(d) == {"item", "status", "n"}
    w.close()
    assert manifest_columns(d) == {"item", "status", "n"}


def test_a_journal_flushed_per_item_becomes_a_part_of_few_large_row_groups(tmp_path: Path) -> None:
    d = tmp_path / "m"
    with ManifestWriter(d, SCHEMA, keys=["item"], flush_rows=1 << 30, flush_seconds=1e9) as w:
        for i in range(3000):
            w.write_many([{"item": f"i{i}", "status": "ok", "n": i}])
            w.flush()                              # one journal record per item
    parts = manifest_parts(d)
    assert [p.suffix for p in parts] == [".parquet"]
    meta = pq.ParquetFile(parts[0]).metadata
    assert meta.num_rows == 3000
    assert meta.num_row_groups == 1                # not one row group per record
    assert _items(d) == list(range(3000))
    batches = [t.num_rows for t in layout.iter_file(parts[0], ["n"], batch_rows=1000)]
    assert batches == [1000, 1000, 1000]
