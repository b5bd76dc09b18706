"""Fixtures of the reliability tests: ``demo_copy``, a copy of the session's demo folder (``demo_dir``,
tests/conftest.py) for a test that changes anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture()
def demo_copy(demo_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "D"
    shutil.copytree(demo_dir, dst, symlinks=True)
    return dst
