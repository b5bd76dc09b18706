"""Fixtures of the reliability tests: one ``avdata demo`` folder per session (read-only: a test that
changes anything works on ``demo_copy``), and helpers that run the CLI and fingerprint a tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reliability") / "demo"
    r = subprocess.run([sys.executable, "-m", "avdata", "demo", "--out", str(out), "--workers", "2"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture()
def demo_copy(demo_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "D"
    shutil.copytree(demo_dir, dst, symlinks=True)
    return dst
