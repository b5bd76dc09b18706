"""``--ray-address`` naming a host and port where nothing listens fails at once with one line
(``ray.init`` alone waits minutes), before any work."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from avdata.executors.ray import ClusterError, check_reachable  # noqa: E402
from extract_corpus import make_corpus  # noqa: E402


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_reachable_refuses_a_closed_port_and_bad_addresses() -> None:
    port = _closed_port()
    with pytest.raises(ClusterError, match=rf"127\.0\.0\.1:{port}: .*ray start --head"):
        check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(ClusterError, match=rf"ray://127\.0\.0\.1:{port}"):
        check_reachable(f"ray://127.0.0.1:{port}")
    with pytest.raises(ClusterError, match="expected auto, HOST:PORT"):
        check_reachable("127.0.0.1:port")
    check_reachable("auto")                      # names no host: left to Ray


def test_check_reachable_accepts_a_listening_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        check_reachable(f"127.0.0.1:{s.getsockname()[1]}")


@pytest.mark.parametrize("stage", ["extract", "fetch"])
def test_cli_with_an_unreachable_cluster_fails_fast_in_one_line(tmp_path: Path, stage: str) -> None:
    videos = make_corpus(tmp_path, 1, duration=3.0)
    out = tmp_path / "out"
    port = _closed_port()
    extra = ["--videos", str(videos)] if stage == "extract" else ["--source", f"dir:{videos}"]
    cmd = [sys.executable, "-m", "avdata", stage, str(tmp_path / "clips.parquet"), *extra, "--out", str(out),
           "--no-progress", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t0 < 60
    assert proc.returncode == 3, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any(f"could not connect to the Ray cluster at 127.0.0.1:{port}" in ln for ln in lines), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.rglob("*.mp4")), "no work before the cluster is reached"
