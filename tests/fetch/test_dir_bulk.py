"""The bulk ``dir:`` path (one scan, missing videos settled column-wise) gives exactly the manifest
rows the per-item path gives: two extensions, nested folders, symlinked trees, odd names, pairs."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from avdata.fetch import FetchOptions, fetch
from avdata.fetch import runner as fetch_runner
from avdata.fetch import scan as fetch_scan
from avdata.fetch.scan import BulkResult, read_plan_columns, scan_tree
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, layout, read_manifest
from avdata.table import clips_from_records, write_clips

TIMING = ("seconds", "finished_at")


def _per_item(clips: Path, root: Path, uri: str, manifest: Path, write: object) -> BulkResult:
    """The bulk step switched off: every source goes to the per-item backend."""
    return BulkResult(missing=0, remaining=read_plan_columns(clips))


def _world(tmp_path: Path, video: bytes) -> tuple[Path, Path]:
    real = tmp_path / "real"
    other = tmp_path / "other_disk"          # a folder outside the tree, linked into it
    (real / "data/videos/mp4/827/f6b").mkdir(parents=True)
    (other / "sub").mkdir(parents=True)
    (real / "aaaaaaaaaaa.mp4").write_bytes(video)
    (real / "bbbbbbbbbbb.mkv").write_bytes(video + b"x")          # two extensions: mp4 wins
    (real / "bbbbbbbbbbb.mp4").write_bytes(video)
    (real / "ccccccccccc.webm").write_bytes(video)
    (real / "ddddddddddd.MP4").write_bytes(video)                 # not a known spelling
    (real / "data/videos/mp4/827/f6b/827f6b53467db2d5218ed8247418c4c.mp4").write_bytes(video)
    (other / "sub" / "far.mp4").write_bytes(video)
    (other / "eeeeeeeeeee.mp4").write_bytes(video)
    os.symlink(other, real / "linked")                             # a symlinked folder in the tree
    os.symlink(other / "eeeeeeeeeee.mp4", real / "eeeeeeeeeee.mp4")
    os.symlink(real / "data", real / "data/videos/loop")           # a loop: visited once
    tree = tmp_path / "tree"
    os.symlink(real, tree)                                         # the tree itself is a link
    sources = [("aaaaaaaaaaa", "youtube"), ("bbbbbbbbbbb", "youtube"), ("ccccccccccc", "youtube"),
               ("ddddddddddd", "youtube"), ("eeeeeeeeeee", "youtube"), ("missing0001", "youtube"),
               ("short", "youtube"), ("data/videos/mp4/827/f6b/827f6b53467db2d5218ed8247418c4c.mp4", "path"),
               ("data/videos/mp4/000/000/absent.mp4", "path"), ("linked/sub/far.mp4", "path"),
               ("linked/sub/absent.mp4", "path"), ("./data/x.mp4", "path"), ("../escape.mp4", "path"),
               ("nested/deeper/absent.mkv", "path")]
    records = [dict(clip_id=f"c{i}", source=s, source_kind=k, start=1.0, end=2.0, dataset="audioset",
                    split="eval", origin_file="t.csv", origin_line=i + 1) for i, (s, k) in enumerate(sources)]
    records.append(dict(clip_id="mom", source="aaaaaaaaaaa", source_kind="youtube", start=1.0, end=2.0,
                        pair_source="pairmissing", pair_start=3.0, pair_end=4.0, dataset="audioset",
                        split="eval", origin_file="t.csv", origin_line=99))
    records.append(dict(clip_id="mom2", source="missingmom1", source_kind="youtube", start=1.0, end=2.0,
                        pair_source="ccccccccccc", pair_start=3.0, pair_end=4.0, dataset="audioset",
                        split="eval", origin_file="t.csv", origin_line=100))
    clips = tmp_path / "clips.parquet"
    write_clips(clips_from_records(records), clips)
    return tree, clips


def _latest(out: Path) -> list[dict]:
    t = latest(read_manifest(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"])
    return sorted(({k: v for k, v in r.items() if k not in (*TIMING, "_seq")} for r in t.to_pylist()),
                  key=lambda r: r["source"])


@pytest.mark.parametrize(("link", "batch"), [(False, None), (True, None), (False, 2)])
def test_bulk_rows_equal_per_item_rows(tmp_path: Path, small_video: bytes, monkeypatch: pytest.MonkeyPatch,
                                       link: bool, batch: int | None) -> None:
    """``batch``: the clip table streamed a few rows at a time (sources repeated across batches)."""
    if batch:
        monkeypatch.setattr(fetch_scan, "CHUNK_ROWS", batch)
    tree, clips = _world(tmp_path, small_video)
    bulk_out, item_out = tmp_path / "bulk", tmp_path / "item"
    bulk = fetch(clips, FetchOptions(source=f"dir:{tree}", out=bulk_out, link=link, progress=False))
    with monkeypatch.context() as m:
        m.setattr(fetch_runner, "bulk_missing", _per_item)
        item = fetch(clips, FetchOptions(source=f"dir:{tree}", out=item_out, link=link, progress=False))
    assert bulk.counts == item.counts and bulk.counts["missing"] >= 6
    rows_b, rows_i = _latest(bulk_out), _latest(item_out)
    for r in rows_b + rows_i:                          # the outputs differ only by their folder
        if r["path"]:
            r["path"] = r["path"].replace(str(item_out), "OUT").replace(str(bulk_out), "OUT")
    assert rows_b == rows_i
    by_source = {r["source"]: r for r in rows_b}
    assert by_source["bbbbbbbbbbb"]["path"].endswith("bbbbbbbbbbb.mp4")
    assert by_source["ddddddddddd"]["status"] == "missing"
    assert by_source["pairmissing"]["status"] == "missing" and by_source["missingmom1"]["status"] == "missing"
    if link:      # outputs: the same links in both trees
        assert sorted(p.name for p in bulk_out.iterdir() if p.is_symlink()) == \
            sorted(p.name for p in item_out.iterdir() if p.is_symlink())
    # a rerun writes nothing new for videos still missing
    parts = read_manifest(bulk_out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA).num_rows
    again = fetch(clips, FetchOptions(source=f"dir:{tree}", out=bulk_out, link=link, progress=False))
    assert again.counts["missing"] == bulk.counts["missing"]
    new_rows = read_manifest(bulk_out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA).slice(parts)
    settled = {"missing0001", "pairmissing", "missingmom1", "data/videos/mp4/000/000/absent.mp4",
               "nested/deeper/absent.mkv", "ddddddddddd"}
    assert not settled & set(new_rows.column("source").to_pylist())   # odd names go per item (rechecked)
    # a video that appears later is found by the next run
    (tree / "missing0001.mp4").write_bytes(small_video)
    fetch(clips, FetchOptions(source=f"dir:{tree}", out=bulk_out, link=link, progress=False))
    assert {r["source"]: r for r in _latest(bulk_out)}["missing0001"]["status"] == "ok"


def test_scan_follows_links_once_and_marks_them(tmp_path: Path, small_video: bytes) -> None:
    tree, _ = _world(tmp_path, small_video)
    scan = scan_tree(tree.resolve())
    files = dict(zip(scan.files.to_pylist(), scan.linked.to_pylist()))
    assert files["aaaaaaaaaaa.mp4"] is False and files["eeeeeeeeeee.mp4"] is True
    assert files["linked/sub/far.mp4"] is True
    assert sum(f.endswith("827f6b53467db2d5218ed8247418c4c.mp4") for f in files) == 1   # the loop is cut
    assert "linked" in scan.linked_dirs


def test_encode_sources_first_kind_wins() -> None:
    from avdata.fetch.scan import encode_sources

    t = pa.table({"source": ["b", "a", "b", "c"], "source_kind": ["path", "youtube", "youtube", "path"],
                  "pair_source": [None, "c", "a", "d"]})
    enc = encode_sources(t)
    kinds = dict(zip(enc.sources.to_pylist(), enc.kinds.to_pylist()))
    assert kinds == {"a": "youtube", "b": "path", "c": "youtube", "d": "path"}   # first appearance wins
    assert [enc.sources[i].as_py() for i in enc.source_at] == ["b", "a", "b", "c"]


def test_rerun_after_a_kill_mid_compaction_writes_nothing_new(tmp_path: Path, small_video: bytes,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The run is killed after its journal became a part, before the journal was deleted: the
    streamed state of the next run sees each row once, and a rerun records nothing again."""
    monkeypatch.setattr(fetch_scan, "CHUNK_ROWS", 3)
    tree, clips = _world(tmp_path, small_video)
    out = tmp_path / "out"
    opts = FetchOptions(source=f"dir:{tree}", out=out, progress=False)

    def killed(paths: object) -> None:
        raise KeyboardInterrupt("killed before the journal was deleted")

    with monkeypatch.context() as m:
        m.setattr(layout, "unlink_quietly", killed)
        with pytest.raises(KeyboardInterrupt):
            fetch(clips, opts)
    manifest = out / "fetch_manifest.parquet"
    assert {p.suffix for p in manifest.iterdir()} == {".arrows", ".parquet"}   # the part beside its journal
    first = _latest(out)
    rows = read_manifest(manifest, FETCH_MANIFEST_SCHEMA).num_rows
    again = fetch(clips, opts)
    assert again.counts["missing"] >= 6
    new_rows = read_manifest(manifest, FETCH_MANIFEST_SCHEMA).slice(rows)
    settled = {"missing0001", "pairmissing", "missingmom1", "data/videos/mp4/000/000/absent.mp4",
               "nested/deeper/absent.mkv", "ddddddddddd"}
    assert not settled & set(new_rows.column("source").to_pylist())   # odd names go per item (rechecked)
    assert _latest(out) == first
