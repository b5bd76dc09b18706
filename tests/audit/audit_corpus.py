"""A corpus with planted problems for ``avdata audit`` (and lock/diff), built by the real pipeline.

Clean clips: ``clean`` videos of the four classes of ``tests/class_corpus.py`` with distractors
(clips of one class look and sound alike), split between training and evaluation. Planted:

- ``dup``: one training video and a re-encode of it (another frame size, codec, container, audio
  rate and bitrate) under a second id, also in training;
- ``leak``: an evaluation video and its re-encode in training;
- ``still``: one picture for the whole video; ``silent``: digital silence; ``short``: a video that
  ends 1.5 s before the end its list row gives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from class_corpus import (
    CLASSES,
    FPS,
    LABELS,
    RATE,
    class_audio,
    class_frame,
    class_style,
    write_av,
    write_class_video,
)

from avdata.extract.run import ExtractOptions, run_extract
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.index.build import IndexOptions, build_index
from avdata.ingest import IngestOptions, ingest
from avdata.manifest import STATUS_OK, ManifestWriter
from avdata.sources.problems import Problems

SECONDS = 5.0
PLANTED = {"dup": ("dupaa000001", "dupbb000001"), "leak": ("leake000001", "leakt000001"),
           "still": ("still000001",), "silent": ("silnt000001",), "short": ("short000001",)}


@dataclass
class AuditCorpus:
    root: Path
    media: Path
    train: Path              # src_balanced_train_segments.csv
    eval: Path               # src_eval_segments.csv
    clean: list[str]
    lists: list[Path]
    clips: Path


def reencode(src: Path, dst: Path, width: int, height: int, rate: int) -> Path:
    """The same video in another container, codec, frame size, audio rate and bitrate."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vs = out.add_stream("mpeg4", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.bit_rate = 400_000
        ast = out.add_stream("mp2", rate=rate)
        ast.layout = "mono"
        ast.bit_rate = 96_000
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in inp.decode(inp.streams.video[0]):
            img = frame.reformat(width=width, height=height, format="yuv420p")
            img.pts, img.time_base = frame.pts, frame.time_base
            for pkt in vs.encode(img):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        inp.seek(0)
        for frame in inp.decode(inp.streams.audio[0]):
            for rf in resampler.resample(frame):
                for pkt in ast.encode(rf):
                    out.mux(pkt)
        for rf in resampler.resample(None):
            for pkt in ast.encode(rf):
                out.mux(pkt)
        for pkt in ast.encode():
            out.mux(pkt)
    return dst


def build_audit_corpus(root: Path, clean: int = 12, seed: int = 7) -> AuditCorpus:
    """Write the videos and run ingest -> extract -> index (see the module docstring)."""
    rng = np.random.default_rng(seed)
    videos = root / "videos"
    videos.mkdir(parents=True)
    train_rows, eval_rows, clean_ids = [], [], []
    n = int(SECONDS * FPS)

    def row(cid: str, cls: str, end: float = SECONDS - 0.5) -> str:
        return f'{cid}, 0.500, {end:.3f}, "{LABELS[cls]}"'

    for k in range(clean):
        cls = CLASSES[k % len(CLASSES)]
        cid = f"clean{k:06d}"
        write_class_video(videos / f"{cid}.mp4", cls, rng, SECONDS, distractors=0.5)
        (eval_rows if k % 3 == 2 else train_rows).append(row(cid, cls))
        clean_ids.append(cid)
    a, b = PLANTED["dup"]
    write_class_video(videos / f"{a}.mp4", "tone", rng, SECONDS, distractors=0.5)
    reencode(videos / f"{a}.mp4", videos / f"{b}.mkv", 128, 86, 32000)
    train_rows += [row(a, "tone"), row(b, "tone")]
    e, t = PLANTED["leak"]
    write_class_video(videos / f"{e}.mp4", "chirp", rng, SECONDS, distractors=0.5)
    reencode(videos / f"{e}.mp4", videos / f"{t}.mkv", 64, 44, 22050)
    eval_rows.append(row(e, "chirp"))
    train_rows.append(row(t, "chirp"))
    style = class_style("noise", rng, 0.5)
    write_av(videos / f"{PLANTED['still'][0]}.mp4", class_audio("noise", rng, SECONDS, distractors=0.5),
                [class_frame("noise", style, 0.0)] * n)
    style = class_style("click", rng, 0.5)
    write_av(videos / f"{PLANTED['silent'][0]}.mp4", np.zeros(int(SECONDS * RATE), np.float32),
                [class_frame("click", style, i / FPS) for i in range(n)])
    write_class_video(videos / f"{PLANTED['short'][0]}.mp4", "tone", rng, SECONDS - 1.5, distractors=0.5)
    train_rows += [row(PLANTED["still"][0], "noise"), row(PLANTED["silent"][0], "click"),
                   row(PLANTED["short"][0], "tone")]
    with ManifestWriter(videos / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA) as fetched:
        for target in sorted(videos.glob("*.m*")):
            fetched.write({"source": target.stem, "source_kind": "youtube", "status": STATUS_OK, "path": target.name,
                           "offset": 0.0, "section_end": None, "bytes": target.stat().st_size, "seconds": 0.0,
                           "attempts": 1, "message": "", "backend": "test", "source_uri": "test:corpus",
                           "deleted": False, "finished_at": time.time()})
    head = "# planted audit corpus\n# num_ytids\n# YTID, start_seconds, end_seconds, positive_labels\n"
    lists = [root / "balanced_train_segments.csv", root / "eval_segments.csv"]
    lists[0].write_text(head + "\n".join(train_rows) + "\n")
    lists[1].write_text(head + "\n".join(eval_rows) + "\n")
    clips, media, out = root / "clips.parquet", root / "media", root / "index"
    ingest(IngestOptions(format="audioset", files=tuple(str(p) for p in lists), output=str(clips)), Problems())
    run_extract(clips, ExtractOptions(videos=str(videos), out=str(media), workers=2,
                                      fetch_manifest=str(videos / "fetch_manifest.parquet")))
    build_index(IndexOptions(clips=clips, manifest=media / "extract_manifest.parquet", media=media, out=out, workers=2))
    return AuditCorpus(root, media, out / "src_balanced_train_segments.csv", out / "src_eval_segments.csv",
                       clean_ids, lists, clips)
