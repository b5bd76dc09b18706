"""A labelled synthetic corpus for embedding and balancing tests (and the embed benchmark).

Four classes, each tying a sound texture to a picture:

    tone   steady harmonic tone (random pitch)          red, horizontal stripes
    chirp  rising sweeps, one per second (random range)  green, vertical stripes
    noise  coloured noise (random smoothing)             blue, checkerboard
    click  click trains (random rate)                    yellow, dots

Every clip draws its own parameters (pitch, sweep range, shade, stripe period, phase...) from a
seeded ``numpy.random.Generator``, so clips of a class are alike but not equal. With
``distractors`` (0..1) every clip also gets cues that belong to one modality only and say nothing
about the class: background noise of a random level in the audio, a random background colour in
the pictures (what an audio-visual model should ignore and a hand-made descriptor cannot). With
``objects``, half the clips (at random) also show a white disc and sound its beeps (4 Hz, 3 kHz): an
on-screen source, a tie between audio and pictures within a class. ``build_corpus``
writes one short video per clip, an AudioSet segment list naming the class labels, and runs the
real pipeline on them: ingest -> extract -> index. Any test or benchmark can import it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avdata.extract.run import ExtractOptions, run_extract
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.index.build import IndexOptions, build_index
from avdata.ingest import IngestOptions, ingest
from avdata.manifest import STATUS_OK, ManifestWriter
from avdata.sources.problems import Problems

CLASSES = ("tone", "chirp", "noise", "click")
LABELS = {"tone": "/m/01v_m0", "chirp": "/m/0hdsk", "noise": "/m/0chx_", "click": "/m/07qc9xj"}
RATE = 44100
FPS = 10
WIDTH, HEIGHT = 96, 64
VIDEO_SECONDS = 5.0


def class_audio(cls: str, rng: np.random.Generator, seconds: float = VIDEO_SECONDS, rate: int = RATE,
                distractors: float = 0.0) -> np.ndarray:
    """Mono float32 audio of one clip of class ``cls``."""
    t = np.arange(int(seconds * rate)) / rate
    if cls == "tone":
        f0 = rng.uniform(200, 1000)
        s = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, int(rng.integers(1, 4)) + 1))
    elif cls == "chirp":
        f0, f1 = rng.uniform(300, 800), rng.uniform(2500, 6000)
        frac = t % 1.0
        s = np.sin(2 * np.pi * (f0 * frac + (f1 - f0) * frac ** 2 / 2))
    elif cls == "noise":
        k = int(rng.integers(1, 5))
        s = np.convolve(rng.standard_normal(t.size), np.ones(k) / k, mode="same")
    elif cls == "click":
        s = np.zeros_like(t)
        period = int(rate / rng.uniform(4, 12))
        s[int(rng.integers(0, period))::period] = 1.0
        burst = np.exp(-np.arange(200) / 30.0) * np.sin(2 * np.pi * 2000 * np.arange(200) / rate)
        s = np.convolve(s, burst, mode="same")
    else:
        raise ValueError(cls)
    s = s / (np.abs(s).max() + 1e-9) * rng.uniform(0.2, 0.5)
    if distractors > 0:         # brown-ish noise of a random level: audio-only, unrelated to the class
        noise = np.cumsum(rng.standard_normal(t.size))
        noise = np.convolve(noise - np.convolve(noise, np.ones(400) / 400, mode="same"), np.ones(3) / 3, "same")
        s = s + noise / (np.abs(noise).max() + 1e-9) * rng.uniform(0, 0.5) * distractors
        s = s / max(1.0, float(np.abs(s).max()) / 0.9)
    return s.astype(np.float32)


@dataclass(frozen=True)
class FrameStyle:
    colour: tuple[int, int, int]
    period: float
    phase: float
    background: tuple[int, int, int] | None = None     # a distractor: replaces the dimmed class colour
    disc: tuple[float, float] | None = None            # an on-screen source (centre as fractions of the size)


def class_style(cls: str, rng: np.random.Generator, distractors: float = 0.0) -> FrameStyle:
    base = {"tone": (220, 40, 40), "chirp": (40, 200, 60), "noise": (40, 70, 220), "click": (230, 210, 40)}[cls]
    shade = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in base)
    background = None
    if distractors > 0:
        background = tuple(int(x) for x in rng.integers(0, 256, 3))
    return FrameStyle(shade, float(rng.uniform(6, 14)), float(rng.uniform(0, 6)),  # type: ignore[arg-type]
                      background)  # type: ignore[arg-type]


def class_frame(cls: str, style: FrameStyle, t: float, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """One RGB frame of class ``cls`` at time ``t`` (the pattern drifts with time)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    p, shift = style.period, style.phase + 3.0 * t
    if cls == "tone":
        m = np.sin(2 * np.pi * (yy + shift) / p) > 0
    elif cls == "chirp":
        m = np.sin(2 * np.pi * (xx + shift) / p) > 0
    elif cls == "noise":
        m = ((np.floor((xx + shift) / p) + np.floor(yy / p)) % 2) > 0
    else:
        m = (np.hypot((xx + shift) % (2 * p) - p, yy % (2 * p) - p) < p * 0.45)
    colour = np.array(style.colour, dtype=np.float64)
    back = colour * 0.35 + 20 if style.background is None else np.array(style.background, dtype=np.float64)
    img = np.where(m[..., None], colour, back)
    if style.disc is not None:
        cx, cy = (style.disc[0] + 0.05 * t) % 1.0 * width, style.disc[1] * height
        img[np.hypot(xx - cx, yy - cy) < height * 0.18] = 255
    return img.astype(np.uint8)


