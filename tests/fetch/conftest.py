"""Fixtures for fetch tests: small synthetic videos and a loopback HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from avdata.media.synth import SynthSpec, make_video
from fetch_tables import clip_table  # noqa: F401  (tests import it from here too)
from loopback import LoopbackServer


@pytest.fixture(scope="session")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 2 s MP4 (64x48, 10 fps, mono audio): a few tens of kB."""
    p = tmp_path_factory.mktemp("media") / "small.mp4"
    make_video(p, SynthSpec(duration=2.0, width=64, height=48, fps=10, channels=1, sample_rate=16000,
                            audio_bitrate=32000, keyint_seconds=1.0))
    return p.read_bytes()


@pytest.fixture(scope="session")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 40 s MP4 whose frames show their own time (for section downloads)."""
    p = tmp_path_factory.mktemp("media") / "long.mp4"
    make_video(p, SynthSpec(duration=40.0, width=96, height=64, fps=10, channels=1, sample_rate=16000,
                            audio_bitrate=32000, keyint_seconds=2.0))
    return p.read_bytes()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv
