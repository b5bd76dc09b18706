"""Encode clip outputs: audio clips (FLAC, WAV, Opus with PyAV; MP3 with LAME, ``media.mp3``) and
JPEG frames (PyAV).

Every file is written under a temporary name and renamed when complete (``avdata.atomic``).
JPEGs use FFmpeg's mjpeg encoder with ``-q:v``-style quality (2 best .. 31), single-threaded so
that Huffman tables are optimised exactly as ``ffmpeg -q:v Q`` does; it takes the decoder's YUV
frame directly, with no RGB round trip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from avdata.atomic import atomic_path, write_bytes_atomic
from avdata.errors import AvdataError, OptionError
from avdata.media.mp3 import MP3_KBPS, MP3_RATES, encode_mp3, mp3_kbps_for, pcm_int16

AUDIO_FORMATS = {            # extension -> (container format, codec, sample format); MP3: media.mp3
    "mp3": ("mp3", "lame", "s16"),
    "flac": ("flac", "flac", "s16"),
    "wav": ("wav", "pcm_s16le", "s16"),
    "opus": ("ogg", "libopus", "flt"),
}
OPUS_RATES = (48000, 24000, 16000, 12000, 8000)


OPUS_BITRATES = (6_000, 510_000)     # libopus's range, bit/s


@dataclass(frozen=True)
class AudioOptions:
    """Audio clip encoding. ``sample_rate``/``mono``: None/False keep the source's.
    ``mp3_quality``: LAME's algorithm quality 0 (best, slowest) .. 9; None is LAME's default (3).

    Values an encoder would silently change are refused here (``OptionError``), before any work:
    an MP3 or Opus rate the codec lacks, an MP3 bitrate LAME does not have, an Opus bitrate out of
    range. A *source* rate MP3 cannot hold (96 kHz) is resampled to the nearest one it can, and
    ``resolve`` says so."""

    format: str = "mp3"
    sample_rate: int | None = None
    mono: bool = False
    bitrate: int = 128_000            # MP3 and Opus
    mp3_quality: int | None = None

    def __post_init__(self) -> None:
        if self.format not in AUDIO_FORMATS:
            raise OptionError(f"audio format must be one of {', '.join(AUDIO_FORMATS)}; got {self.format!r}")
        if self.sample_rate is not None and not 1000 <= self.sample_rate <= 384000:
            raise OptionError(f"sample rate out of range (1000..384000 Hz): {self.sample_rate}")
        if self.mp3_quality is not None and not 0 <= self.mp3_quality <= 9:
            raise OptionError(f"mp3 quality must be 0..9; got {self.mp3_quality}")
        if self.format == "mp3":
            if self.sample_rate is not None and self.sample_rate not in MP3_RATES:
                raise OptionError(f"MP3 cannot hold {self.sample_rate} Hz; use one of "
                                  f"{', '.join(map(str, MP3_RATES))}")
            kbps = sorted(set(MP3_KBPS[3]) | set(MP3_KBPS[2]))
            if self.bitrate % 1000 or self.bitrate // 1000 not in kbps:
                raise OptionError(f"MP3 bitrate must be one of {', '.join(map(str, kbps))} kbit/s; "
                                  f"got {self.bitrate / 1000:g}")
            if self.sample_rate is not None:
                mp3_kbps_for(self.sample_rate, self.bitrate // 1000, strict=True)
        if self.format == "opus":
            if self.sample_rate is not None and self.sample_rate not in OPUS_RATES:
                raise OptionError(f"Opus cannot hold {self.sample_rate} Hz; use one of "
                                  f"{', '.join(map(str, sorted(OPUS_RATES)))}")
            if not OPUS_BITRATES[0] <= self.bitrate <= OPUS_BITRATES[1]:
                raise OptionError(f"Opus bitrate must be {OPUS_BITRATES[0] // 1000}..{OPUS_BITRATES[1] // 1000} "
                                  f"kbit/s; got {self.bitrate / 1000:g}")

    def output_rate(self, source_rate: int) -> int:
        """The rate written: the option's, else the source's, else (a rate the format cannot
        hold) the nearest one it can (ties go up)."""
        rate = self.sample_rate or source_rate
        allowed = {"mp3": MP3_RATES, "opus": OPUS_RATES}.get(self.format)
        if allowed and rate not in allowed:
            rate = min(allowed, key=lambda r: (abs(r - rate), -r))
        return rate

    def resolve(self, source_rate: int) -> tuple[int, int, str]:
        """(rate, bitrate) written for a source rate, and a note when either differs from what
        was asked (the source's rate for rate, the option for bitrate); "" when nothing changed."""
        rate = self.output_rate(source_rate)
        notes = []
        if rate != (self.sample_rate or source_rate):
            notes.append(f"resampled {source_rate} Hz to {rate} Hz ({self.format} cannot hold {source_rate} Hz)")
        bitrate = self.bitrate
        if self.format == "mp3":
            kbps = mp3_kbps_for(rate, bitrate // 1000)
            if kbps * 1000 != bitrate:
                notes.append(f"MP3 at {rate} Hz has no {bitrate // 1000} kbit/s; wrote {kbps} kbit/s")
                bitrate = kbps * 1000
        return rate, bitrate, "; ".join(notes)

    def output_channels(self, source_channels: int) -> int:
        if self.mono:
            return 1
        if self.format in ("mp3", "opus"):
            return min(2, source_channels)
        return source_channels


@dataclass(frozen=True)
class FrameOptions:
    """Frames per clip, JPEG quality (ffmpeg ``-q:v`` scale: 2 best .. 31) and an optional
    resize so that the shorter side is ``short_side`` pixels (never upscaled)."""

    count: int = 4
    jpeg_quality: int = 2
    short_side: int | None = None

    def __post_init__(self) -> None:
        if self.count < 0:
            raise OptionError(f"frame count must be >= 0; got {self.count}")
        if not 1 <= self.jpeg_quality <= 31:
            raise OptionError(f"JPEG quality (q:v) must be 1..31; got {self.jpeg_quality}")
        if self.short_side is not None and self.short_side < 2:
            raise OptionError(f"short side must be >= 2 pixels; got {self.short_side}")


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def convert_audio(samples: np.ndarray, rate: int, out_rate: int, out_channels: int) -> np.ndarray:
    """Resample and/or remix float32 (channels, n) audio (mono: the channels' mean; mono to stereo:
    both channels the same; other remixes by FFmpeg's matrix); the result has exactly
    ``round(n * out_rate / rate)`` samples and its first sample is the input's first sample."""
    channels, n = samples.shape
    if out_channels == 1 and channels > 1:       # the mean, with or without resampling
        samples, channels = samples.mean(axis=0, keepdims=True, dtype=np.float32), 1
    elif out_channels == 2 and channels == 1:
        samples, channels = np.repeat(samples, 2, axis=0), 2
    if out_rate == rate and out_channels == channels:
        return samples
    want = int(round(n * out_rate / rate))
    if n == 0:
        return np.zeros((out_channels, 0), np.float32)
    resampler = av.AudioResampler(format="fltp", layout=_layout(out_channels), rate=out_rate)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32), format="fltp",
                                       layout=_layout(channels))
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    pieces = [f.to_ndarray() for f in resampler.resample(frame)]
    pieces += [f.to_ndarray() for f in resampler.resample(None)]
    out = np.concatenate(pieces, axis=1) if pieces else np.zeros((out_channels, 0), np.float32)
    if out.shape[1] < want:
        out = np.pad(out, ((0, 0), (0, want - out.shape[1])))
    return np.ascontiguousarray(out[:, :want])


