"""``avdata extract --executor ray`` on a real local Ray instance: the same files and manifest rows
as the local pool, and a killed driver's rerun redoes nothing that was finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from avdata.extract.run import ExtractOptions, run_extract  # noqa: E402
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS  # noqa: E402
from avdata.manifest import latest, read_manifest  # noqa: E402
from extract_corpus import check_outputs, make_corpus  # noqa: E402

TIMING = ("seconds",)


def _rows(manifest: Path) -> list[dict]:
    rows = latest(read_manifest(manifest, EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS)).to_pylist()
    return sorted(({k: v for k, v in r.items() if k not in TIMING and k != "_seq"} for r in rows),
                  key=lambda r: (r["clip_id"], r["clip"]))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "extract_manifest.parquet" not in p.parts}


def _recorded_ok(manifest: Path) -> int:
    try:
        return int(sum(s == "ok" for s in read_manifest(manifest, EXTRACT_MANIFEST_SCHEMA).column("status").to_pylist()))
    except Exception:  # noqa: BLE001  a part being renamed into place: look again
        return 0


@pytest.mark.slow
def test_ray_extract_equals_local_pool(ray_session: None, tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 4)
    clips = tmp_path / "clips.parquet"
    local = ExtractOptions(videos=str(videos), out=str(tmp_path / "local"), workers=2, show_progress=False)
    on_ray = ExtractOptions(videos=str(videos), out=str(tmp_path / "ray"), workers=2, executor="ray",
                            show_progress=False)
    a, b = run_extract(clips, local), run_extract(clips, on_ray)
    assert (a.clips_ok, a.failed) == (b.clips_ok, b.failed) == (12, {})
    assert _rows(local.manifest_path()) == _rows(on_ray.manifest_path())
    assert _files(tmp_path / "local") == _files(tmp_path / "ray")
    check_outputs(tmp_path / "ray", on_ray.manifest_path())


@pytest.mark.slow
def test_killed_ray_driver_rerun_redoes_nothing_finished(ray_session: None, tmp_path: Path) -> None:
    videos = make_corpus(tmp_path, 10)
    out = tmp_path / "out"
    address = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "avdata", "extract", str(tmp_path / "clips.parquet"), "--videos", str(videos),
           "--out", str(out), "--workers", "2", "--no-progress", "--executor", "ray", "--ray-address", address]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / "extract_manifest.parquet"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and _recorded_ok(manifest) < 6:
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)          # the driver; the cluster lives on
    proc.wait()
    proc.stderr.close()
    recorded = latest(read_manifest(manifest, EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS))
    done_before = {(r["clip_id"], r["clip"]) for r in recorded.to_pylist() if r["status"] == "ok"}
    assert 6 <= len(done_before) < 30
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp3")}
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = check_outputs(out, out / "extract_manifest.parquet")
    assert len(rows) == 30
    # every clip the killed run recorded is skipped, its files untouched
    assert f"skipped (already complete) {len(done_before)}" in rerun.stderr
    for r in rows:
        if (r["clip_id"], r["clip"]) in done_before:
            p = out / r["audio_file"]
            assert p.stat().st_mtime_ns == mtimes[p]