def write_class_video(path: Path, cls: str, rng: np.random.Generator, seconds: float = VIDEO_SECONDS,
                      distractors: float = 0.0, objects: bool = False, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """An mp4 (H.264 + AAC, mono 44.1 kHz) of one clip of class ``cls``."""
    audio = class_audio(cls, rng, seconds, distractors=distractors)
    style = class_style(cls, rng, distractors)
    if objects and rng.integers(2):
        t = np.arange(audio.size) / RATE
        beeps = np.sin(2 * np.pi * 3000 * t) * ((t * 4) % 1.0 < 0.3) * 0.3
        audio = (audio + beeps / max(1.0, float(np.abs(audio + beeps).max()) / 0.9)).astype(np.float32)
        style = dataclasses.replace(style, disc=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.3, 0.7))))
    return write_av(path, audio, (class_frame(cls, style, i / FPS, *size) for i in range(int(seconds * FPS))),
                    size=size)


def write_av(path: Path, audio: np.ndarray, frames: Iterable[np.ndarray], fps: int = FPS,
             size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """An mp4 (H.264 + AAC, mono ``RATE``) of mono float32 ``audio`` and RGB ``frames`` at ``fps``
    (``size`` = width, height; a key frame each second)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"preset": "ultrafast", "g": str(fps), "keyint_min": str(fps), "sc_threshold": "0"}
        ast = c.add_stream("aac", rate=RATE)
        ast.layout = "mono"
        ast.options = {"aac_coder": "fast"}
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for pkt in vs.encode(frame):
                c.mux(pkt)
        for pkt in vs.encode():
            c.mux(pkt)
        for start in range(0, audio.size, 1024):
            chunk = audio[start:start + 1024][None, :]
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = RATE, start, Fraction(1, RATE)
            for pkt in ast.encode(af):
                c.mux(pkt)
        for pkt in ast.encode():
            c.mux(pkt)
    return path


def clip_id(cls: str, k: int) -> str:
    """An 11-character YouTube-like id naming the class and the clip number."""
    return f"{cls[:5]:_<5}{k:06d}"


@dataclass
class Corpus:
    root: Path
    media: Path
    index: Path                 # src_balanced_train_segments.csv
    classes: list[str]          # class of each index line, in line order
    ids: list[str]


def build_corpus(root: Path, per_class: int = 10, seed: int = 0, workers: int = 2,
                 seconds: float = VIDEO_SECONDS, distractors: float = 0.0, objects: bool = False,
                 size: tuple[int, int] = (WIDTH, HEIGHT)) -> Corpus:
    """Write the corpus's videos and run ingest, extract and index on them (see the docstring).
    Videos last ``seconds``; each clip is the segment from 0.5 s to ``seconds - 0.5``."""
    rng = np.random.default_rng(seed)
    videos, media, out = root / "videos", root / "media", root / "index"
    rows = []
    with ManifestWriter(videos / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA) as fetched:
        for k in range(per_class):
            for cls in CLASSES:
                cid = clip_id(cls, k)
                target = write_class_video(videos / f"{cid}.mp4", cls, rng, seconds, distractors, objects, size)
                rows.append(f'{cid}, 0.500, {seconds - 0.5:.3f}, "{LABELS[cls]}"')
                fetched.write({"source": cid, "source_kind": "youtube", "status": STATUS_OK, "path": target.name,
                               "offset": 0.0, "section_end": None, "bytes": target.stat().st_size,
                               "seconds": 0.0, "attempts": 1, "message": "", "backend": "test",
                               "source_uri": "test:corpus", "deleted": False, "finished_at": time.time()})
    segments = root / "balanced_train_segments.csv"
    segments.write_text("# synthetic labelled corpus\n# num_ytids\n# YTID, start_seconds, end_seconds, "
                        "positive_labels\n" + "\n".join(rows) + "\n")
    clips = root / "clips.parquet"
    ingest(IngestOptions(format="audioset", files=(str(segments),), output=str(clips)), Problems())
    run_extract(clips, ExtractOptions(videos=str(videos), out=str(media), workers=workers,
                                      fetch_manifest=str(videos / "fetch_manifest.parquet")))
    res = build_index(IndexOptions(clips=clips, manifest=media / "extract_manifest.parquet", media=media, out=out,
                                   workers=workers))
    index = out / "src_balanced_train_segments.csv"
    lines = [json.loads(x) for x in index.read_text().splitlines()]
    by_label = {v: k for k, v in LABELS.items()}
    del res
    return Corpus(root, media, index, [by_label[x["labels"][0]] for x in lines], [x["id"] for x in lines])
