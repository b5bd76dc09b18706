"""A quick check that a downloaded file is media: which streams it has and how long it lasts."""

from __future__ import annotations

import os
from dataclasses import dataclass

import av

from avdata.errors import MediaError


@dataclass(frozen=True)
class MediaCheck:
    video: bool
    audio: bool
    duration: float | None     # seconds, from the container (None when it does not say)
    first_packet: bool         # at least one packet could be read


def check_media(path: str | os.PathLike[str]) -> MediaCheck:
    """Open ``path`` with PyAV, list its streams and read one packet; MediaError if unreadable."""
    try:
        with av.open(str(path)) as c:
            video = any(s.type == "video" for s in c.streams)
            audio = any(s.type == "audio" for s in c.streams)
            duration = c.duration / 1e6 if c.duration else None
            first = False
            if video or audio:
                for packet in c.demux():
                    if packet.size:
                        first = True
                        break
            return MediaCheck(video=video, audio=audio, duration=duration, first_packet=first)
    except (av.FFmpegError, OSError) as e:
        raise MediaError("unreadable", f"{path}: {e}") from e
