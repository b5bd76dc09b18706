"""MP3 clips from LAME (lameenc) with our Info/LAME tag: decode them with FFmpeg (PyAV) and check the
sample count, the alignment (no shift), CBR at the requested bitrate and the tag's own fields."""

from __future__ import annotations

import os
import struct
import tempfile

import av
import av.logging
import numpy as np
import pytest

from avdata.errors import AvdataError
from avdata.media.encode import AudioOptions, write_audio
from avdata.media.mp3 import (DECODER_DELAY, ENCODER_DELAY, LAME_VERSION, crc16, encode_mp3, frame_offsets,
                              parse_header)


def noise(channels: int, n: int, rate: int, seed: int = 0) -> np.ndarray:
    """Band-limited noise (50 Hz .. 3 kHz): aperiodic, so any shift shows in the correlation."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal((channels, n)), axis=1)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spec[:, (freqs < 50) | (freqs > min(3000, rate / 5))] = 0
    x = np.fft.irfft(spec, n, axis=1)
    return (0.4 * x / max(1e-9, np.abs(x).max())).astype(np.float32)


def decode(data: bytes) -> tuple[np.ndarray, dict, list]:
    """(channels, n) float32 samples, the stream's facts, and whatever FFmpeg logged (warnings up)."""
    av.logging.set_level(av.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.mp3")      # probed as clip files are: by content and extension
        with open(path, "wb") as fh:
            fh.write(data)
        return _decode_file(path)


def _decode_file(path: str) -> tuple[np.ndarray, dict, list]:
    try:
        with av.logging.Capture() as logs:
            with av.open(path) as c:
                s = c.streams.audio[0]
                facts = dict(rate=s.codec_context.sample_rate, bit_rate=s.bit_rate, container_bit_rate=c.bit_rate,
                             duration=c.duration / av.time_base, encoder=s.metadata.get("encoder"))
                chunks = [f.to_ndarray() for f in c.decode(s)]
    finally:
        av.logging.set_level(None)
    # a file of 2-3 frames (a clip of a few ms) is a weak match for the mp3 prober, which says so;
    # that is about guessing the format, not about decoding it
    logs = [entry for entry in logs if "detected only with low score" not in entry[2]]
    return np.concatenate(chunks, axis=1), facts, logs


def best_lag(got: np.ndarray, want: np.ndarray, max_lag: int) -> int:
    size = 1 << int(np.ceil(np.log2(len(got) + len(want))))
    c = np.fft.irfft(np.fft.rfft(got, size) * np.conj(np.fft.rfft(want, size)), size)
    lags = np.r_[0:max_lag, -max_lag:0]
    return int(lags[np.argmax(c[lags])])


CASES = [  # (rate, channels, samples): MPEG-1 (1152-sample frames) and MPEG-2 (576) rates
    (44100, 2, 441000), (44100, 1, 44100 * 2 + 7), (44100, 2, 1), (44100, 1, 47), (44100, 2, 1151),
    (48000, 2, 48000 + 1153), (48000, 1, 576), (32000, 2, 32000 // 3),
    (16000, 1, 16000 * 3 + 575), (16000, 2, 48), (16000, 1, 577), (16000, 2, 4000),
    (22050, 2, 22050 + 1), (22050, 1, 100), (24000, 1, 1151), (8000, 1, 8000 - 1),
]


@pytest.mark.parametrize("rate,channels,n", CASES)
def test_decodes_to_exactly_the_input_samples_with_no_shift(rate: int, channels: int, n: int) -> None:
    x = noise(channels, n, rate)
    bitrate = 128_000 if rate >= 32000 else 64_000
    data = encode_mp3(x, rate, bitrate)
    got, facts, logs = decode(data)
    assert facts["rate"] == rate and got.shape == (channels, n)
    assert logs == []
    if n >= 1000:      # enough signal for a meaningful correlation
        for ch in range(channels):
            assert np.corrcoef(got[ch], x[ch])[0, 1] > 0.99
            assert best_lag(got[ch], x[ch], max_lag=min(n // 2, 2000)) == 0


def test_int16_input_and_quality_settings() -> None:
    x = noise(2, 30000, 44100, seed=3)
    pcm = (x * 32768).astype(np.int16)
    assert encode_mp3(pcm, 44100) == encode_mp3(x, 44100) == encode_mp3(x, 44100, quality=3)
    q7 = encode_mp3(x, 44100, quality=7)
    assert q7 != encode_mp3(x, 44100)
    got, _, _ = decode(q7)
    assert got.shape == x.shape and np.corrcoef(got[0], x[0])[0, 1] > 0.99


@pytest.mark.parametrize("rate,channels,bitrate", [(44100, 2, 128_000), (48000, 1, 96_000), (16000, 1, 32_000),
                                                   (22050, 2, 64_000)])
def test_plays_as_cbr_at_the_requested_bitrate(rate: int, channels: int, bitrate: int) -> None:
    n = rate * 4 + 321
    data = encode_mp3(noise(channels, n, rate, seed=1), rate, bitrate)
    got, facts, logs = decode(data)
    assert got.shape == (channels, n) and logs == []
    assert facts["bit_rate"] == bitrate
    # the container's figure is bytes over the trimmed duration: it includes the tag frame and
    # the frames' share of LAME's delay and padding, so it is a little above the stream's
    assert facts["container_bit_rate"] == pytest.approx(len(data) * 8 / (n / rate), rel=0.002)
    assert bitrate < facts["container_bit_rate"] < bitrate * 1.04
    assert facts["duration"] == pytest.approx(n / rate, abs=0.002)
    assert facts["encoder"] == LAME_VERSION.decode()     # FFmpeg sets it only when the tag CRC checks
    tag = parse_header(data, 0)
    audio = data[tag.size:]
    headers = [parse_header(audio, o) for o in frame_offsets(audio)]
    assert {h.kbps for h in headers} == {bitrate // 1000} and {h.sample_rate for h in headers} == {rate}


def test_tag_fields() -> None:
    n, rate = 44100 * 3 + 11, 44100
    data = encode_mp3(noise(2, n, rate), rate)
    tag = parse_header(data, 0)
    frame, audio = data[:tag.size], data[tag.size:]
    frames = len(frame_offsets(audio))
    at = 4 + tag.side_info
    assert frame[at:at + 4] == b"Info"
    flags, count, size = struct.unpack(">III", frame[at + 4:at + 16])
    assert (flags, count, size) == (15, frames, len(data))
    toc = frame[at + 16:at + 116]
    assert toc[0] * len(data) // 256 <= tag.size and list(toc) == sorted(toc) and toc[99] > 240
    lame = at + 120
    assert frame[lame:lame + 9] == LAME_VERSION
    delay_pad = int.from_bytes(frame[lame + 21:lame + 24], "big")
    delay, pad = delay_pad >> 12, delay_pad & 0xFFF
    assert delay == ENCODER_DELAY and delay + n + pad == frames * 1152
    music_len, music_crc, tag_crc = struct.unpack(">IHH", frame[lame + 28:lame + 36])
    assert music_len == len(data) and music_crc == crc16(audio)
    assert tag_crc == crc16(frame[:lame + 34]) and lame + 34 == 190     # MPEG-1 stereo: first 190 bytes
    assert DECODER_DELAY == 529


def test_crc16_matches_the_reference_bytewise() -> None:
    assert crc16(b"123456789") == 0xBB3D                      # CRC-16/ARC check value
    rng = np.random.default_rng(7)
    for size in (0, 1, 1023, 1024, 1025, 5000, 70001):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        crc = 0
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        assert crc16(data) == crc, size


def test_tag_fits_at_bitrates_too_low_to_hold_it() -> None:
    n = 8000 + 5
    data = encode_mp3(noise(1, n, 8000), 8000, 8_000)        # 72-byte frames; the tag needs 169
    audio_kbps = {parse_header(data[parse_header(data, 0).size:], 0).kbps}
    got, facts, logs = decode(data)
    assert got.shape == (1, n) and logs == [] and audio_kbps == {8} and facts["encoder"] == "LAME3.100"


def test_corruption_is_detected_by_the_decode_check() -> None:
    data = bytearray(encode_mp3(noise(2, 44100, 44100), 44100))
    second = parse_header(data, 0).size + parse_header(data, parse_header(data, 0).size).size
    data[second:second + 4] = b"\x00\x11\x22\x33"          # smash one frame header
    try:
        got, _, logs = decode(bytes(data))
    except av.FFmpegError:
        return
    assert logs or got.shape != (2, 44100)


def test_bad_settings_raise_named_errors() -> None:
    with pytest.raises(AvdataError, match="sample rate"):
        encode_mp3(noise(1, 1000, 96000), 96000)
    with pytest.raises(AvdataError, match="channels"):
        encode_mp3(np.zeros((3, 1000), np.float32), 44100)
    with pytest.raises(AvdataError, match="quality"):
        encode_mp3(np.zeros((1, 1000), np.float32), 44100, quality=10)


def test_write_audio_writes_the_mp3_atomically(tmp_path) -> None:
    x = noise(2, 22050, 44100)
    path = tmp_path / "a" / "clip.mp3"
    write_audio(path, x, 44100, AudioOptions(format="mp3", mp3_quality=7))
    assert path.read_bytes() == encode_mp3(x, 44100, quality=7)
    with pytest.raises(AvdataError):
        write_audio(tmp_path / "a" / "bad.mp3", noise(1, 100, 96000), 96000, AudioOptions())
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.mp3"]
