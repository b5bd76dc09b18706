"""The README's main command, `avdata demo`, runs every stage on the bundled example."""

import subprocess
import sys
from pathlib import Path

import av

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.manifest import latest, read_manifest
from avdata.media.synth import read_frame_time_ms
from avdata.table import read_clips


def test_demo_runs_the_pipeline_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "avdata", "demo", "--out", str(out), "--workers", "2"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    clips = read_clips(out / "clips.parquet")
    rows = latest(read_manifest(out / "media" / "extract_manifest.parquet", EXTRACT_MANIFEST_SCHEMA),
                  list(MANIFEST_KEYS)).to_pylist()
    gold = {r["clip_id"]: r for r in rows if r["clip"] == "p0"}
    assert set(gold) == set(clips.column("clip_id").to_pylist())
    assert all(r["status"] == "ok" for r in rows)
    # frames come from the stand-in section files: the time each frame shows + the section's offset
    # is the source time the manifest says it took
    fetched = {r["source"]: r for r in read_manifest(out / "videos" / "fetch_manifest.parquet").to_pylist()}
    for r in list(gold.values())[:5]:
        offset = fetched[r["source"]]["offset"]
        for name, t in zip(r["frame_files"], r["frame_times"]):
            with av.open(str(out / "media" / name)) as c:
                shown = read_frame_time_ms(next(c.decode(video=0)).to_ndarray(format="rgb24")) / 1000
            assert abs(shown + offset - t) < 0.051      # 10 fps stand-ins
        assert r["start"] <= r["frame_times"][0] < r["start"] + 0.11
    again = subprocess.run([sys.executable, "-m", "avdata", "demo", "--out", str(out), "--workers", "2"],
                           capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "done 0, skipped (already complete)" in again.stdout, again.stdout[-1500:]
