"""Kill a fetch part way (SIGKILL, via the CLI in a subprocess); the rerun finishes without
re-downloading completed files, and no partial file ever sits under a final name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from avdata.fetch import fetch_report
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from fetch_tables import clip_table
from loopback import Behaviour, LoopbackServer


def test_killed_fetch_resumes_without_redownloading(tmp_path: Path, server: LoopbackServer,
                                                    small_video: bytes) -> None:
    rng = np.random.default_rng(7)
    ids = [f"resume{i:05d}" for i in range(16)]
    # real media (fetch probes every download) with a distinct random tail each
    bodies = {v: small_video + rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes() for v in ids}
    for v in ids:
        server.files[f"/v/{v}.mp4"] = bodies[v]
        server.behaviours[f"/v/{v}.mp4"] = Behaviour(delay=0.04)     # ~0.2 s per file
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "avdata", "fetch", str(clips), "--source", server.url + "/v/{id}.mp4",
           "--out", str(out), "--workers", "2", "--min-free", "0", "--backoff", "0.01", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            done = [v for v in ids if (out / f"{v}.mp4").exists()]
            if len(done) >= 5:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert 5 <= len(done) < len(ids)
    # nothing partial under a final name: every final file is complete
    finals = [p for p in out.glob("*.mp4") if not p.name.startswith(".avdata~tmp-")]
    assert len(finals) < len(ids)
    for p in finals:
        assert p.read_bytes() == bodies[p.stem], p
    gets_before = dict(server.gets)

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    for v in done:                               # completed before the kill: never asked again
        assert server.gets[f"/v/{v}.mp4"] == gets_before[f"/v/{v}.mp4"] == 1
    for v in ids:
        assert (out / f"{v}.mp4").read_bytes() == bodies[v]
    assert not [p for p in out.iterdir() if p.name.startswith(".avdata~tmp-")]
    rows = latest(read_manifest(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"])
    assert sorted(rows.column("source").to_pylist()) == ids     # rows the kill lost came back from the archive
    assert set(rows.column("status").to_pylist()) == {"ok"}
    assert fetch_report(out / "fetch_manifest.parquet", clips).fraction == 1.0


class _Killed(BaseException):
    """Stands in for SIGKILL at one precise moment (BaseException: nothing catches it on the way)."""


def test_kill_right_after_the_rename_loses_no_record(tmp_path: Path, server: LoopbackServer,
                                                     monkeypatch, small_video: bytes) -> None:
    """The narrowest window: the file has its final name but the runner has not yet recorded the
    result. The archive row written before the rename still makes the rerun skip it."""
    from avdata.fetch import FetchOptions, fetch
    from avdata.fetch import runner

    body = small_video + np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    server.files["/v/window00001.mp4"] = body
    clips = clip_table(tmp_path / "clips.parquet", [("window00001", "youtube")])
    out = tmp_path / "out"
    opts = FetchOptions(source=server.url + "/v/{id}.mp4", out=out, workers=1, min_free_bytes=0,
                        progress=False)

    def die(self, job, f, t0, attempts):  # noqa: ANN001, ANN202
        assert f.file.read_bytes() == body          # already under its final name
        raise _Killed

    monkeypatch.setattr(runner._Job, "_succeeded", die)
    try:
        fetch(clips, opts)
    except _Killed:
        pass
    monkeypatch.undo()
    assert server.gets["/v/window00001.mp4"] == 1
    summary = fetch(clips, opts)
    assert summary.skipped_done == 1 and sum(summary.counts.values()) == 0
    assert server.gets["/v/window00001.mp4"] == 1
    rows = latest(read_manifest(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"]).to_pylist()
    assert [(r["source"], r["status"], r["path"], r["bytes"]) for r in rows] == [
        ("window00001", "ok", "window00001.mp4", len(body))]
