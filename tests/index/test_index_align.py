"""The index's streaming join (``avdata.index.align``) gives, per clip-table row and clip kind, the
latest manifest row of that id: what ``latest(read_manifest(...))`` joined on the ids gives, also
when ids repeat in the table, when hashes collide and across block and batch boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from mixed_inputs import make_mixed

import avdata.index.align as align
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.index.align import Aligner, TableKeys, key_hashes
from avdata.manifest import SEQ_COLUMN, latest, read_manifest
from avdata.table import read_clips, write_clips

COLUMNS = ["clip_id", "clip", "dir", "audio_file", "frame_files", "audio_samples", "sample_rate", "status"]
SCHEMA = pa.schema([EXTRACT_MANIFEST_SCHEMA.field(c) for c in COLUMNS])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("align")
    clips, manifest = make_mixed(root, test_data / "balanced_train_segments.csv", n=1500, seed=11)
    table = read_clips(clips)
    rng = np.random.default_rng(2)
    repeated = table.take(pa.array(rng.integers(0, table.num_rows, 300)))   # ids that appear twice or more
    write_clips(pa.concat_tables([table, repeated]), clips)
    return clips, manifest


@pytest.mark.parametrize("collide", [False, True])
def test_aligned_rows_equal_the_latest_rows_joined_on_ids(inputs, tmp_path, monkeypatch, collide) -> None:
    clips, manifest = inputs
    if collide:   # 16 hash values for ~1,800 ids: every block holds rows of other ids to reject
        monkeypatch.setattr(align, "key_hashes", lambda v: key_hashes(v) & np.uint64(15))
    monkeypatch.setattr(align, "MAX_BLOCKS", 5)   # blocks of several batches; batches across blocks
    table = read_clips(clips)
    keys = TableKeys(clips, table.num_rows, batch_rows=128)
    aligner = Aligner(keys, tmp_path / "spill", SCHEMA, 97)
    aligner.add(manifest)
    aligner.finish()
    want = latest(read_manifest(manifest, EXTRACT_MANIFEST_SCHEMA), MANIFEST_KEYS)
    by_key = {(r["clip_id"], r["clip"]): {c: r[c] for c in COLUMNS} for r in want.to_pylist()}
    kinds = sorted(aligner.kinds)
    assert {"p0", "n0", "n1"} <= set(kinds)
    ids = table.column("clip_id").to_pylist()
    offset, found = 0, 0
    for size in [97, 50, 200, 97, 1, 300, 10_000]:    # batches of any size, in order
        batch = pa.array(ids[offset:offset + size], pa.string())
        if not len(batch):
            break
        got = aligner.batch(offset, batch, kinds)
        for k, kind in enumerate(kinds):
            rows = got[k].to_pylist()
            for i, clip_id in enumerate(batch.to_pylist()):
                expected = by_key.get((clip_id, kind))
                assert (rows[i] if rows[i]["clip_id"] is not None else None) == expected, (offset + i, kind)
                found += expected is not None
        offset += len(batch)
    assert offset == table.num_rows and found > 1500
    assert SEQ_COLUMN not in got[0].column_names


def test_key_hashes_are_stable_and_spread() -> None:
    values = pa.array(["", "a", "b", "ab", "ba", None, "é" * 40, "x" * 1000, "ab"], pa.string())
    h = key_hashes(values)
    assert h[3] == h[8] and len(set(h[:5].tolist())) == 5
    assert (key_hashes(values.slice(3, 2)) == h[3:5]).all()
    many = pa.array([f"Y{i:010d}" for i in range(200_000)], pa.string())
    assert len(np.unique(key_hashes(many))) == 200_000
