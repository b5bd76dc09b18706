"""Issue 8 defect 10: an extraction SIGKILLed at random early moments, ten times in a row, makes
progress on every rerun (a kill loses at most the videos in flight) and ends consistent and valid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.manifest import latest, read_manifest
from test_extract_resume import check_outputs, decoded_samples, make_corpus


def _ok_rows(manifest: Path) -> list[dict]:
    rows = latest(read_manifest(manifest, EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS)).to_pylist()
    return [r for r in rows if r["status"] == "ok"]


def _videos_on_disk(out: Path) -> int:
    """Videos whose three audio clips are all on disk (final names only)."""
    per_video: dict[str, int] = {}
    for p in out.rglob("*.mp3"):
        if not p.name.startswith("."):
            stem = p.name.split(".")[0]
            per_video[stem] = per_video.get(stem, 0) + 1
    return sum(n == 3 for n in per_video.values())


def _kill_early(cmd: list[str], out: Path, rng: np.random.Generator) -> None:
    """Start ``cmd`` and SIGKILL its whole process group at a random moment under 3 s, but not
    before one more video's outputs are on disk (plus a moment for its result to reach the
    driver): a kill before any video finished cannot make progress. The moment is taken from the
    files on disk, never from the manifest, so a manifest that lags its files fails the test."""
    before = _videos_on_disk(out) if out.exists() else 0
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    at = float(rng.uniform(0.3, 3.0))
    finished_at = None
    try:
        while proc.poll() is None and time.monotonic() - t0 < 120:
            now = time.monotonic()
            if finished_at is None and _videos_on_disk(out) > before:
                finished_at = now
            if finished_at is not None and now - t0 >= at and now - finished_at >= 0.3:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_ten_early_kills_in_a_row_each_make_progress_and_end_valid(tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 16)
    out = tmp_path / "out"
    manifest = out / "extract_manifest.parquet"
    cmd = [sys.executable, "-m", "avdata", "extract", str(tmp_path / "clips.parquet"), "--videos", str(videos),
           "--out", str(out), "--workers", "2", "--no-progress"]
    rng = np.random.default_rng(8)
    counts = [0]
    for _ in range(10):
        _kill_early(cmd, out, rng)
        ok = _ok_rows(manifest)
        for r in ok:                          # every recorded clip is on disk and decodes
            assert decoded_samples(out / r["audio_file"]) == r["audio_samples"], r
            assert all((out / f).is_file() for f in r["frame_files"])
        counts.append(len(ok))
        if len(ok) == 48:
            break
    assert all(b > a for a, b in zip(counts, counts[1:])), counts          # progress on every rerun
    assert len(list(manifest.iterdir())) < 20
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    rows = check_outputs(out, manifest)
    assert len(rows) == 48 and len({(r["clip_id"], r["clip"]) for r in rows}) == 48
