"""SIGKILL in the middle of ``shards`` and ``render``, then a rerun: the outputs are byte-identical to
an uninterrupted run's and no temporary file is left (issue 25: "the kill-and-rerun cycles stay
byte-identical; keep a test per stage"; fetch, extract, index, embed and balance have theirs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdata.atomic import TEMP_PREFIX
from kill_loop import kill_after_progress

pytestmark = pytest.mark.slow


def _files(root: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob(pattern)) if p.is_file()}


def _run(argv: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "avdata", *argv], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-1500:]


def test_shards_killed_after_the_first_shard_rerun_gives_the_same_bytes(demo_dir: Path, tmp_path: Path) -> None:
    index = demo_dir / "index" / "src_train_segments.csv"
    args = [str(index), "--media", str(demo_dir / "media"), "--target-size", "300000", "--shuffle", "--workers", "2"]
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    _run(["shards", *args, "--out", str(fresh)])
    kill_after_progress([sys.executable, "-m", "avdata", "shards", *args, "--out", str(killed)],
                        lambda: len(list(killed.glob("*.tar"))) if killed.exists() else 0, settle=0.0)
    assert not (killed / "src_train_segments.shards.json").exists()     # the kill came before the end
    _run(["shards", *args, "--out", str(killed)])
    assert _files(killed, "*.tar") == _files(fresh, "*.tar") and len(_files(fresh, "*.tar")) >= 3
    assert (killed / "src_train_segments.shards.json").read_bytes() == \
        (fresh / "src_train_segments.shards.json").read_bytes()
    assert not [p for p in killed.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def test_render_killed_after_the_first_example_rerun_gives_the_same_bytes(demo_dir: Path, tmp_path: Path) -> None:
    lists = sorted((demo_dir / "audioscope" / "lists").glob("*_clips.csv"))
    assert lists
    args = [str(lists[0]), "--videos", str(demo_dir / "audioscope" / "videos"), "--workers", "2"]
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    _run(["render", *args, "--out", str(fresh)])
    kill_after_progress([sys.executable, "-m", "avdata", "render", *args, "--out", str(killed)],
                        lambda: len(list(killed.rglob("audio.wav"))) if killed.exists() else 0, settle=0.0)
    _run(["render", *args, "--out", str(killed)])
    want = _files(fresh, "*.wav") | _files(fresh, "*.jpg")
    assert want and (_files(killed, "*.wav") | _files(killed, "*.jpg")) == want
    assert (killed / "examples.jsonl").read_bytes() == (fresh / "examples.jsonl").read_bytes()
    assert not [p for p in killed.rglob("*") if p.name.startswith(TEMP_PREFIX)]
