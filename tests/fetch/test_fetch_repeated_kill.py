"""Issue 8 defect 10 for fetch: SIGKILLed at random early moments ten times in a row, every rerun
makes progress (a finished download is recorded at once), nothing partial sits under a final name,
and the run ends with every video fetched once and the manifest consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from fetch_tables import clip_table
from loopback import Behaviour, LoopbackServer


def _ok(out: Path) -> dict[str, dict]:
    rows = latest(read_manifest(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"]).to_pylist()
    return {r["source"]: r for r in rows if r["status"] == "ok"}


def _finals(out: Path) -> int:
    return len([p for p in out.glob("*.mp4") if not p.name.startswith(".")]) if out.exists() else 0


@pytest.mark.slow
def test_ten_early_kills_in_a_row_each_make_progress(tmp_path: Path, server: LoopbackServer,
                                                     small_video: bytes) -> None:
    ids = [f"kill{i:07d}" for i in range(24)]
    for v in ids:
        server.files[f"/v/{v}.mp4"] = small_video
        server.behaviours[f"/v/{v}.mp4"] = Behaviour(delay=0.02)
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "avdata", "fetch", str(clips), "--source", server.url + "/v/{id}.mp4",
           "--out", str(out), "--workers", "1", "--min-free", "0", "--no-progress"]
    rng = np.random.default_rng(9)
    counts = [0]
    for _ in range(10):
        before = _finals(out)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0, at, landed = time.monotonic(), float(rng.uniform(0.3, 3.0)), None
        try:      # kill at a random moment, but only after one more file landed (files, not the manifest)
            while proc.poll() is None and time.monotonic() - t0 < 60:
                now = time.monotonic()
                if landed is None and _finals(out) > before:
                    landed = now
                if landed is not None and now - t0 >= at and now - landed >= 0.3:
                    break
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        ok = _ok(out)
        for v, r in ok.items():           # every recorded video is complete under its final name
            assert (out / r["path"]).read_bytes() == small_video, v
        counts.append(len(ok))
        if len(ok) == len(ids):
            break
    assert all(b > a for a, b in zip(counts, counts[1:])), counts
    gets = dict(server.gets)
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    ok = _ok(out)
    assert sorted(ok) == ids
    for v in ids:
        assert (out / f"{v}.mp4").read_bytes() == small_video
    assert not [p for p in out.rglob("*") if "tmp" in p.name]       # no temporary file left
    # the final run asked only for what the killed runs had not recorded
    assert sum(server.gets[f"/v/{v}.mp4"] - gets.get(f"/v/{v}.mp4", 0) for v in ids) <= len(ids) - counts[-1]
    assert len(list((out / "fetch_manifest.parquet").iterdir())) < 20
