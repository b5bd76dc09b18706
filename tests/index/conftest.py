"""An extracted example for the index tests: real AudioSet rows relabelled to generated media.

Until the extraction engine is merged, this fixture plays its part: for each segment it writes what
extraction would write (``{dir}/aclip/{id}.p0.mp3`` from the synthetic signal at the segment's time,
``{dir}/frame/{id}.p0.4_0k.jpg`` showing their own time) and the extraction manifest rows.
At merge, ``build_example`` can call the real engine on ``avdata.media.synth`` videos instead.

Some segments are broken on purpose; ``Example.expected_exclusions`` says how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from real_rows import audioset_rows

from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA
from avdata.manifest import ManifestWriter
from avdata.media.encode import AudioOptions, write_audio
from avdata.media.synth import draw_time_frame, reference_audio
from avdata.table import clips_from_records, write_clips

CHUNK = "all_0_35000"
FRAMES = 4
SECONDS = 10.0


def write_mp3(path: Path, start: float, seconds: float, rate: int, channels: int) -> Path:
    """An MP3 of the synthetic signal from source time ``start``, by avdata's own clip encoder."""
    first, n = int(round(start * rate)), int(round(seconds * rate))
    write_audio(path, reference_audio(first, n, rate, channels), rate, AudioOptions(format="mp3"))
    return path


def frame_times(start: float, end: float, n: int = FRAMES) -> list[float]:
    """VIP-ANT's frame times: n frames evenly from start to end (both included)."""
    step = (end - start) / (n - 1)
    return [start + i * step for i in range(n)]


def write_frames(media: Path, rel_dir: str, clip_id: str, clip: str, start: float, end: float) -> list[str]:
    rels = []
    for k, t in enumerate(frame_times(start, end), 1):
        rel = f"{rel_dir}/frame/{clip_id}.{clip}.{FRAMES}_{k:02d}.jpg"
        (media / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(draw_time_frame(int(round(t * 1000)), 320, 180)).save(media / rel, quality=90)
        rels.append(rel)
    return rels


@dataclass
class Segment:
    clip_id: str
    start: str
    end: str
    labels: list[str]
    dataset: str
    split: str
    captions: list[str] = field(default_factory=list)
    fault: str | None = None          # how this segment is broken (None: good)
    rate: int = 32000
    channels: int = 1
    negatives: int = 0                # n0.. clips written
    bad_negative: bool = False        # n0 written without frames


@dataclass
class Example:
    root: Path
    media: Path
    clips: Path
    manifest: Path
    segments: list[Segment]
    expected_exclusions: dict[str, int]

    def by_id(self, clip_id: str) -> Segment:
        return next(s for s in self.segments if s.clip_id == clip_id)


FAULTS = {  # fault -> exclusion reason the index must count
    "audio_deleted": "audio_missing_file",
    "audio_garbage": "audio_undecodable",
    "audio_short": "audio_too_short",
    "frames_garbage": "no_frame_decodes",
    "extract_failed": "extract_missing_video",
    "not_in_manifest": "not_extracted",
}

AUDIOCAPS_ROW = ("vfY_TJq7n_U", "130.000", "140.000", ["/m/09ddx", "/m/09x0r", "/m/0jbk"], [
    "Rustling occurs, ducks quack and water splashes, followed by an adult female and adult male "
    "speaking and duck calls being blown",
    "Ducks quack as a man speaks and makes a duck sound",
])


def build_example(root: Path, csv_path: Path) -> Example:
    rows = audioset_rows(csv_path, 12)
    plan = [  # (split, fault, extra)
        ("balanced_train", None, dict(rate=44100, channels=2, negatives=1)),
        ("balanced_train", None, dict(negatives=2, bad_negative=True)),
        ("balanced_train", "frames_garbage", {}),
        ("balanced_train", "audio_deleted", {}),
        ("unbalanced_train", None, {}),
        ("unbalanced_train", None, dict(rate=22050)),
        ("unbalanced_train", "extract_failed", {}),
        ("unbalanced_train", None, {}),
        ("eval", None, dict(rate=16000)),
        ("eval", "audio_short", {}),
        ("eval", "audio_garbage", {}),
        ("eval", "not_in_manifest", {}),
    ]
    segments = [Segment(r[0], r[1], r[2], r[3], "audioset", split, fault=fault, **extra)
                for r, (split, fault, extra) in zip(rows, plan)]
    cid, bos, eos, labels, captions = AUDIOCAPS_ROW
    segments.append(Segment(cid, bos, eos, labels, "audiocaps", "val", captions=captions))

    media = root / "media"
    manifest = root / "extract_manifest.parquet"
    with ManifestWriter(manifest, EXTRACT_MANIFEST_SCHEMA) as mw:
        for seg in segments:
            if seg.fault == "not_in_manifest":
                continue
            start, end = float(seg.start), float(seg.end)
            spans = [("p0", start, end)]
            for j in range(seg.negatives):  # negatives before the gold clip, 10 s each
                spans.append((f"n{j}", max(0.0, start - 13.0 * (j + 1)), max(0.0, start - 13.0 * (j + 1)) + 10))
            for clip, b, e in spans:
                row = {"clip_id": seg.clip_id, "clip": clip, "dir": CHUNK, "source": seg.clip_id,
                       "start": b, "end": e, "status": "ok", "message": "", "seconds": 0.1}
                if seg.fault == "extract_failed":
                    row.update(status="missing_video", message="no video file", frame_files=[])
                    mw.write(row)
                    continue
                audio_rel = f"{CHUNK}/aclip/{seg.clip_id}.{clip}.mp3"
                length = 1.0 if seg.fault == "audio_short" else e - b
                write_mp3(media / audio_rel, b, length, seg.rate, seg.channels)
                if seg.fault == "audio_deleted":
                    (media / audio_rel).unlink()
                if seg.fault == "audio_garbage":
                    (media / audio_rel).write_bytes(np.random.default_rng(7).bytes(20000))
                frames = write_frames(media, CHUNK, seg.clip_id, clip, b, e)
                if seg.fault == "frames_garbage":
                    for f in frames:
                        (media / f).write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
                if clip == "n0" and seg.bad_negative:
                    for f in frames:
                        (media / f).unlink()
                row.update(audio_file=audio_rel, audio_samples=int(round(length * seg.rate)),
                           sample_rate=seg.rate, channels=seg.channels, frame_files=frames,
                           frame_times=frame_times(b, e))
                mw.write(row)

    records = [dict(clip_id=s.clip_id, source=s.clip_id, source_kind="youtube", start=float(s.start),
                    end=float(s.end), labels=s.labels, captions=s.captions, dataset=s.dataset, split=s.split,
                    origin_file=str(csv_path.name), origin_line=i + 4) for i, s in enumerate(segments)]
    clips = root / "clips.parquet"
    write_clips(clips_from_records(records), clips)
    expected: dict[str, int] = {}
    for s in segments:
        if s.fault:
            expected[FAULTS[s.fault]] = expected.get(FAULTS[s.fault], 0) + 1
    return Example(root, media, clips, manifest, segments, expected)


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> Example:
    return build_example(tmp_path_factory.mktemp("index_example"), test_data / "balanced_train_segments.csv")
