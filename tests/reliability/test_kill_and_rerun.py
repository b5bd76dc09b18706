"""SIGKILL in the middle of ``shards``, ``render``, ``embed``, ``balance`` and ``index``, then a rerun:
the outputs are byte-identical to an uninterrupted run's and no temporary file is left (issue 25:
"the kill-and-rerun cycles stay byte-identical; keep a test per stage"; fetch and extract have their
ten-kills loops). All use ``tests/kill_loop.py``."""

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


def _tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.endswith(skip) for part in p.relative_to(root).parts)}


def test_embed_killed_after_the_first_chunk_rerun_gives_the_same_bytes(demo_dir: Path, tmp_path: Path) -> None:
    index = demo_dir / "index" / "src_train_segments.csv"
    args = [str(index), "--media", str(demo_dir / "media"), "--chunk-rows", "2", "--workers", "1"]
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    _run(["embed", *args, "-o", str(fresh)])
    kill_after_progress([sys.executable, "-m", "avdata", "embed", *args, "-o", str(killed)],
                        lambda: len(list((killed / "chunks").glob("chunk-*.npy"))) if killed.exists() else 0,
                        settle=0.0)
    _run(["embed", *args, "-o", str(killed)])
    assert (killed / "embeddings.npy").read_bytes() == (fresh / "embeddings.npy").read_bytes()
    assert not (killed / "chunks").exists()


def test_balance_killed_after_the_first_block_rerun_gives_the_same_bytes(demo_dir: Path, tmp_path: Path) -> None:
    b = demo_dir / "balance"
    args = ["--seeds", str(demo_dir / "index" / "src_balanced_train_segments.csv"), "--seed-emb", str(b / "emb_seeds"),
            "--pool", str(demo_dir / "index" / "src_eval_segments.csv"), "--pool-emb", str(b / "emb_pool"), "-k", "4",
            "--no-report"]
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    _run(["balance", *args, "-o", str(fresh)])
    kill_after_progress([sys.executable, "-m", "avdata", "balance", *args, "-o", str(killed)],
                        lambda: len(list(killed.rglob("*.npz"))) if killed.exists() else 0, settle=0.0)
    _run(["balance", *args, "-o", str(killed)])
    skip = ("balance_manifest.parquet",)
    assert _tree(killed, skip) == _tree(fresh, skip) and (killed / "knn_top4.jsonl").is_file()


def test_index_killed_mid_run_rerun_gives_the_same_bytes(demo_copy: Path, tmp_path: Path) -> None:
    d = demo_copy          # --features writes into the media root: a copy
    args = [str(d / "clips.parquet"), "--manifest", str(d / "media" / "extract_manifest.parquet"),
            "--media", str(d / "media"), "--features", "--workers", "1"]
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    _run(["index", *args, "-o", str(fresh)])
    kill_after_progress([sys.executable, "-m", "avdata", "index", *args, "-o", str(killed)],
                        lambda: len(list(killed.rglob("*.arrows"))) if killed.exists() else 0, settle=0.0)
    _run(["index", *args, "-o", str(killed)])
    for name in sorted(p.name for p in fresh.glob("src_*.csv")):
        assert (killed / name).read_bytes() == (fresh / name).read_bytes(), name
