"""Index files and VIP-ANT media written directly (no extract), for the train tests that need many
small clips fast: ``write_clips`` writes ``{media}/all_0_35000/aclip/{id}.p0.mp3`` and four frames
``{id}.p0.4_0k.jpg`` per clip and the index lines that point at them.

``shortcut_corpus`` has **no** audio-visual correspondence at all: each clip's sound and pictures are
drawn independently, and each clip carries artefacts of one modality only, also drawn independently:
low- or high-rate MP3, audio shorter than the clip (zero-padded when embedded), heavy or light JPEG
compression. A model can only tell matched from mismatched pairs here through a shortcut.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from avdata.media.mp3 import encode_mp3

DIR = "all_0_35000"
WIDTH, HEIGHT = 96, 64


@dataclass
class Written:
    index: Path
    media: Path
    ids: list[str]


def clip_audio(rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """Random texture: a tone of random pitch or coloured noise, random level."""
    t = np.arange(int(seconds * rate)) / rate
    if rng.integers(2):
        s = np.sin(2 * np.pi * rng.uniform(150, 3000) * t)
    else:
        k = int(rng.integers(1, 8))
        s = np.convolve(rng.standard_normal(t.size), np.ones(k) / k, mode="same")
    return (s / (np.abs(s).max() + 1e-9) * rng.uniform(0.1, 0.6)).astype(np.float32)


def clip_frames(rng: np.random.Generator, count: int = 4) -> list[np.ndarray]:
    """Random moving stripes in a random colour."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    colour = rng.integers(0, 256, 3).astype(np.float64)
    period, angle = rng.uniform(5, 20), rng.uniform(0, np.pi)
    out = []
    for k in range(count):
        m = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle) + 4 * k) / period) > 0
        out.append(np.where(m[..., None], colour, 255 - colour).astype(np.uint8))
    return out


def jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_clip(media: Path, cid: str, audio: np.ndarray, rate: int, bitrate: int, frames: list[np.ndarray],
               quality: int, seconds: float = 10.0) -> dict:
    """Write one clip's media; returns its index line (keys in the published order)."""
    (media / DIR / "aclip").mkdir(parents=True, exist_ok=True)
    (media / DIR / "frame").mkdir(parents=True, exist_ok=True)
    (media / DIR / "aclip" / f"{cid}.p0.mp3").write_bytes(encode_mp3(audio[None, :], rate, bitrate))
    names = [f"p0.{len(frames)}_{k + 1:02d}.jpg" for k in range(len(frames))]
    for name, rgb in zip(names, frames):
        (media / DIR / "frame" / f"{cid}.{name}").write_bytes(jpeg(rgb, quality))
    return {"dir": DIR, "aclip": ["p0.mp3"], "frame": names, "aclip_128": None, "frame_224": None, "id": cid,
            "bos": "0.000", "eos": f"{seconds:.3f}", "labels": []}


def write_index(path: Path, lines: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def shortcut_corpus(root: Path, videos: int = 120, seed: int = 0) -> Written:
    """See the module docstring."""
    rng = np.random.default_rng(seed)
    media, lines = root / "media", []
    for v in range(videos):
        cid = f"sc{v:09d}"
        low = bool(rng.integers(2))
        rate, bitrate = (22050, 32_000) if low else (44100, 192_000)
        seconds = 6.0 if rng.integers(2) else 10.0          # short audio: padded when embedded
        audio = clip_audio(rng, seconds, rate)
        quality = 10 if rng.integers(2) else 95
        lines.append(write_clip(media, cid, audio, rate, bitrate, clip_frames(rng), quality))
    return Written(write_index(root / "index" / "src_train_segments.csv", lines), media,
                   [x["id"] for x in lines])


def small_corpus(root: Path, videos: int = 24, seed: int = 0) -> Written:
    """A few quick clips (sound and pictures unrelated) for resume and error tests."""
    rng = np.random.default_rng(seed)
    media, lines = root / "media", []
    for v in range(videos):
        cid = f"sm{v:09d}"
        lines.append(write_clip(media, cid, clip_audio(rng, 10.0, 22050), 22050, 64_000, clip_frames(rng), 90))
    return Written(write_index(root / "index" / "src_train_segments.csv", lines), media, [x["id"] for x in lines])
