"""The lint and type gates (issue 29): ruff and mypy, configured in pyproject.toml, clean on src/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_ruff_is_clean_on_src() -> None:
    pytest.importorskip("ruff")
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "--output-format", "concise"], cwd=root,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


@pytest.mark.slow
def test_mypy_is_clean_on_src() -> None:
    pytest.importorskip("mypy")
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=root, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
