"""Extract where a published VIP-ANT line says: its ``dir``, its ``id``, the clips its ``aclip``
names (``p0.mp3``, ``n0.mp3`` ...) and, per clip, the frame count its ``frame`` names say
(``p0.4_01.jpg`` ... ``p0.4_04.jpg``: 4 frames), so the published file is an index of the media."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from avdata.extract.job import SegmentTask

FRAME_NAME = re.compile(r"(?P<clip>[^.]+)\.(?P<count>\d+)_(?P<k>\d+)\.jpg")


def frame_counts(frames: Sequence[str]) -> dict[str, int]:
    """Clip -> frame count from frame names (``p0.4_01.jpg`` -> p0: 4); names of another pattern count none."""
    counts: dict[str, int] = {}
    for name in frames:
        m = FRAME_NAME.fullmatch(name)
        if m:
            counts[m["clip"]] = max(counts.get(m["clip"], 0), int(m["count"]))
    return counts


def wanted_clips(aclip: Sequence[str], frames: Sequence[str]) -> tuple[tuple[str, str, int], ...]:
    """(clip, audio extension, frame count) for each clip a line lists (audio or frames), in order."""
    counts = frame_counts(frames)
    out: dict[str, tuple[str, str, int]] = {}
    for name in aclip:
        clip, _, ext = name.partition(".")
        out[clip] = (clip, ext, counts.get(clip, 0))
    for clip, n in counts.items():
        out.setdefault(clip, (clip, "", n))
    return tuple(out.values())


def published_segment(seg: SegmentTask, dir: str, name: str, aclip: Sequence[str],
                      frames: Sequence[str]) -> SegmentTask:
    """``seg`` placed and cut as its published line says."""
    return dataclasses.replace(seg, dir=dir, name=name, wanted=wanted_clips(aclip, frames))
