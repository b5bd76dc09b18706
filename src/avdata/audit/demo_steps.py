"""The demo's audit and lock steps, on a small set with planted problems (the demo's stand-in videos
are one synthetic recording cut at different times, so they are near-duplicates of each other).

Six distinct videos split between training and evaluation, plus: a re-encode of a training video
under a second id (another container, codec, frame size, sample rate), a re-encode of an
evaluation video in training (a leak), a still video, a silent one, and one that ends 3 s before
its list row says. Then: ingest -> extract -> index -> ``audit --clean`` -> ``lock`` of the index
and of the cleaned index -> ``lock --check`` -> ``diff``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from avdata.audit.run import AuditOptions, run_audit
from avdata.extract.run import ExtractOptions, run_extract
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.index.build import IndexOptions, build_index
from avdata.ingest import IngestOptions, ingest
from avdata.lock import LockOptions, check_lock, diff_locks, run_lock
from avdata.manifest import STATUS_OK, ManifestWriter, latest, read_manifest
from avdata.media.synth import SynthSpec, make_video
from avdata.sources.problems import Problems

LABEL = "/m/04rlf"
BASE = SynthSpec(duration=12.0, width=160, height=96, fps=10, channels=1)
#          id           split  file   spec changes
VIDEOS: list[tuple[str, str, str, dict[str, Any]]] = [
          ("clean0001aa", "train", "mp4", {"seed": 1}), ("clean0002aa", "train", "mp4", {"seed": 2}),
          ("clean0003aa", "train", "mp4", {"seed": 3}), ("clean0004aa", "train", "mp4", {"seed": 4}),
          ("clean0005aa", "eval", "mp4", {"seed": 5}), ("clean0006aa", "eval", "mp4", {"seed": 6}),
          ("reupload01a", "train", "mkv", {"seed": 1, "width": 96, "height": 58, "video_codec": "mpeg4",
                                           "audio_codec": "mp2", "sample_rate": 32000}),
          ("reupload05a", "train", "mkv", {"seed": 5, "width": 128, "height": 76, "video_codec": "mpeg4",
                                           "audio_codec": "mp2", "sample_rate": 22050}),
          ("stillpic01a", "train", "mp4", {"seed": 7, "still": True}),
          ("silent001aa", "train", "mp4", {"seed": 8, "silent": True}),
          ("shortvid01a", "train", "mp4", {"seed": 9, "duration": 8.0})]


def _videos(folder: Path) -> Path:
    """Write the videos and their fetch manifest (as ``avdata fetch`` would); a rerun writes only
    what is missing, so the manifest does not grow."""
    manifest = folder / "fetch_manifest.parquet"
    done = latest(read_manifest(manifest, FETCH_MANIFEST_SCHEMA), ["source"])
    have = {r["source"] for r in done.to_pylist() if r["status"] == STATUS_OK}
    with ManifestWriter(manifest, FETCH_MANIFEST_SCHEMA) as writer:
        for cid, _, ext, change in VIDEOS:
            target = folder / f"{cid}.{ext}"
            if cid in have and target.is_file():
                continue
            t0 = time.monotonic()
            make_video(target, SynthSpec(**{**BASE.__dict__, **change}))
            writer.write({"source": cid, "source_kind": "youtube", "status": STATUS_OK, "path": target.name,
                          "offset": 0.0, "section_end": None, "bytes": target.stat().st_size,
                          "seconds": time.monotonic() - t0, "attempts": 1, "message": "", "backend": "demo",
                          "source_uri": "demo:synthetic", "deleted": False, "finished_at": time.time()})
    return manifest


def audit_example(out: Path, workers: int | None) -> list[tuple[str, list[str]]]:
    """Run the steps below ``out``; returns the demo's lines of each step ("audit", "lock")."""
    videos = out / "videos"
    fetch_manifest = _videos(videos)
    head = "# avdata demo: an audit set with planted problems\n# YTID, start_seconds, end_seconds, positive_labels\n"
    lists = {"train": out / "balanced_train_segments.csv", "eval": out / "eval_segments.csv"}
    for split, path in lists.items():
        rows = [f'{cid}, 1.000, 11.000, "{LABEL}"' for cid, s, _, _ in VIDEOS if s == split]
        path.write_text(head + "\n".join(rows) + "\n")
    clips = out / "clips.parquet"
    ingest(IngestOptions(format="audioset", files=tuple(str(p) for p in lists.values()), output=str(clips)),
           Problems())
    media = out / "media"
    run_extract(clips, ExtractOptions(videos=str(videos), out=str(media), fetch_manifest=str(fetch_manifest),
                                      workers=workers))
    build_index(IndexOptions(clips=clips, manifest=media / "extract_manifest.parquet", media=media,
                             out=out / "index", workers=workers))
    index = (out / "index" / "src_balanced_train_segments.csv", out / "index" / "src_eval_segments.csv")
    res = run_audit(AuditOptions(index=tuple(map(str, index)), media=media, out=out / "audit", clean=out / "clean",
                                 workers=workers, progress=False))
    audited = [f"a planted set: {len(VIDEOS)} videos through ingest, extract and index -> {out / 'index'}",
               res.summary_text(), *(f"leak: {t} <-> {h}" for t, h in res.leaks),
               f"page: {out / 'audit' / 'groups.html'}; --clean: "
               + ", ".join(f"{n} lines -> {p}" for p, n in res.clean.items())]
    built = run_lock(LockOptions(index=tuple(map(str, index)), media=media, out=out / "build.lock", clips=clips,
                                 fetch_manifest=fetch_manifest, extract_manifest=media / "extract_manifest.parquet",
                                 progress=False))
    checked = check_lock(out / "build.lock", media, show_progress=False)
    run_lock(LockOptions(index=tuple(str(out / "clean" / p.name) for p in index), media=media,
                         out=out / "clean.lock", progress=False))
    diff = diff_locks(out / "build.lock", out / "clean.lock")
    locked = [built.summary_text(), checked.summary_text(),
              "diff build.lock clean.lock: " + "; ".join(
                  f"{split} only in the build: {', '.join(d.only_a) or 'none'}" for split, d in diff.splits.items())]
    return [("audit", audited), ("lock", locked)]
