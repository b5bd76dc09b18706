"""The AudioScope commands end to end from the command line: exit codes, problem lines, outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdata.table import read_clips


def _avdata(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_windows_ratings_mom_export(video_tree: Path, tmp_path: Path) -> None:
    clips = tmp_path / "clips.parquet"
    run = _avdata("windows", str(video_tree), "-o", str(clips), "--fractions", "0,0.5,0.5", "--executor", "inline")
    assert run.returncode == 1, run.stderr                      # two videos skipped
    assert "skipped: silent.mp4: no audio stream (no_audio)" in run.stderr
    assert "broken.mp4" in run.stderr and "Traceback" not in run.stderr
    t = read_clips(clips)
    assert t.num_rows == 4 and set(t.column("split").to_pylist()) <= {"validate", "test"}
    rows = t.to_pylist()
    ratings = tmp_path / "ratings.csv"
    lines = []
    for r in rows:
        label = "onscreen" if r["source"] == "a/one.mp4" and r["start"] == 0 else "none"
        lines += [f"{r['source']},{r['start']},{r['end']},r{k},{label}" for k in range(3)]
    lines.append("a/two.mp4,0,5,r1,loud")
    ratings.write_text("\n".join(lines) + "\n")
    rated = tmp_path / "rated.parquet"
    run = _avdata("ratings", str(ratings), "--clips", str(clips), "-o", str(rated))
    assert run.returncode == 1
    assert f"error: {ratings}:{len(lines)}: unknown label 'loud'" in run.stderr
    ann = {(r["source"], r["start"]): r["annotation"] for r in read_clips(rated).to_pylist()}
    assert ann[("a/one.mp4", 0.0)] == "onscreen_unanimous" and ann[("a/one.mp4", 5.0)] is None
    run = _avdata("mom", str(rated), "-o", str(tmp_path / "mom"), "--partners", "2")
    assert run.returncode == 0, run.stderr
    split = next(r["split"] for r in rows if r["source"] == "a/one.mp4")
    name = f"unfiltered_{split}_onscreen_unanimous_plus_random_unfiltered_mom_clips.csv"
    body = (tmp_path / "mom" / name).read_text().splitlines()
    others = [r for r in rows if r["split"] == split and r["source"] != "a/one.mp4"]
    assert len(body) == min(2, len(others))
    assert all(line.startswith("a/one.mp4,0,5,") and ",a/one.mp4," not in line for line in body)
    run = _avdata("export", "audioscope", str(rated), "--subsets", "-o", str(tmp_path / "lists"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "lists" / f"unfiltered_{split}_onscreen_unanimous_clips.csv").read_text() == "a/one.mp4,0,5\n"


@pytest.mark.slow
def test_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    run = _avdata("export", "mixit", str(tmp_path / "t.parquet"), "--subsets", "-o", str(tmp_path / "x"))
    assert run.returncode == 2
    run = _avdata("windows", str(tmp_path), "-o", str(tmp_path / "c.parquet"), "--fractions", "a,b")
    assert run.returncode == 2
    run = _avdata("windows", str(tmp_path), "-o", str(tmp_path / "c.parquet"), "--fractions", "0.5,0.2")
    assert run.returncode == 3 and "split fraction(s)" in run.stderr


def test_score_unknown_embedder(tmp_path: Path) -> None:
    from avdata.table import clips_from_records, write_clips

    write_clips(clips_from_records([dict(clip_id="a", source="a.mp4", source_kind="path", start=0.0, end=5.0,
                                         dataset="audioscope_v2", split="test", origin_file="x", origin_line=1)]),
                tmp_path / "c.parquet")
    (tmp_path / "render").mkdir()
    run = _avdata("score", str(tmp_path / "c.parquet"), "--media", str(tmp_path / "render"), "--embedder", "nope")
    assert run.returncode == 3 and "unknown embedder 'nope'" in run.stderr
