"""Streaming reads of a manifest: ``iter_manifest`` (every row in write order, a batch at a time)
and ``read_latest(only=...)`` equal the whole-table reads, across parts, journals, a live journal
and a kill mid-compaction; the per-key states the bulk paths build from the stream (``KeySet``)
equal the latest rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from avdata.extract.bulk_plan import segment_state
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.fetch.scan import RECORDED, previous_state
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import ManifestWriter, iter_manifest, latest, layout, read_latest, read_manifest

SCHEMA = pa.schema([("item", pa.string()), ("status", pa.string()), ("n", pa.int64())])


def _many_runs(d: Path, rng: np.random.Generator, runs: int = 8) -> None:
    n = 0
    for run in range(runs):
        with ManifestWriter(d, SCHEMA, keys=["item"], max_files=4) as w:
            if run % 3 == 0:
                k = int(rng.integers(20, 60))
                w.write_table(pa.table({"item": [f"i{i}" for i in range(k)], "status": ["missing"] * k,
                                        "n": list(range(n, n + k))}, schema=SCHEMA))
                n += k
            for _ in range(int(rng.integers(1, 30))):
                w.write({"item": f"i{int(rng.integers(0, 80))}", "status": str(rng.choice(["ok", "missing"])),
                         "n": n})
                n += 1
                if rng.random() < 0.4:
                    w.flush()


def _streamed(d: Path, batch_rows: int) -> pa.Table:
    parts = list(iter_manifest(d, SCHEMA, batch_rows=batch_rows))
    assert all(p.num_rows <= max(batch_rows, 1 << 16) for p in parts)
    return pa.concat_tables(parts) if parts else SCHEMA.empty_table()


def test_iter_manifest_and_read_latest_only_equal_whole_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "m"
    _many_runs(d, np.random.default_rng(3))
    live = ManifestWriter(d, SCHEMA, keys=["item"], flush_rows=1)          # a live journal too
    live.write({"item": "i5", "status": "ok", "n": 10_000})
    want = read_manifest(d, SCHEMA).drop_columns(["_seq"])
    assert _streamed(d, 7).equals(want)
    only = pa.array(["i5", "i7", "nothing", "i0"])
    full = latest(read_manifest(d, SCHEMA), ["item"]).drop_columns(["_seq"])
    got = read_latest(d, SCHEMA, ["item"], only=only).drop_columns(["_seq"])
    assert sorted(got.to_pylist(), key=str) == sorted(
        (r for r in full.to_pylist() if r["item"] in {"i5", "i7", "i0"}), key=str)
    assert {"item": "i5", "status": "ok", "n": 10_000} in got.to_pylist()
    assert read_latest(d, SCHEMA, ["item"], only=pa.array([], pa.string())).num_rows == 0
    live.close()

    # a kill after a merge wrote its part, before it deleted the inputs: readers skip the inputs
    def killed(paths: object) -> None:
        raise KeyboardInterrupt("killed before the inputs were deleted")

    want = latest(read_manifest(d, SCHEMA), ["item"]).drop_columns(["_seq"])
    monkeypatch.setattr(layout, "unlink_quietly", killed)
    with pytest.raises(KeyboardInterrupt):
        ManifestWriter(d, SCHEMA, keys=["item"], max_files=1)
    monkeypatch.undo()
    assert len(layout.data_files(d)) > 1                   # the merged part beside its inputs
    streamed = _streamed(d, 5)
    assert streamed.num_rows == want.num_rows             # nothing doubled
    assert latest(streamed, ["item"]).drop_columns(["_seq"]).sort_by("item").equals(want.sort_by("item"))


def test_fetch_state_from_the_stream_is_the_latest_row(tmp_path: Path) -> None:
    d = tmp_path / "fetch_manifest.parquet"
    rng = np.random.default_rng(11)
    rows = [{"source": f"s{int(rng.integers(0, 40))}", "status": str(rng.choice(["missing", "ok", "not_media"])),
             "source_uri": str(rng.choice(["dir:/a", "dir:/b"]))} for _ in range(300)]
    for start in range(0, 300, 70):                         # several runs: parts and journals
        with ManifestWriter(d, FETCH_MANIFEST_SCHEMA, keys=["source"]) as w:
            w.write_many(rows[start:start + 70])
    state = previous_state(d, "dir:/a", capacity=4)
    last = {r["source"]: r for r in rows}
    got = state.get(state.find(state.hash(list(last))))
    want = [RECORDED if r["status"] == "missing" and r["source_uri"] == "dir:/a" else 0 for r in last.values()]
    assert got.tolist() == want and len(state) == len(last)


def test_segment_state_counts_latest_rows_per_clip(tmp_path: Path) -> None:
    d = tmp_path / "extract_manifest.parquet"
    rng = np.random.default_rng(2)
    rows = [{"clip_id": f"c{int(rng.integers(0, 30))}", "clip": str(rng.choice(["p0", "n0", "n1"])),
             "status": str(rng.choice(["ok", "missing_video", "decode_error"]))} for _ in range(400)]
    rows.append({"clip_id": "odd", "clip": "n7", "status": "ok"})
    for start in range(0, len(rows), 90):
        with ManifestWriter(d, EXTRACT_MANIFEST_SCHEMA, keys=MANIFEST_KEYS) as w:
            w.write_many(rows[start:start + 90])
    state = segment_state(d, capacity=0)
    last = latest(read_manifest(d, EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS)).to_pylist()
    ids = sorted({r["clip_id"] for r in last})
    bits = dict(zip(ids, state.get(state.find(state.hash(ids))).tolist()))
    for cid in ids:
        mine = [r for r in last if r["clip_id"] == cid]
        n_rows = bin(bits[cid] & 7).count("1")
        n_ok = bin((bits[cid] >> 3) & 7).count("1")
        if cid == "odd":
            assert bits[cid] & 64                            # another clip name: left per item
            continue
        assert (n_rows, n_ok) == (len(mine), sum(r["status"] == "ok" for r in mine)), cid


def test_keys_are_unique_streams_the_journal(tmp_path: Path) -> None:
    schema = pa.schema([("a", pa.string()), ("b", pa.string()), ("n", pa.int64())])

    def journal(rows: list[tuple]) -> Path:
        d = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        w = ManifestWriter(d, schema, flush_rows=2)          # a record every two rows
        w.write_many({"a": a, "b": b, "n": i} for i, (a, b) in enumerate(rows))
        w.flush()
        path = next(d.glob("*.arrows"))
        return path

    assert layout.keys_are_unique(journal([("x", "p0"), ("x", "n0"), ("y", "p0"), (None, "p0")]), ["a", "b"])
    assert not layout.keys_are_unique(journal([("x", "p0"), ("y", "p0"), ("z", "p0"), ("x", "p0")]), ["a", "b"])
    assert not layout.keys_are_unique(journal([("x", "p0"), ("y", "p0"), ("z", "p0"), ("x", "n0")]), ["a"])
    assert not layout.keys_are_unique(journal([(None, "p0"), ("y", "p0"), (None, "p0")]), ["a", "b"])
    assert layout.keys_are_unique(journal([("ab", "c"), ("a", "bc")]), ["a", "b"])
