"""Issue 8 defect 10: an extraction SIGKILLed at random early moments, ten times in a row, makes
progress on every rerun (a kill loses at most the videos in flight) and ends consistent and valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.manifest import latest, read_manifest
from kill_loop import kill_repeatedly
from extract_corpus import check_outputs, decoded_samples, make_corpus


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


@pytest.mark.slow
def test_ten_early_kills_in_a_row_each_make_progress_and_end_valid(tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 16)
    out = tmp_path / "out"
    manifest = out / "extract_manifest.parquet"
    cmd = [sys.executable, "-m", "avdata", "extract", str(tmp_path / "clips.parquet"), "--videos", str(videos),
           "--out", str(out), "--workers", "2", "--no-progress"]

    def every_recorded_clip_decodes() -> None:
        for r in _ok_rows(manifest):
            assert decoded_samples(out / r["audio_file"]) == r["audio_samples"], r
            assert all((out / f).is_file() for f in r["frame_files"])

    counts = kill_repeatedly(cmd, lambda: _videos_on_disk(out) if out.exists() else 0,
                             lambda: len(_ok_rows(manifest)), 48, every_recorded_clip_decodes, seed=8)
    assert all(b > a for a, b in zip(counts, counts[1:])), counts          # progress on every rerun
    assert len(list(manifest.iterdir())) < 20
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    rows = check_outputs(out, manifest)
    assert len(rows) == 48 and len({(r["clip_id"], r["clip"]) for r in rows}) == 48
