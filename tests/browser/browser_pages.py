"""A real browser for the pages people look at: Debian's headless Chromium (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000"]
CHECK = """<script>
window.addEventListener("load", () => {
  const e = document.documentElement;
  const imgs = Array.from(document.images).map(i => ({src: i.getAttribute("src"),
      ok: i.complete && i.naturalWidth > 0, width: i.getBoundingClientRect().width}));
  const wide = Array.from(document.querySelectorAll("body *")).filter(x => x.scrollWidth > x.clientWidth + 1
      && getComputedStyle(x).overflowX !== "visible").map(x => x.tagName);
  const out = document.createElement("pre");
  out.id = "avdata-check";
  out.textContent = JSON.stringify({scrollWidth: e.scrollWidth, clientWidth: e.clientWidth, images: imgs,
                                    scrolling: wide});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium for the page tests")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def _dump_probe(page: Path, extra: str, width: int) -> subprocess.CompletedProcess:
    """Chromium's final DOM of a copy of ``page`` (beside it, so relative links resolve) with
    ``extra`` before ``</body>``."""
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text("utf-8").replace("</body>", extra + "</body>"), "utf-8")
    try:
        with tempfile.TemporaryDirectory() as profile:
            return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900",
                                   "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()


def page_check(page: Path, width: int = 1280) -> dict:
    """Open ``page`` (a copy with a measuring script, beside the original so its images load) in
    headless Chromium at ``width`` px and return what the script measured."""
    r = _dump_probe(page, CHECK, width)
    start = r.stdout.find('<pre id="avdata-check">')
    assert start >= 0, (r.returncode, r.stderr[-2000:])
    body = r.stdout[start + len('<pre id="avdata-check">'):]
    import html

    return json.loads(html.unescape(body[:body.find("</pre>")]))


def dump_after(page: Path, script: str, width: int = 1280) -> str:
    """Open a copy of ``page`` (beside it) whose ``script`` runs on load (it may click, fill in,
    navigate) and return the DOM Chromium has in the end."""
    r = _dump_probe(page, f'<script>window.addEventListener("load", () => {{ {script} }});</script>', width)
    assert r.stdout.strip(), (r.returncode, r.stderr[-2000:])
    return r.stdout


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 900) -> Path:
    """A PNG of ``page`` as headless Chromium draws it."""
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                            "--hide-scrollbars", f"--screenshot={out}", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    assert out.is_file(), (r.returncode, r.stderr[-2000:])
    return out