def write_audio(path: str | os.PathLike[str], samples: np.ndarray, rate: int, options: AudioOptions,
                bitrate: int | None = None) -> None:
    """Encode float32 (channels, n) samples at ``rate`` to ``path`` (format from ``options``;
    ``bitrate``: the one ``options.resolve`` chose, default the option's)."""
    if options.format == "mp3":
        write_bytes_atomic(path, encode_mp3(samples, rate, bitrate or options.bitrate, options.mp3_quality))
        return
    fmt, codec, sample_fmt = AUDIO_FORMATS[options.format]
    channels = samples.shape[0]
    layout = _layout(channels)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format=fmt) as out:
            stream = out.add_stream(codec, rate=rate, layout=layout)
            cc = stream.codec_context
            cc.format = sample_fmt
            cc.thread_count = 1
            if options.format == "opus":
                cc.bit_rate = bitrate or options.bitrate
            data = samples
            if sample_fmt == "s16":
                data = pcm_int16(samples).reshape(1, -1)
            elif sample_fmt == "flt":
                data = np.ascontiguousarray(samples.T).reshape(1, -1)
            else:
                data = np.ascontiguousarray(samples)
            frame = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = 0
            frame.time_base = Fraction(1, rate)
            if samples.shape[1]:
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """Size with the shorter side ``short_side`` (even numbers, never upscaled)."""
    if short_side is None or min(width, height) <= short_side:
        return width, height
    if width <= height:
        return short_side, max(2, int(round(height * short_side / width / 2)) * 2)
    return max(2, int(round(width * short_side / height / 2)) * 2), short_side


class JpegWriter:
    """Encodes video frames as JPEG files; keeps one encoder per frame size."""

    def __init__(self, options: FrameOptions) -> None:
        self.options = options
        self._contexts: dict[tuple[int, int], av.VideoCodecContext] = {}
        self._reformatter = VideoReformatter()    # keeps its scaler between frames of one size
        self._pts = 0

    def _context(self, width: int, height: int) -> av.VideoCodecContext:
        ctx = self._contexts.get((width, height))
        if ctx is None:
            ctx = av.CodecContext.create("mjpeg", "w")
            ctx.width, ctx.height = width, height
            ctx.pix_fmt = "yuvj420p"
            ctx.time_base = Fraction(1, 25)
            ctx.thread_count = 1                    # optimal Huffman tables need one thread
            ctx.qscale = True
            ctx.global_quality = self.options.jpeg_quality * 118   # FF_QP2LAMBDA
            ctx.qmin = ctx.qmax = self.options.jpeg_quality
            self._contexts[(width, height)] = ctx
        return ctx

    def encode(self, frame: av.VideoFrame) -> bytes:
        width, height = scaled_size(frame.width, frame.height, self.options.short_side)
        yuv = self._reformatter.reformat(
            frame, width=width, height=height, format="yuvj420p",
            interpolation="BICUBIC" if (width, height) != (frame.width, frame.height) else None)
        yuv.pts = self._pts                       # the encoder wants increasing timestamps
        yuv.time_base = Fraction(1, 25)
        self._pts += 1
        ctx = self._context(width, height)
        packets = ctx.encode(yuv)
        if not packets:
            raise AvdataError("mjpeg encoder returned no packet")
        return bytes(packets[0])

    def write(self, path: str | os.PathLike[str], frame: av.VideoFrame) -> None:
        data = self.encode(frame)
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
