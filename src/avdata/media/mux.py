"""Write a short video file from decoded pictures and a soundtrack (PyAV): the ``--mp4`` output of
rendered mixtures (clip 1's pictures, the mixture's audio).

Pictures keep their own times (relative to the clip start, millisecond time base), so a
variable frame rate source stays as it was; H.264 (``ultrafast``, one thread) for video; the audio
codec is a choice: ``aac`` (lossy, plays everywhere) or ``flac`` (exact samples, FFmpeg reads it).
The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from avdata.atomic import atomic_path
from avdata.errors import OptionError
from avdata.media.mp3 import pcm_int16

MP4_AUDIO_CODECS = {"aac": ("aac", "fltp"), "flac": ("flac", "s16")}


@dataclass(frozen=True)
class Mp4Options:
    """Audio codec (``aac`` or ``flac``), its bitrate (AAC), and the H.264 quality (CRF)."""

    audio_codec: str = "aac"
    audio_bitrate: int = 128_000
    crf: int = 23

    def __post_init__(self) -> None:
        if self.audio_codec not in MP4_AUDIO_CODECS:
            raise OptionError(f"mp4 audio codec must be one of {', '.join(MP4_AUDIO_CODECS)}; got {self.audio_codec!r}")
        if not 0 <= self.crf <= 51:
            raise OptionError(f"H.264 CRF must be 0..51; got {self.crf}")


def write_mp4(path: str | os.PathLike[str], frames: list[tuple[float, av.VideoFrame]], start: float,
              audio: np.ndarray, rate: int, options: Mp4Options = Mp4Options()) -> None:
    """``frames`` ((time, picture), file timeline) shown from ``start``, and float32 (channels, n)
    ``audio`` at ``rate`` from ``start`` too."""
    codec, sample_fmt = MP4_AUDIO_CODECS[options.audio_codec]
    channels = audio.shape[0]
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            vstream: Any = None
            if frames:
                width, height = frames[0][1].width // 2 * 2, frames[0][1].height // 2 * 2
                vstream = out.add_stream("libx264", rate=25)
                vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
                vstream.codec_context.time_base = Fraction(1, 1000)
                vstream.time_base = Fraction(1, 1000)
                vstream.options = {"preset": "ultrafast", "crf": str(options.crf)}
                vstream.codec_context.thread_count = 1
            astream = out.add_stream(codec, rate=rate, layout=layout)
            astream.codec_context.thread_count = 1
            if codec == "aac":
                astream.bit_rate = options.audio_bitrate
            last = -1
            for t, frame in frames:
                pts = max(last + 1, int(round((t - start) * 1000)))
                last = pts
                pic = frame.reformat(width=vstream.width, height=vstream.height, format="yuv420p")
                pic.pts, pic.time_base = pts, Fraction(1, 1000)
                for packet in vstream.encode(pic):
                    out.mux(packet)
            if vstream is not None:
                for packet in vstream.encode(None):
                    out.mux(packet)
            _encode_audio(out, astream, audio, rate, sample_fmt, layout)


def _encode_audio(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, audio: np.ndarray,
                  rate: int, sample_fmt: str, layout: str) -> None:
    step = stream.codec_context.frame_size or 4096
    n = audio.shape[1]
    for i in range(0, n, step):
        piece = audio[:, i:i + step]
        if sample_fmt == "s16":
            data = pcm_int16(piece).reshape(1, -1)
        else:
            data = np.ascontiguousarray(piece, np.float32)
        frame = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout=layout)
        frame.sample_rate = rate
        frame.pts, frame.time_base = i, Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
