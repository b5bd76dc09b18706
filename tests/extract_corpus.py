"""A small extraction corpus (synthetic videos and a clip table) and the checks of a finished
extraction, shared by the extract and executor tests."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.manifest import latest, read_manifest
from avdata.media.synth import SynthSpec, make_video
from avdata.table import clips_from_records, write_clips


def make_corpus(root: Path, n: int, duration: float = 20.0) -> Path:
    videos = root / "videos"
    for i in range(n):
        make_video(videos / f"vid{i:08d}xx.mp4"[-15:], SynthSpec(duration=duration, width=128, height=72))
    records = [dict(clip_id=p.stem, source=p.stem, source_kind="youtube", start=8.0, end=11.0, dataset="audioset",
                    split="eval", origin_file="s.csv", origin_line=i + 1)
               for i, p in enumerate(sorted(videos.glob("*.mp4")))]
    write_clips(clips_from_records(records), root / "clips.parquet")
    return videos


def decoded_samples(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(f.samples for f in c.decode(audio=0))


def check_outputs(out: Path, manifest: Path) -> list[dict]:
    """Every manifest row ok; every file it names decodes; no other file, no temp file."""
    table = read_manifest(manifest, EXTRACT_MANIFEST_SCHEMA)
    rows = latest(table, list(MANIFEST_KEYS)).to_pylist()
    named = set()
    for r in rows:
        assert r["status"] == "ok", r
        assert decoded_samples(out / r["audio_file"]) == r["audio_samples"]
        for f in r["frame_files"]:
            Image.open(out / f).load()
        named |= {r["audio_file"], *r["frame_files"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
               and "extract_manifest.parquet" not in p.parts}
    assert on_disk == named
    return rows
