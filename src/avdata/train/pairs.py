"""Which clips train, which validate, and how positive pairs and batches are drawn (the guards).

- **Split by video**: the held-out videos (``val_fraction`` of the videos, chosen with the seed)
  give every one of their clips to validation; no video has clips on both sides.
- **Positives overlap in time**: a positive is one of the clip's frames (time ``t`` in the clip,
  as extract takes them: ``k * (eos - bos) / (n - 1)``) and an audio window of ``window`` rows
  that contains ``t``; a frame later than the clip's real audio is never used.
- **Negatives come from other videos**: a batch holds at most one clip per video, so every
  in-batch negative is another video's clip (never another clip of the same video).
- **Silent and still clips are left out** (their audio or pictures carry no correspondence), as
  are clips whose audio is shorter than one window; ``Exclusions`` counts each reason.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from avdata.train.inputs import ROWS_PER_SECOND

FBANK_WINDOW_S = 0.025 - 0.010          # a 20 ms row's last fbank frame reaches 15 ms past the row


@dataclass(frozen=True)
class TrainClip:
    """One usable clip: where its inputs row is, its video, and its usable frames."""

    source: int                          # which index file (and inputs matrix)
    row: int                             # line / row in that file
    video: str
    audio_rows: int
    slots: tuple[int, ...]               # stored frame slots whose time lies inside the real audio
    times: tuple[float, ...]             # their times in the clip (seconds)


@dataclass
class Exclusions:
    """Clips not used as positives, by reason (``failed``: no inputs row; see the module docstring)."""

    counts: Counter = field(default_factory=Counter)

    def total(self) -> int:
        return sum(self.counts.values())

    def text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "none"


def frame_time(k: int, count: int, clip_seconds: float) -> float:
    """Time of frame ``k`` (0-based) of ``count`` in a clip, as extract takes frames."""
    return 0.0 if count <= 1 else k * clip_seconds / (count - 1)


def audio_end(audio_rows: int) -> float:
    """The time the clip's real audio reaches (the last row's last fbank window)."""
    return audio_rows / ROWS_PER_SECOND + FBANK_WINDOW_S


def window_range(t: float, audio_rows: int, window: int) -> tuple[int, int]:
    """First and last start row of a ``window``-row audio window that contains time ``t``
    (``[s / 50, (s + window) / 50 + 0.015]`` holds ``t``) inside the real audio; empty if lo > hi."""
    lo = max(0, math.ceil((t - FBANK_WINDOW_S) * ROWS_PER_SECOND - 1e-9) - window)
    hi = min(math.floor(t * ROWS_PER_SECOND + 1e-9), audio_rows - window)
    return lo, hi


def window_span(start: int, window: int) -> tuple[float, float]:
    """The time span (seconds) a window of rows ``start:start+window`` hears."""
    return start / ROWS_PER_SECOND, (start + window) / ROWS_PER_SECOND + FBANK_WINDOW_S


def split_videos(videos: Sequence[str], val_fraction: float, seed: int) -> set[str]:
    """The held-out videos: ``round(val_fraction * n)`` of them (at least 2 when any and n >= 4)."""
    unique = sorted(set(videos))
    if val_fraction <= 0 or len(unique) < 4:
        return set()
    n = max(2, int(round(val_fraction * len(unique))))
    n = min(n, len(unique) - 2)
    order = np.random.default_rng([seed, 7]).permutation(len(unique))
    return {unique[i] for i in order[:n]}


@dataclass(frozen=True)
class Positive:
    """One drawn positive: clip, frame slot, first audio row."""

    clip: int
    slot: int
    start: int


def draw_positive(clip_no: int, clip: TrainClip, window: int, rng: np.random.Generator | None) -> Positive:
    """A frame of the clip and a window around it (random with ``rng``; the middle ones without)."""
    j = int(rng.integers(len(clip.slots))) if rng is not None else (len(clip.slots) - 1) // 2
    lo, hi = window_range(clip.times[j], clip.audio_rows, window)
    start = int(rng.integers(lo, hi + 1)) if rng is not None else (lo + hi) // 2
    return Positive(clip_no, clip.slots[j], start)


def batches(clips: Sequence[TrainClip], batch_size: int, rng: np.random.Generator) -> Iterator[list[int]]:
    """Clip numbers in random batches with at most one clip per video (a clip whose video is already
    in the batch waits for the next one); batches of fewer than two clips are not made."""
    carry: list[int] = []
    order = list(rng.permutation(len(clips)))
    while order or carry:
        batch: list[int] = []
        seen: set[str] = set()
        waiting: list[int] = []
        source = carry + order
        carry, order = [], []
        for pos, i in enumerate(source):
            if len(batch) == batch_size:
                order = source[pos:]
                break
            if clips[i].video in seen:
                waiting.append(i)
            else:
                batch.append(i)
                seen.add(clips[i].video)
        carry = waiting
        if len(batch) < 2:
            return
        yield batch
        if not order and carry and len({clips[i].video for i in carry}) < 2:
            return


def negatives(clips: Sequence[TrainClip]) -> list[int]:
    """For validation pairs: for each clip, another clip of another video (the next in order whose
    video differs), so mismatched pairs never share a video."""
    out = []
    n = len(clips)
    for i in range(n):
        for step in range(1, n):
            j = (i + step) % n
            if clips[j].video != clips[i].video:
                out.append(j)
                break
        else:
            out.append(-1)
    return out
