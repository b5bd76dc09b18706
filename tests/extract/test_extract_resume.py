"""Resumable, kill-safe extraction and the ``avdata extract`` command, run for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av

from avdata.executors import get_executor
from avdata.extract.run import ExtractOptions, run_extract
from extract_corpus import check_outputs, make_corpus


def test_rerun_skips_complete_clips_and_redoes_missing_ones(tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 2)
    out = tmp_path / "out"
    opts = ExtractOptions(videos=str(videos), out=str(out), workers=1, show_progress=False)
    first = run_extract(tmp_path / "clips.parquet", opts)
    assert (first.clips_ok, first.clips_skipped, first.failed) == (6, 0, {})
    rows = check_outputs(out, opts.manifest_path())
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp3")}
    again = run_extract(tmp_path / "clips.parquet", opts)
    assert (again.clips_ok, again.clips_skipped) == (0, 6)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp3")} == mtimes
    # a deleted output is redone, alone
    lost = out / rows[0]["frame_files"][2]
    lost.unlink()
    third = run_extract(tmp_path / "clips.parquet", opts)
    assert (third.clips_ok, third.clips_skipped) == (1, 5) and lost.is_file()
    check_outputs(out, opts.manifest_path())


def test_failures_are_kept_until_retry_failed(tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 1)
    hidden = next(videos.glob("*.mp4"))
    hidden.rename(tmp_path / hidden.name)
    opts = ExtractOptions(videos=str(videos), out=str(tmp_path / "out"), workers=1, show_progress=False)
    assert run_extract(tmp_path / "clips.parquet", opts).failed == {"missing_video": 1}
    (tmp_path / hidden.name).rename(hidden)
    again = run_extract(tmp_path / "clips.parquet", opts)
    assert (again.clips_ok, again.failed_before, again.any_failed) == (0, 1, True)
    retried = run_extract(tmp_path / "clips.parquet", ExtractOptions(**{**opts.__dict__, "retry_failed": True}))
    assert (retried.clips_ok, retried.failed, retried.any_failed) == (3, {}, False)
    check_outputs(tmp_path / "out", opts.manifest_path())


def test_time_limit_marks_the_video_and_the_run_goes_on(tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 2)
    opts = ExtractOptions(videos=str(videos), out=str(tmp_path / "out"), workers=2, video_timeout=1e-4,
                          show_progress=False)
    summary = run_extract(tmp_path / "clips.parquet", opts)
    assert summary.failed == {"timeout": 6}        # every planned clip of both videos is marked
    assert not list((tmp_path / "out").rglob(".avdata~tmp-*"))


def _sleepy(x: float) -> float:
    time.sleep(x)
    return x


def test_supervised_executor_kills_an_item_that_overruns() -> None:
    ex = get_executor("local", workers=2, item_timeout=1.0, on_lost=lambda item, why: (why, item))
    t0 = time.monotonic()
    results = list(ex.map_unordered(_sleepy, [0.01, 60.0, 0.02, 0.03, 0.04]))
    assert time.monotonic() - t0 < 20
    assert sorted(map(str, results)) == sorted(map(str, [0.01, 0.02, 0.03, 0.04, ("timeout", 60.0)]))


def test_kill_9_mid_run_then_rerun_completes_with_every_output_valid(tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 10)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "avdata", "extract", str(tmp_path / "clips.parquet"), "--videos", str(videos),
           "--out", str(out), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.rglob("*.mp3"))) < 4 and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)         # the whole run: main process and its workers
    proc.wait()
    proc.stderr.close()
    written = len(list(out.rglob("*.mp3")))
    assert 4 <= written < 30
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = check_outputs(out, out / "extract_manifest.parquet")
    assert len(rows) == 30 and len({(r["clip_id"], r["clip"]) for r in rows}) == 30
    assert "done" in rerun.stderr and "skipped" in rerun.stderr


def test_cli_exit_codes_and_options(tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 1)
    clips = tmp_path / "clips.parquet"
    base = [sys.executable, "-m", "avdata", "extract", str(clips), "--videos", str(videos)]
    ok = subprocess.run(base + ["--out", str(tmp_path / "a"), "--audio-format", "flac", "--sample-rate", "16000",
                                "--mono", "--frames", "2", "--negatives", "0", "--chunk-prefix", "bal",
                                "--workers", "1"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    stem = next(videos.glob("*.mp4")).stem
    flac = tmp_path / "a" / "bal_0_35000" / "aclip" / f"{stem}.p0.flac"
    with av.open(str(flac)) as c:
        assert c.streams.audio[0].codec_context.sample_rate == 16000
        assert sum(f.samples for f in c.decode(audio=0)) == 3 * 16000
    assert sorted(p.name for p in (tmp_path / "a" / "bal_0_35000" / "frame").iterdir()) == [
        f"{stem}.p0.2_01.jpg", f"{stem}.p0.2_02.jpg"]
    (next(videos.glob("*.mp4"))).unlink()
    partial = subprocess.run(base + ["--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=120)
    assert partial.returncode == 1 and "missing_video: 1" in partial.stderr
    bad = subprocess.run(base + ["--out", str(tmp_path / "c"), "--chunk-prefix", "../up"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1 and "../up" in bad.stderr
