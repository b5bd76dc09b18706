"""``avdata shards`` and the WebDataset reader: same items as the map-style dataset, exactly once
per epoch over 2 ranks x 2 workers, atomic and resumable writing, bad lines reported."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from avdata.loaders import AVIndexDataset, DatasetOptions
from avdata.loaders.shards import ShardOptions, write_shards
from avdata.loaders.wds_reader import ShardReader, read_shard_list

pytestmark = pytest.mark.slow
SMALL = 150_000      # bytes: a few samples per shard on the demo corpus


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, train_index: Path, media: str) -> Path:
    out = tmp_path_factory.mktemp("shards")
    res = write_shards(ShardOptions(index=str(train_index), media=media, out=str(out), target_size=SMALL,
                                    shuffle=True, seed=3, features=True, executor="inline"))
    assert not res.failed and not res.skipped and res.shard_list is not None
    return res.shard_list


def test_shard_layout_and_list(shards: Path, train_index: Path) -> None:
    listed = read_shard_list(shards)
    lines = train_index.read_text().splitlines()
    assert len(listed) >= 4 and sum(n for _, n in listed) == len(lines)
    weights = (train_index.parent / "src_train_segments_weight.csv").read_text().split()
    order = []
    for url, n in listed:
        with tarfile.open(url) as tar:
            names = tar.getnames()
            metas = [json.load(tar.extractfile(m)) for m in names if m.endswith(".json")]
        assert len(metas) == n
        for meta in metas:
            rec = meta["index"]
            key = f"{rec['id']}_p0"
            assert json.dumps(rec) == lines[meta["line"]] and meta["weight"] == float(weights[meta["line"]])
            assert {f"{key}.mp3", f"{key}.f01.jpg", f"{key}.f04.jpg", f"{key}.aclip_128.npz",
                    f"{key}.frame_224.npz"} <= set(names)
            order.append(meta["line"])
    assert sorted(order) == list(range(len(lines))) and order != sorted(order)   # shuffled, each once
    assert not list(shards.parent.glob(".tmp-*"))


@pytest.mark.parametrize("features,train", [("raw", True), ("npz", False)])
def test_reader_yields_the_map_style_items(shards: Path, train_index: Path, media: str, features: str,
                                           train: bool) -> None:
    pytest.importorskip("webdataset")
    opts = DatasetOptions(media=media, features=features, train=train, seed=9)
    ds = AVIndexDataset(train_index, opts)
    reader = ShardReader(shards, opts)
    ds.set_epoch(2)
    reader.set_epoch(2)
    seen = []
    for item in reader:
        ref = ds[item["index"]]
        assert item["id"] == ref["id"] and item["frame"] == ref["frame"] and item["aclip"] == ref["aclip"]
        for key in ("fbank", "image", "labels"):
            assert np.array_equal(item[key], ref[key]), key
        seen.append(item["index"])
    assert sorted(seen) == list(range(len(ds)))


def test_two_ranks_two_workers_read_every_sample_once(shards: Path, media: str, train_index: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("webdataset")
    from avdata.loaders import collate

    opts = DatasetOptions(media=media, features="npz", outputs=("labels",))
    for epoch in (0, 1):
        seen: list[int] = []
        for rank in range(2):
            reader = ShardReader(shards, opts, rank=rank, world_size=2, shuffle_shards=True, seed=1)
            reader.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(reader, batch_size=2, num_workers=2, collate_fn=collate)
            got = [i for batch in loader for i in batch["index"].tolist()]
            assert len(got) == len(reader)
            seen += got
        assert sorted(seen) == list(range(len(train_index.read_text().splitlines())))


def test_resume_rewrites_only_what_is_missing(tmp_path: Path, train_index: Path, media: str) -> None:
    opts = ShardOptions(index=str(train_index), media=media, out=str(tmp_path), target_size=SMALL, executor="inline")
    first = write_shards(opts)
    assert first.written == first.shards > 1
    tars = sorted(tmp_path.glob("*.tar"))
    before = {p.name: p.read_bytes() for p in tars}
    tars[1].unlink()
    again = write_shards(opts)
    assert again.written == 1 and again.resumed == first.shards - 1
    assert {p.name: p.read_bytes() for p in sorted(tmp_path.glob("*.tar"))} == before   # same bytes


def test_cli_reports_a_line_with_missing_media(tmp_path: Path, train_index: Path, media: str) -> None:
    lines = train_index.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["id"] = "no_such_clip"
    index = tmp_path / "idx.csv"
    index.write_text("\n".join([lines[0], json.dumps(bad), lines[2]]) + "\n")
    run = subprocess.run([sys.executable, "-m", "avdata", "shards", str(index), "--media", media,
                          "--out", str(tmp_path / "out"), "--target-size", "1MB", "--workers", "1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert f"{index}:2: skipped" in run.stderr and "no_such_clip" in run.stderr
    assert "Traceback" not in run.stderr
    listed = read_shard_list(tmp_path / "out" / "idx.shards.json")
    assert sum(n for _, n in listed) == 2
    usage = subprocess.run([sys.executable, "-m", "avdata", "shards", str(index), "--media", media,
                            "--out", str(tmp_path / "o2"), "--target-size", "lots"],
                           capture_output=True, text=True, timeout=300)
    assert usage.returncode == 2 and "not a size" in usage.stderr
