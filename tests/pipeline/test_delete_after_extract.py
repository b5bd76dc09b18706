"""fetch --delete-after-extract: each fetched video is extracted at once, then deleted if all ok."""

import subprocess
import sys
from pathlib import Path

import av

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from avdata.media.synth import SynthSpec, make_video
from avdata.table import clips_from_records, write_clips


def _row(clip_id: str, path: str, start: float, end: float, line: int) -> dict:
    return dict(clip_id=clip_id, source=path, source_kind="path", start=start, end=end, dataset="audioscope",
                split="test", origin_file="list.csv", origin_line=line)


def test_fetch_extracts_then_deletes_only_verified_videos(tmp_path: Path) -> None:
    store = tmp_path / "store"
    make_video(store / "v" / "a.mp4", SynthSpec(duration=8, width=160, height=90))
    make_video(store / "v" / "b b.mp4", SynthSpec(duration=8, width=160, height=90))
    (store / "v" / "broken.mp4").write_bytes(b"\x00" * 5000)
    clips = tmp_path / "clips.parquet"
    write_clips(clips_from_records([_row("a_0", "v/a.mp4", 1.0, 5.0, 1), _row("a_1", "v/a.mp4", 4.0, 8.0, 2),
                                    _row("b_0", "v/b b.mp4", 2.0, 6.0, 3),
                                    _row("c_0", "v/broken.mp4", 0.0, 4.0, 4)]), clips)
    videos, media = tmp_path / "videos", tmp_path / "media"
    cmd = [sys.executable, "-m", "avdata", "fetch", str(clips), "--source", f"file://{store}/{{path}}",
           "--out", str(videos), "--workers", "2", "--delete-after-extract", "--extract-out", str(media)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr          # the broken video failed
    fetched = latest(read_manifest(videos / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"])
    by_source = {r["source"]: r for r in fetched.to_pylist()}
    assert by_source["v/a.mp4"]["deleted"] and by_source["v/b b.mp4"]["deleted"]
    assert by_source["v/broken.mp4"]["status"] == "bad_media"      # fetch probes every download
    assert not (videos / "v" / "a.mp4").exists() and not (videos / "v" / "b b.mp4").exists()
    assert not (videos / "v" / "broken.mp4").exists()    # so it never lands (nor reaches extract)
    rows = latest(read_manifest(media / "extract_manifest.parquet", EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS))
    gold = {r["clip_id"]: r for r in rows.to_pylist() if r["clip"] == "p0"}
    assert {k for k, r in gold.items() if r["status"] == "ok"} == {"a_0", "a_1", "b_0"}
    assert gold.get("c_0", {}).get("status") != "ok"
    for r in gold.values():
        if r["status"] != "ok":
            continue
        with av.open(str(media / r["audio_file"])) as c:
            samples = sum(f.samples for f in c.decode(audio=0))
        assert samples == round((r["end"] - r["start"]) * r["sample_rate"])
        assert len(r["frame_files"]) == 4 and all((media / f).is_file() for f in r["frame_files"])
    # a rerun has nothing left to fetch or extract from the deleted videos
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "already done: 2" in again.stdout and "done 0," in again.stdout, again.stdout
    assert "bad_media: 1" in again.stdout           # a transient verdict: tried again, still not media
