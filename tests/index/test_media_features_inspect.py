"""fbank features of a generated tone and decode-checks of written media, on real bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avdata.errors import MediaError
from avdata.media.encode import AudioOptions, write_audio
from avdata.media.features import FBANK, fbank, write_aclip_128
from avdata.media.inspect import check_audio, check_image


def write_tone(path: Path, hz: float, seconds: float, rate: int, fmt: str = "flac", channels: int = 1) -> Path:
    """A sine tone (channel c scaled by 1 - 0.5c), by avdata's own clip encoder."""
    t = np.arange(int(seconds * rate)) / rate
    sig = (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    data = np.stack([sig * (1 - 0.5 * c) for c in range(channels)])
    write_audio(path, data, rate, AudioOptions(format=fmt))
    return path


def kaldi_mel_bin(hz: float, rate: int, bins: int = 128, low: float = 20.0) -> int:
    """The mel bin whose centre is nearest ``hz`` (Kaldi: 1127 ln(1 + f/700), bins evenly spaced)."""
    mel = lambda f: 1127.0 * np.log1p(f / 700.0)  # noqa: E731
    lo, hi = mel(low), mel(rate / 2)
    centres = lo + (hi - lo) / (bins + 1) * np.arange(1, bins + 1)
    return int(np.argmin(np.abs(centres - mel(hz))))


@pytest.mark.parametrize("hz,rate", [(440.0, 44100), (1000.0, 32000), (3000.0, 48000)])
def test_aclip_128_of_a_tone_peaks_in_its_mel_bin(tmp_path: Path, hz: float, rate: int) -> None:
    audio = write_tone(tmp_path / "tone.flac", hz, 3.0, rate, channels=2)
    shape = write_aclip_128(audio, tmp_path / "aclip_128" / "x.p0.npz")
    with np.load(tmp_path / "aclip_128" / "x.p0.npz") as z:
        assert z.files == ["flag"]
        feats = z["flag"]
    n = 3 * rate
    win, shift = int(0.025 * rate), int(0.010 * rate)
    assert feats.shape == shape == (1 + (n - win) // shift, 128)
    assert feats.dtype == np.float32
    peak = feats[5:-5].mean(axis=0).argmax()
    assert peak == kaldi_mel_bin(hz, rate)
    # a lossy copy of the same tone peaks in the same bin
    mp3 = write_tone(tmp_path / "tone.mp3", hz, 3.0, rate, fmt="mp3")
    from avdata.media.features import aclip_128
    assert aclip_128(mp3)[5:-5].mean(axis=0).argmax() == peak


def test_fbank_frame_count_and_low_rate_refusal() -> None:
    x = np.zeros(22050 * 2, dtype=np.float32)
    assert fbank(x, 22050).shape == (FBANK.frame_count(len(x), 22050), 128) == (198, 128)
    with pytest.raises(MediaError) as e:
        fbank(np.zeros(16000, np.float32), 16000)
    assert e.value.code == "fbank_rate_too_low"


def test_check_audio_and_image_on_good_and_broken_files(tmp_path: Path) -> None:
    good = write_tone(tmp_path / "a.flac", 500, 2.5, 22050, channels=2)
    res = check_audio(good)
    assert res.ok and res.samples == int(2.5 * 22050) and res.sample_rate == 22050 and res.channels == 2
    assert res.duration == pytest.approx(2.5)
    half = tmp_path / "half.flac"
    half.write_bytes(good.read_bytes()[:200])
    assert not check_audio(half).ok
    assert check_audio(tmp_path / "none.mp3").code == "missing_file"
    video_only = tmp_path / "v.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(video_only)
    assert check_audio(video_only).code in {"no_audio_stream", "undecodable"}
    img = check_image(video_only)
    assert img.ok and (img.width, img.height) == (64, 48)
    jpg = tmp_path / "f.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(jpg)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpg.read_bytes()[: len(jpg.read_bytes()) // 2])
    assert check_image(jpg).ok
    bad = check_image(cut)
    assert not bad.ok and bad.code == "undecodable" and "cut.jpg" in bad.message
