"""Extract's bulk plan (missing videos, finished and failed segments settled column-wise) gives the
same manifest rows, outputs and totals as the per-item plan, on first runs, reruns and retries."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from avdata.extract import bulk_plan as extract_bulk
from avdata.extract import run as extract_run
from avdata.extract.bulk_plan import ROW_COLUMN, BulkPlan, chunk_dirs
from avdata.extract.plan import chunk_dir
from avdata.extract.run import ExtractOptions, run_extract
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.fetch import FetchOptions, fetch
from avdata.manifest import latest, read_manifest
from avdata.media.synth import SynthSpec, make_video
from avdata.table import clips_from_records, read_clips, write_clips


def _per_item(clips: Path, videos: Path, stems: list[str], manifest: Path, write: object, **_: object) -> BulkPlan:
    """The bulk plan switched off: every row goes to the per-item plan."""
    t = read_clips(clips).select(["clip_id", "source", "source_kind", "start", "end"])
    t = t.append_column(ROW_COLUMN, pa.array(range(t.num_rows), pa.int64()))
    return BulkPlan(remaining=t, segments=0, failed_before=0, videos_missing=0, missing=0)


def _world(tmp_path: Path) -> tuple[Path, Path]:
    videos = tmp_path / "videos"
    (videos / "yfcc" / "827").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spec = SynthSpec(duration=12.0, width=64, height=48, fps=10, channels=1, sample_rate=16000)
    make_video(videos / "realvideo01.mp4", spec)
    make_video(videos / "yfcc" / "827" / "clip.mp4", spec)
    make_video(elsewhere / "far.mp4", spec)
    os.symlink(elsewhere, videos / "linked")
    sources = [("realvideo01", "youtube")] * 2 + [(f"gone{i:07d}", "youtube") for i in range(6)] + [
        ("yfcc/827/clip.mp4", "path"), ("yfcc/000/absent.mp4", "path"), ("linked/far.mp4", "path"),
        ("linked/absent.mp4", "path"), ("./yfcc/827/clip.mp4", "path"), ("bad/id", "youtube"),
        ("gone0000001", "youtube")]
    records = [dict(clip_id=f"c{i % 14}", source=s, source_kind=k, start=4.0 + (i % 2), end=7.0 + (i % 2),
                    dataset="audioset", split="eval", origin_file="t.csv", origin_line=i + 1)
               for i, (s, k) in enumerate(sources)]
    records[1]["clip_id"] = "c1b"
    clips = tmp_path / "clips.parquet"
    write_clips(clips_from_records(records), clips)
    return videos, clips


def _state(out: Path) -> tuple[list[dict], dict[str, int]]:
    t = latest(read_manifest(out / "extract_manifest.parquet", EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS))
    rows = sorted(({k: v for k, v in r.items() if k not in ("seconds", "_seq")} for r in t.to_pylist()),
                  key=lambda r: (r["clip_id"], r["clip"]))
    files = {str(p.relative_to(out)): p.stat().st_size for p in out.rglob("*")
             if p.is_file() and "extract_manifest.parquet" not in p.parts}
    return rows, files


def _totals(s: extract_run.ExtractSummary) -> tuple:
    return s.segments, s.videos, s.clips_ok, s.clips_skipped, s.failed, s.failed_before


@pytest.mark.slow
@pytest.mark.parametrize("batch", [None, 3])
def test_bulk_plan_equals_per_item_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int | None) -> None:
    """``batch``: the clip table streamed and jobs made a few rows at a time (repeated ids and
    videos across batches)."""
    if batch:
        monkeypatch.setattr(extract_bulk, "CHUNK_ROWS", batch)
        monkeypatch.setattr(extract_run, "JOB_ROWS", batch - 1)
    videos, clips = _world(tmp_path)
    bulk, item = tmp_path / "bulk", tmp_path / "item"

    def both(retry: bool = False) -> None:
        b = run_extract(clips, ExtractOptions(videos=str(videos), out=str(bulk), workers=1, executor="inline",
                                              show_progress=False, chunk_size=4, retry_failed=retry))
        with monkeypatch.context() as m:
            m.setattr(extract_run, "bulk_plan", _per_item)
            i = run_extract(clips, ExtractOptions(videos=str(videos), out=str(item), workers=1, executor="inline",
                                                  show_progress=False, chunk_size=4, retry_failed=retry))
        assert _totals(b) == _totals(i)
        assert _state(bulk) == _state(item)

    both()
    rows, files = _state(bulk)
    status = {(r["clip_id"], r["clip"]): r["status"] for r in rows}
    assert status[("c2", "p0")] == "missing_video" and status[("c0", "p0")] == "ok"
    assert status[("c10", "p0")] == "ok"                        # a video through a symlinked folder
    assert {r["dir"] for r in rows} == {"all_0_4", "all_4_8", "all_8_12", "all_12_16"}   # chunks by row
    assert any(f.startswith("all_0_4/") for f in files)
    both()                                                         # rerun: nothing to do
    make_video(videos / "gone0000003.mkv", SynthSpec(duration=12.0, width=64, height=48, fps=10, channels=1,
                                                     sample_rate=16000))
    both(retry=True)                                               # a video appeared; failures retried
    assert {(r["clip_id"], r["clip"]): r["status"] for r in _state(bulk)[0]}[("c5", "p0")] == "ok"


@pytest.mark.parametrize("batch", [None, 2])
def test_bulk_plan_with_fetch_manifest_equals_per_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       batch: int | None) -> None:
    if batch:
        monkeypatch.setattr(extract_bulk, "CHUNK_ROWS", batch)
        monkeypatch.setattr(extract_run, "JOB_ROWS", batch)
    videos, clips = _world(tmp_path)
    fetched = tmp_path / "fetched"
    fetch(clips, FetchOptions(source=f"dir:{videos}", out=fetched, progress=False))
    fm = str(fetched / "fetch_manifest.parquet")
    opts = dict(videos=str(fetched), fetch_manifest=fm, workers=1, executor="inline", show_progress=False)
    b = run_extract(clips, ExtractOptions(out=str(tmp_path / "b"), **opts))
    with monkeypatch.context() as m:
        m.setattr(extract_run, "bulk_plan", _per_item)
        i = run_extract(clips, ExtractOptions(out=str(tmp_path / "i"), **opts))
    assert _totals(b) == _totals(i)
    assert _state(tmp_path / "b") == _state(tmp_path / "i")


def test_chunk_dirs_match_chunk_dir() -> None:
    rows = [0, 1, 34_999, 35_000, 70_001, 10**9]
    assert chunk_dirs(rows, "all", 35_000).to_pylist() == [chunk_dir(r) for r in rows]
    assert chunk_dirs([5, 9], "bal", 3).to_pylist() == [chunk_dir(5, "bal", 3), chunk_dir(9, "bal", 3)]
