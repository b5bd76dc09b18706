"""The synthetic media used by every media test must itself be right: check it by decoding."""

from pathlib import Path

import av
import numpy as np
import pytest

from avdata.media.synth import SynthSpec, make_video, read_frame_time_ms, reference_audio, truncate_file


@pytest.mark.parametrize(
    "name,spec",
    [
        ("h264.mp4", SynthSpec(duration=3)),
        ("vp9.webm", SynthSpec(duration=2, video_codec="libvpx-vp9", audio_codec="libopus", sample_rate=48000)),
        ("vfr.mp4", SynthSpec(duration=3, vfr=True)),
    ],
)
def test_frames_show_their_own_time_and_clicks_sit_on_the_grid(tmp_path: Path, name: str, spec: SynthSpec) -> None:
    path = make_video(tmp_path / name, spec)
    with av.open(str(path)) as c:
        frames = [(f.time, read_frame_time_ms(f.to_ndarray(format="rgb24"))) for f in c.decode(video=0)]
    assert len(frames) > 10
    for t, ms in frames:
        assert abs(ms / 1000 - t) < 0.0015
    gaps = np.diff([t for t, _ in frames])
    assert (gaps.max() - gaps.min() > 0.01) == spec.vfr
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    rate = spec.sample_rate
    loud = np.nonzero(np.abs(audio[0]) > 0.6)[0]
    # clicks start every 0.5 s (lossy codecs blur them by a few samples)
    starts = loud[np.insert(np.diff(loud) > rate // 10, 0, True)]
    assert np.allclose(starts[:4], np.arange(4) * rate // 2, atol=rate // 1000)
    # the tone between clicks matches the reference signal
    ref = reference_audio(rate // 4, 2000, rate, 1)[0]
    got = audio[0, rate // 4: rate // 4 + 2000]
    assert np.corrcoef(ref, got)[0, 1] > 0.95


def test_streamless_variants_and_truncation(tmp_path: Path) -> None:
    silent = make_video(tmp_path / "v.mp4", SynthSpec(duration=1, audio_codec=None))
    with av.open(str(silent)) as c:
        assert not c.streams.audio and c.streams.video
    audio_only = make_video(tmp_path / "a.m4a", SynthSpec(duration=1, video_codec=None))
    with av.open(str(audio_only)) as c:
        assert c.streams.audio and not c.streams.video
    size = audio_only.stat().st_size
    assert truncate_file(audio_only, 0.5).stat().st_size == size // 2
