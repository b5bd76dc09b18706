"""What an audit measures of one clip, from its files (never from the list).

One row per index line, written through the embed stage (chunks, manifest, resume, executors):
``[measures..., content digest..., vector of the duplicate embedder]``. The measures:

- ``audio_seconds``: the decoded audio's length (the list says ``eos - bos``);
- ``silent_fraction``: the share of 100 ms windows quieter than ``SILENT_DBFS`` (RMS re full scale);
  a digital-silence file is 1.0;
- ``loudest_dbfs``: the loudest window;
- ``motion``: the median over consecutive frame pairs of their mean absolute grey-level change
  (0-255, frames decoded at about 64 px; the median, so that one jump of codec quality -- a key
  frame -- does not hide a still picture); -1 with fewer than two frames (cannot be told);
- ``frames`` / ``frames_listed``: frames read, and the count the frame names say
  (``p0.4_01.jpg`` -> 4): fewer frames than named means the video ended early;
- the digest: the first 64 bits of the SHA-256 of the clip's file bytes (audio, then frames), as
  four 16-bit integers (exact in float32): byte-identical clips share it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avdata.embed import get_embedder
from avdata.embed.base import ClipMedia, Embedder, Embedding, fingerprint_of
from avdata.embed.fingerprint import DecodedClip, decode_clip, fingerprint_vector

MEASURES = ("audio_seconds", "silent_fraction", "loudest_dbfs", "motion", "frames", "frames_listed")
DIGEST_PARTS = 4
HEAD = len(MEASURES) + DIGEST_PARTS
SILENT_DBFS = -60.0
WINDOW_SECONDS = 0.1
FACTORY = "avdata.audit.measure:AuditEmbedder"
_FRAME_COUNT = re.compile(r"\.(\d+)_\d+\.[A-Za-z0-9]+$")


def window_levels(audio: np.ndarray, rate: int) -> np.ndarray:
    """RMS level (dBFS) of consecutive 100 ms windows (a last partial window counts if >= 50 ms)."""
    n = max(1, int(round(WINDOW_SECONDS * rate)))
    full = len(audio) // n
    parts = [audio[:full * n].reshape(full, n)] if full else []
    rest = audio[full * n:]
    rms = [np.sqrt(np.mean(np.square(p, dtype=np.float64), axis=1)) for p in parts]
    if len(rest) >= n // 2 or not full:
        rms.append(np.array([math.sqrt(float(np.mean(np.square(rest, dtype=np.float64))))]) if len(rest) else
                   np.zeros(0))
    levels = np.concatenate(rms) if rms else np.zeros(0)
    return 20.0 * np.log10(np.maximum(levels, 1e-10))


def motion(frames: list[np.ndarray]) -> float:
    """Median over consecutive frame pairs of the mean absolute grey-level change (-1 with < 2 frames)."""
    if len(frames) < 2:
        return -1.0
    grey = [f.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32) for f in frames]
    changes = []
    for a, b in zip(grey, grey[1:]):
        changes.append(255.0 if a.shape != b.shape else float(np.abs(a - b).mean()))   # other sizes: not still
    return float(np.median(changes))


def frames_named(names: tuple[Path, ...]) -> int:
    """The frame count the names carry (``ID.p0.4_01.jpg`` -> 4), or the number of names."""
    counts = {int(m.group(1)) for p in names if (m := _FRAME_COUNT.search(p.name))}
    return max(counts) if counts else len(names)


def digest_parts(sha256: bytes) -> list[int]:
    """Four 16-bit integers of a clip's SHA-256 (exact in float32)."""
    return [int.from_bytes(sha256[2 * i:2 * i + 2], "big") for i in range(DIGEST_PARTS)]


def measures(clip: DecodedClip, media: ClipMedia) -> list[float]:
    """The ``MEASURES`` of one decoded clip."""
    levels = window_levels(clip.audio, clip.rate)
    silent = float(np.mean(levels < SILENT_DBFS)) if len(levels) else 1.0
    loudest = float(levels.max()) if len(levels) else -200.0
    return [len(clip.audio) / clip.rate, silent, loudest, motion(clip.frames), float(len(clip.frames)),
            float(frames_named(media.frames))]


@dataclass
class AuditEmbedder:
    """Writes ``[measures, digest, duplicate vector]`` as a clip's row (unregistered: only the audit
    uses it, through the embed stage). ``embedder``: the registered embedder whose vectors the
    duplicate search compares (``fingerprint`` shares this decode; another decodes again)."""

    embedder: str = "fingerprint"
    weights: tuple[str, ...] = ()
    name: str = field(default="audit", init=False)
    dim: int = field(default=0, init=False)
    joint_space: bool = field(default=False, init=False)
    inner: Embedder | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        kwargs: dict[str, Any] = {"weights": self.weights} if self.weights else {}
        self.inner = get_embedder(self.embedder, **kwargs)
        self.dim = HEAD + int(self.inner.dim)

    def fingerprint(self) -> str:
        assert self.inner is not None
        return fingerprint_of(self.name, {"silent_dbfs": SILENT_DBFS, "window": WINDOW_SECONDS, "version": 1,
                                          "inner": self.inner.fingerprint()})

    def embed(self, media: ClipMedia) -> Embedding:
        assert self.inner is not None
        clip = decode_clip(media)
        if self.embedder == "fingerprint":
            vector = fingerprint_vector(clip)
        else:
            vector = np.asarray(self.inner.embed(media).vector, dtype=np.float32)
        head = measures(clip, media) + [float(x) for x in digest_parts(clip.sha256)]
        return Embedding(vector=np.concatenate([np.asarray(head, dtype=np.float32), vector]))
