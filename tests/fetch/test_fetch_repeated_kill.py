"""Issue 8 defect 10 for fetch: SIGKILLed at random early moments ten times in a row, every rerun
makes progress (a finished download is recorded at once), nothing partial sits under a final name,
and the run ends with every video fetched once and the manifest consistent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from fetch_tables import clip_table
from kill_loop import kill_repeatedly
from loopback import Behaviour, LoopbackServer


def _ok(out: Path) -> dict[str, dict]:
    rows = latest(read_manifest(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"]).to_pylist()
    return {r["source"]: r for r in rows if r["status"] == "ok"}


def _finals(out: Path) -> int:
    return len([p for p in out.glob("*.mp4") if not p.name.startswith(".")]) if out.exists() else 0


@pytest.mark.slow
def test_ten_early_kills_in_a_row_each_make_progress(tmp_path: Path, server: LoopbackServer,
                                                     small_video: bytes) -> None:
    ids = [f"kill{i:07d}" for i in range(24)]
    for v in ids:
        server.files[f"/v/{v}.mp4"] = small_video
        server.behaviours[f"/v/{v}.mp4"] = Behaviour(delay=0.02)
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "avdata", "fetch", str(clips), "--source", server.url + "/v/{id}.mp4",
           "--out", str(out), "--workers", "1", "--min-free", "0", "--no-progress"]
    def every_recorded_video_is_whole() -> None:
        for v, r in _ok(out).items():
            assert (out / r["path"]).read_bytes() == small_video, v

    counts = kill_repeatedly(cmd, lambda: _finals(out), lambda: len(_ok(out)), len(ids),
                             every_recorded_video_is_whole, seed=9, group=False)
    assert all(b > a for a, b in zip(counts, counts[1:])), counts
    gets = dict(server.gets)
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    ok = _ok(out)
    assert sorted(ok) == ids
    for v in ids:
        assert (out / f"{v}.mp4").read_bytes() == small_video
    assert not [p for p in out.rglob("*") if "tmp" in p.name]       # no temporary file left
    # the final run asked only for what the killed runs had not recorded
    assert sum(server.gets[f"/v/{v}.mp4"] - gets.get(f"/v/{v}.mp4", 0) for v in ids) <= len(ids) - counts[-1]
    assert len(list((out / "fetch_manifest.parquet").iterdir())) < 20
