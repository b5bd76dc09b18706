"""Decode-checks of written outputs: does an audio clip or a frame really decode, and what is in it.

Checks never raise for a bad file: they return a small result with ``ok``, an error ``code`` and a
one-line ``message``, so that the index stage can count every exclusion by reason. Codes:

- ``missing_file``: no file at that path
- ``undecodable``: the container or a packet cannot be decoded
- ``no_audio_stream``: the file has no audio stream
- ``empty_audio``: the audio stream decodes to zero samples
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from avdata.errors import MediaError

MISSING_FILE = "missing_file"
UNDECODABLE = "undecodable"
NO_AUDIO_STREAM = "no_audio_stream"
EMPTY_AUDIO = "empty_audio"


@dataclass(frozen=True)
class AudioCheck:
    """What a full decode of an audio file found. ``duration`` is decoded samples / rate."""

    ok: bool
    code: str = ""
    message: str = ""
    samples: int = 0
    sample_rate: int = 0
    channels: int = 0

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class ImageCheck:
    """Whether an image file decodes completely, and its size."""

    ok: bool
    code: str = ""
    message: str = ""
    width: int = 0
    height: int = 0


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())


def decode_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode the first audio stream completely: float32 array (channels, samples) and the rate.

    Raises MediaError (code as in this module's docstring) when the file cannot give audio.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(MISSING_FILE, f"{path}: no such file")
    return _decode_first_audio(str(path), str(path))


def decode_audio_bytes(data: bytes, where: str) -> tuple[np.ndarray, int]:
    """``decode_audio`` of an encoded file held in memory (a tar member); ``where`` names it in errors."""
    return _decode_first_audio(io.BytesIO(data), where)


def _decode_first_audio(source: str | io.BytesIO, path: str) -> tuple[np.ndarray, int]:
    try:
        with av.open(source) as container:
            if not container.streams.audio:
                raise MediaError(NO_AUDIO_STREAM, f"{path}: no audio stream")
            stream = container.streams.audio[0]
            frames: list[list[np.ndarray]] = []
            rate = stream.codec_context.sample_rate or stream.rate or 0
            for frame in container.decode(stream):
                rate = frame.sample_rate or rate
                frames.append(_frame_channels(frame))
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as e:
        raise MediaError(UNDECODABLE, f"{path}: {_one_line(e)}") from e
    total = sum(len(f[0]) for f in frames if f)
    if not total:
        raise MediaError(EMPTY_AUDIO, f"{path}: the audio stream holds no samples")
    channels = len(frames[0])
    if any(len(f) != channels for f in frames):
        raise MediaError(UNDECODABLE, f"{path}: the channel count changes within the stream")
    out = np.empty((channels, total), dtype=np.float32)
    for c in range(channels):                  # float32 frames (MP3, AAC, Opus) are not copied before this
        np.concatenate([_to_float32(f[c]) for f in frames], out=out[c])
    return out, int(rate)


def _to_float32(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.int16:
        return arr.astype(np.float32) / 32768.0
    if arr.dtype == np.int32:
        return arr.astype(np.float32) / 2147483648.0
    if arr.dtype == np.uint8:
        return (arr.astype(np.float32) - 128.0) / 128.0
    return arr.astype(np.float32, copy=False)


_PLANAR = {"fltp": np.float32, "s16p": np.int16, "s32p": np.int32, "dblp": np.float64, "u8p": np.uint8}
_PACKED = {"flt": np.float32, "s16": np.int16, "s32": np.int32, "dbl": np.float64, "u8": np.uint8}


def _frame_channels(frame: av.AudioFrame) -> list[np.ndarray]:
    """A decoded frame's samples, one array per channel: views of its planes for the usual sample
    formats (no per-frame ``to_ndarray`` and stacking), ``to_ndarray`` for any other."""
    n, name = frame.samples, frame.format.name
    if name in _PLANAR:                                    # one plane per channel
        return [np.frombuffer(plane, _PLANAR[name], n) for plane in frame.planes]
    channels = _channel_count(frame)
    if name in _PACKED:
        packed = np.frombuffer(frame.planes[0], _PACKED[name], n * channels).reshape(n, channels)
        return [packed[:, c] for c in range(channels)]
    arr = frame.to_ndarray()
    arr = arr.reshape(channels, -1) if frame.format.is_planar else arr.reshape(-1, channels).T
    return list(arr)


def _channel_count(frame: av.AudioFrame) -> int:
    layout = frame.layout
    return int(layout.nb_channels) if hasattr(layout, "nb_channels") else len(layout.channels)


def check_audio(path: str | os.PathLike[str]) -> AudioCheck:
    """Decode an audio file completely and report samples per channel, rate and channels."""
    path = Path(path)
    if not path.is_file():
        return AudioCheck(False, MISSING_FILE, f"{path}: no such file")
    samples = rate = channels = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return AudioCheck(False, NO_AUDIO_STREAM, f"{path}: no audio stream")
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate
                channels = len(frame.layout.channels)
    except (av.FFmpegError, OSError, ValueError) as e:
        return AudioCheck(False, UNDECODABLE, f"{path}: {_one_line(e)}")
    if samples == 0:
        return AudioCheck(False, EMPTY_AUDIO, f"{path}: the audio stream holds no samples")
    return AudioCheck(True, samples=samples, sample_rate=rate, channels=channels)


def check_image(path: str | os.PathLike[str]) -> ImageCheck:
    """Decode an image file completely (not only its header)."""
    path = Path(path)
    if not path.is_file():
        return ImageCheck(False, MISSING_FILE, f"{path}: no such file")
    try:
        with Image.open(path) as img:
            img.load()
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        return ImageCheck(False, UNDECODABLE, f"{path}: {_one_line(e)}")
    return ImageCheck(True, width=width, height=height)
