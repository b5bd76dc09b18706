"""The demo corpus (every stage run on the bundled example) shared by the loader tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from avdata.demo import DemoSummary, run_demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """``run_demo`` once per session: index files with aclip_128 / frame_224 features and weights."""
    return run_demo(tmp_path_factory.mktemp("loaders_demo"), workers=1)


@pytest.fixture(scope="session")
def train_index(demo: DemoSummary) -> Path:
    return demo.out_dir / "index" / "src_train_segments.csv"


@pytest.fixture(scope="session")
def media(demo: DemoSummary) -> str:
    return str(demo.out_dir / "media")
