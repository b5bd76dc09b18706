"""Reruns that change nothing and readers that lose one line, not a file (issue 25, defects 3, 4, 6,
9, 14): ingest's typo keeps the table, the demo's reruns neither grow a manifest nor touch the user's
files, ratings read past a non-UTF-8 row, render refuses a four-hour span per row."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from avdata.manifest import read_manifest
from avdata.table import read_clips
from reliability_helpers import avdata

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_a_typo_in_the_input_keeps_the_table_it_would_have_replaced(demo_copy: Path) -> None:
    keep = demo_copy / "lists" / "audioset.parquet"
    rows, data = read_clips(keep).num_rows, keep.read_bytes()
    r = avdata("ingest", "audioset", str(demo_copy / "eval_segment.csv"), "-o", str(keep))
    assert r.returncode == 3 and "nothing written" in r.stderr.splitlines()[-1]
    assert f"{demo_copy / 'eval_segment.csv'}: no such file" in r.stderr
    assert keep.read_bytes() == data and read_clips(keep).num_rows == rows > 0


def _manifests(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): read_manifest(p).num_rows for p in sorted(root.rglob("*manifest.parquet"))
            if p.is_dir()}


@pytest.mark.slow
def test_demo_reruns_grow_no_manifest_and_keep_the_users_files(demo_copy: Path) -> None:
    mine = [demo_copy / "embed" / "chunks" / "mine.txt", demo_copy / "balance" / "knn" / "notes.md",
            demo_copy / "shards" / "README"]
    for p in mine:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"the user's {p.name}")
    counts = []
    for _ in range(3):      # the first rerun in the copied folder re-probes (windows records absolute paths)
        r = avdata("demo", "--out", str(demo_copy), "--workers", "2", timeout=900)
        assert r.returncode == 0, r.stderr[-2000:]
        counts.append(_manifests(demo_copy))
    assert len(counts[0]) >= 7, counts[0]          # fetch, extract, render, embed, balance, shards, windows...
    assert counts[0] == counts[1] == counts[2]
    assert all(p.read_text() == f"the user's {p.name}" for p in mine)


def test_ratings_read_past_a_row_that_is_not_utf8(tmp_path: Path, demo_dir: Path) -> None:
    ratings = (demo_dir / "audioscope" / "ratings.csv").read_bytes().split(b"\n")
    assert len(ratings) > 8
    ratings[5] = ratings[5].replace(b",", b"\xff,", 1)
    bad = tmp_path / "r.csv"
    bad.write_bytes(b"\n".join(ratings))
    good = tmp_path / "good.csv"
    good.write_bytes(b"\n".join(ratings[:5] + ratings[6:]))
    out_bad, out_good = tmp_path / "bad.parquet", tmp_path / "good.parquet"
    clips = demo_dir / "audioscope" / "clips.parquet"
    r = avdata("ratings", str(bad), "--clips", str(clips), "-o", str(out_bad))
    assert r.returncode == 1 and f"{bad}:6: line is not valid UTF-8" in r.stderr, r.stderr
    assert avdata("ratings", str(good), "--clips", str(clips), "-o", str(out_good)).returncode == 0
    n_read = [x for x in r.stdout.splitlines() if "rating(s) read" in x][0].split()[1]
    assert int(n_read) == len([x for x in ratings if x.strip()]) - 2        # the header and the bad row
    assert read_clips(out_bad).equals(read_clips(out_good))


@pytest.mark.slow
def test_render_refuses_a_span_longer_than_the_cap_per_row(tmp_path: Path, demo_dir: Path) -> None:
    videos = demo_dir / "audioscope" / "videos"
    video = sorted(p for p in videos.rglob("*.mp4"))[0].relative_to(videos).as_posix()
    lst = tmp_path / "unfiltered_validate_clips.csv"
    lst.write_text(f"{video},0,14400\n{video},0,5\n")
    out = tmp_path / "r"
    r = avdata("render", str(lst), "--videos", str(videos), "--out", str(out), "--workers", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    rows = {x["end"]: x for x in read_manifest(out / "render_manifest.parquet").to_pylist()}
    assert rows[14400.0]["status"] == "span_too_long" and "--max-length" in rows[14400.0]["message"]
    assert rows[5.0]["status"] == "ok"
    assert sum(p.stat().st_size for p in out.rglob("*.wav")) < 1_000_000
    r = avdata("render", str(lst), "--videos", str(videos), "--out", str(tmp_path / "r2"), "--max-length", "0")
    assert r.returncode == 2


def test_a_wrong_kind_of_npy_names_the_file(tmp_path: Path) -> None:
    from avdata.arrays import load_npy
    from avdata.errors import InputFormatError

    for data in (b"", b"\x93NUMPY\x01\x00", b"not numpy"):
        p = tmp_path / f"x{hashlib.sha1(data).hexdigest()[:6]}.npy"
        p.write_bytes(data)
        with pytest.raises(InputFormatError, match=str(p)):
            load_npy(p)
