"""Windows from a folder of videos: inside each video, whole videos per split, stable splits, resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest

from avdata.audioscope.windows import (WindowsOptions, hash_split, make_windows, probe_video, ProbeTask,
                                       window_spans)
from avdata.errors import AvdataError
from avdata.media.probe import probe_media
from avdata.table import read_clips


def test_window_spans_full_and_partial_windows() -> None:
    assert window_spans(12.3, 5, 5) == [(0.0, 5.0), (5.0, 10.0)]
    assert window_spans(12.3, 5, 5, min_length=2) == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.3)]
    assert window_spans(7.0, 5, 2.5) == [(0.0, 5.0)]
    assert window_spans(4.9, 5, 5) == []
    with pytest.raises(AvdataError):
        window_spans(10, 5, 0)
    with pytest.raises(AvdataError):
        window_spans(10, 5, 5, min_length=6)


def test_hash_split_is_stable_and_follows_fractions() -> None:
    names = [f"data/videos/mp4/{i:03x}/{i * 7919:06x}.mp4" for i in range(4000)]
    splits = [hash_split(n, (0.8, 0.1, 0.1)) for n in names]
    assert splits == [hash_split(n, (0.8, 0.1, 0.1)) for n in names]
    frac = {s: splits.count(s) / len(splits) for s in ("train", "validate", "test")}
    assert abs(frac["train"] - 0.8) < 0.03 and abs(frac["validate"] - 0.1) < 0.02
    assert hash_split("x.mp4", (1.0, 0.0, 0.0)) == "train"
    assert hash_split("x.mp4", (0.0, 0.0, 1.0)) == "test"
    assert hash_split("x.mp4", (0.5, 0.5, 0.0), salt="a") in ("train", "validate")


def test_hash_split_known_values() -> None:
    # pinned literals: a change of the hashing would move users' videos between splits
    names = ["a/one.mp4", "data/videos/mp4/827/f6b/827f6b53467db2d5218ed8247418c4c.mp4", "x.mp4", "b/two.mkv",
             "v/0001.mp4", "v/0002.mp4"]
    assert [hash_split(n, (0.8, 0.1, 0.1)) for n in names] == ["test", "train", "train", "train", "train", "train"]
    assert [hash_split(n, (0.34, 0.33, 0.33)) for n in names] == [
        "test", "test", "train", "train", "train", "validate"]


def test_windows_from_folder(video_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "clips.parquet"
    summary = make_windows(WindowsOptions(inputs=str(video_tree), output=str(out), executor="inline"))
    assert summary.videos == {"ok": 3, "no_audio": 1, "unreadable": 1}
    assert summary.skipped == 2
    t = read_clips(out)
    rows = t.to_pylist()
    assert {(r["source"], r["start"], r["end"]) for r in rows} == {
        ("a/one.mp4", 0.0, 5.0), ("a/one.mp4", 5.0, 10.0), ("a/two.mp4", 0.0, 5.0), ("b/one.mp4", 0.0, 5.0)}
    assert len(set(t.column("clip_id").to_pylist())) == t.num_rows    # same stem, distinct ids
    for r in rows:
        assert r["source_kind"] == "path" and r["dataset"] == "audioscope_v2"
        info = probe_media(video_tree / r["source"])
        assert 0 <= r["start"] < r["end"] <= info.duration
        assert r["split"] == hash_split(r["source"], (0.8, 0.1, 0.1))
    per_video = {}
    for r in rows:
        per_video.setdefault(r["source"], set()).add(r["split"])
    assert all(len(s) == 1 for s in per_video.values())


def test_windows_overlapping_hop_and_min_length(video_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "clips.parquet"
    make_windows(WindowsOptions(inputs=str(video_tree), output=str(out), length=5, hop=2.5, min_length=3,
                                executor="inline"))
    t = read_clips(out)
    one = t.filter(pc.equal(t.column("source"), "a/one.mp4"))
    assert list(zip(one.column("start").to_pylist(), one.column("end").to_pylist())) == [
        (0.0, 5.0), (2.5, 7.5), (5.0, 10.0), (7.5, 12.3)]


def test_windows_resume_and_changed_file(video_tree: Path, tmp_path: Path) -> None:
    tree = tmp_path / "videos"
    shutil.copytree(video_tree, tree)
    out = tmp_path / "clips.parquet"
    opts = WindowsOptions(inputs=str(tree), output=str(out), executor="inline")
    first = make_windows(opts)
    assert first.reused == 0
    before = read_clips(out).to_pylist()
    second = make_windows(opts)
    assert second.reused == 5
    assert read_clips(out).to_pylist() == before
    shutil.copy(video_tree / "a" / "two.mp4", tree / "a" / "one.mp4")       # the file changes: probed again
    third = make_windows(opts)
    assert third.reused == 4
    t = read_clips(out)
    assert sorted(t.filter(pc.equal(t.column("source"), "a/one.mp4")).column("end").to_pylist()) == [5.0]


def test_published_split_lists_win(video_tree: Path, tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "unfiltered_test_clips.csv").write_text("a/one.mp4,0,5\nb/one.mp4,0,5\n")
    (lists / "unfiltered_train_clips.csv").write_text("a/two.mp4,0,5\na/one.mp4,5,10\n")
    out = tmp_path / "clips.parquet"
    s = make_windows(WindowsOptions(inputs=str(video_tree), output=str(out), executor="inline",
                                    split_lists=(str(lists / "unfiltered_test_clips.csv"),
                                                 str(lists / "unfiltered_train_clips.csv"))))
    t = read_clips(out)
    splits = dict(zip(t.column("source").to_pylist(), t.column("split").to_pylist()))
    assert splits == {"a/one.mp4": "test", "b/one.mp4": "test", "a/two.mp4": "train"}
    assert [str(w) for w in s.problems.warnings] == [
        f"{lists / 'unfiltered_train_clips.csv'}:2: a/one.mp4: split 'train' conflicts with 'test' from an "
        "earlier row; keeping 'test'"]


def test_bad_fractions(video_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(AvdataError, match="sum to 1"):
        make_windows(WindowsOptions(inputs=str(video_tree), output=str(tmp_path / "c.parquet"),
                                    fractions=(0.5, 0.1, 0.1)))


def test_probe_job_reports_reasons(video_tree: Path) -> None:
    assert probe_video(ProbeTask("silent.mp4", str(video_tree / "silent.mp4")))["status"] == "no_audio"
    bad = probe_video(ProbeTask("broken.mp4", str(video_tree / "broken.mp4")))
    assert bad["status"] == "unreadable" and bad["message"].startswith("broken.mp4: ")
    ok = probe_video(ProbeTask("a/two.mp4", str(video_tree / "a" / "two.mp4")))
    assert ok["status"] == "ok" and abs(ok["duration"] - 7.0) < 0.1


def test_windows_from_fetch_manifest(video_tree: Path, tmp_path: Path) -> None:
    from avdata.fetch import FetchOptions, fetch
    from avdata.table import clips_from_records, write_clips

    recs = [dict(clip_id=f"c{i}", source=s, source_kind="path", start=0.0, end=1.0, dataset="audioscope_v2",
                 split="train", origin_file="l", origin_line=i + 1)
            for i, s in enumerate(["a/one.mp4", "b/one.mp4", "missing.mp4"])]
    write_clips(clips_from_records(recs), tmp_path / "wanted.parquet")
    for link in (False, True):
        opts = FetchOptions(source=f"dir:{video_tree}", out=tmp_path / f"fetched{link}", link=link,
                            min_free_bytes=0, progress=False)
        fetch(tmp_path / "wanted.parquet", opts)
        out = tmp_path / f"clips{link}.parquet"
        s = make_windows(WindowsOptions(inputs=str(opts.manifest_path()), output=str(out), executor="inline"))
        t = read_clips(out)
        assert s.videos == {"ok": 2}                      # the missing video was never fetched
        assert sorted(set(t.column("source").to_pylist())) == ["a/one.mp4", "b/one.mp4"]
        assert t.num_rows == 3
