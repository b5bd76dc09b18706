"""What a stage needs to know about a media file before cutting it: duration and streams."""

from __future__ import annotations

import os
from dataclasses import dataclass

from avdata.media.reader import MediaReader


@dataclass(frozen=True)
class MediaInfo:
    """Duration (seconds, the file's own timeline), streams, and the audio rate (0 without audio)."""

    duration: float
    has_audio: bool
    has_video: bool
    sample_rate: int


def probe_media(path: str | os.PathLike[str]) -> MediaInfo:
    """Open ``path`` once and report its duration and streams; raise MediaError if unreadable."""
    with MediaReader(path) as reader:
        return MediaInfo(duration=float(reader.duration), has_audio=reader.astream is not None,
                         has_video=reader.vstream is not None, sample_rate=reader.sample_rate)
