"""``decode_audio`` reads each frame's planes directly: the same float32 samples as PyAV's
``to_ndarray`` for every sample format, layout and channel count it meets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avdata.errors import MediaError
from avdata.media.inspect import decode_audio, decode_audio_bytes

SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def _reference(path: Path) -> tuple[np.ndarray, int]:
    """Decoded with ``to_ndarray`` per frame, as avdata did before (and as PyAV documents)."""
    chunks, rate = [], 0
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.audio[0]):
            arr = frame.to_ndarray()
            ch = len(frame.layout.channels)
            arr = arr.reshape(ch, -1) if frame.format.is_planar else arr.reshape(-1, ch).T
            if arr.dtype == np.uint8:
                arr = (arr.astype(np.float32) - 128.0) / 128.0
            elif arr.dtype in SCALE:
                arr = arr.astype(np.float32) / SCALE[arr.dtype]
            chunks.append(arr.astype(np.float32))
            rate = frame.sample_rate
    return np.concatenate(chunks, axis=1), rate


def _write(path: Path, fmt: str, codec: str, sample_fmt: str, channels: int, rate: int = 16000) -> None:
    t = np.arange(int(rate * 0.7)) / rate
    wave = np.stack([0.5 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]).astype(np.float32)
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        stream.codec_context.format = sample_fmt
        planar = sample_fmt.endswith("p")
        for start in range(0, wave.shape[1], 1000):
            block = wave[:, start:start + 1000]
            data = {"s16": np.round(block * 32767).astype(np.int16),
                    "s32": np.round(block * 2**31 * 0.99).astype(np.int32),
                    "u8": np.round(block * 127 + 128).astype(np.uint8), "flt": block,
                    "dbl": block.astype(np.float64)}[sample_fmt.rstrip("p")]
            data = np.ascontiguousarray(data) if planar else np.ascontiguousarray(data.T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


CASES = [("wav", "pcm_s16le", "s16", 2), ("wav", "pcm_s32le", "s32", 1), ("wav", "pcm_u8", "u8", 2),
         ("wav", "pcm_f32le", "flt", 6), ("wav", "pcm_f64le", "dbl", 2), ("flac", "flac", "s16", 2),
         ("mp3", "libmp3lame", "fltp", 2), ("adts", "aac", "fltp", 1), ("adts", "aac", "fltp", 6)]


@pytest.mark.parametrize(("fmt", "codec", "sample_fmt", "channels"), CASES)
def test_decode_audio_equals_to_ndarray(tmp_path: Path, fmt: str, codec: str, sample_fmt: str, channels: int) -> None:
    path = tmp_path / f"a.{fmt}"
    try:
        _write(path, fmt, codec, sample_fmt, channels)
    except (av.FFmpegError, ValueError) as e:          # a build without this encoder
        pytest.skip(f"{codec}: {e}")
    want, rate = _reference(path)
    got, got_rate = decode_audio(path)
    assert got.dtype == np.float32 and got.shape == want.shape and got.shape[0] == channels
    assert got_rate == rate and np.array_equal(got, want)
    assert got.flags.c_contiguous and got.flags.writeable
    from_bytes, _ = decode_audio_bytes(path.read_bytes(), "a")
    assert np.array_equal(from_bytes, want)
    assert np.abs(got).max() > 0.3                   # real signal, not zeros


def test_an_audio_file_without_samples_or_stream_is_a_media_error(tmp_path: Path) -> None:
    import wave

    from PIL import Image

    empty = tmp_path / "e.wav"
    with wave.open(str(empty), "wb") as w:                 # a header and no samples
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"")
    picture = tmp_path / "p.jpg"
    Image.new("RGB", (16, 16), "red").save(picture)
    for path, code in ((empty, "empty_audio"), (picture, "no_audio_stream"), (tmp_path / "m.wav", "missing_file")):
        with pytest.raises(MediaError, match=path.name) as info:
            decode_audio(path)
        assert info.value.code == code
