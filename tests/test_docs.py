"""The documentation site (issue 29): every command has a page naming it, and the site builds with
``--strict`` (a broken link or a renamed function in the API reference fails)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_command_has_a_docs_page_naming_it() -> None:
    from avdata.cli.main import _register_commands, cli

    _register_commands()
    pages = {p: p.read_text() for p in (ROOT / "docs").rglob("*.md")}
    for name in sorted(c for c in cli.commands if not c.startswith("_")):
        assert any(f"avdata {name}" in text for text in pages.values()), f"no docs page names `avdata {name}`"


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert (tmp_path / "site" / "stages" / "balance.html").is_file()
    assert "run_balance" in (tmp_path / "site" / "api.html").read_text()
