"""Fixtures for the AudioScope recipe tests: a small folder of synthetic videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from avdata.media.synth import SynthSpec, make_video

SMALL = dict(width=64, height=48, fps=10, channels=1, sample_rate=16000, audio_bitrate=32000, keyint_seconds=1.0)


@pytest.fixture(scope="session")
def video_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``a/one.mp4`` (12.3 s), ``a/two.mp4`` (7 s), ``b/one.mp4`` (6 s, same stem as a/one),
    ``silent.mp4`` (no audio) and ``broken.mp4`` (not media)."""
    root = tmp_path_factory.mktemp("videos")
    make_video(root / "a" / "one.mp4", SynthSpec(duration=12.3, **SMALL))
    make_video(root / "a" / "two.mp4", SynthSpec(duration=7.0, **SMALL))
    make_video(root / "b" / "one.mp4", SynthSpec(duration=6.0, **SMALL))
    make_video(root / "silent.mp4", SynthSpec(duration=6.0, audio_codec=None, **SMALL))
    (root / "broken.mp4").write_bytes(b"this is not a video" * 100)
    return root
