"""The download archive with several processes appending to one file (``fetch --executor ray``:
every worker records what it lands): whole lines only, under an exclusive flock."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import time
from pathlib import Path

from avdata.fetch.archive import DownloadArchive

# a child process: append ROWS rows of about PAD bytes each as writer NAME
_APPENDER = """
import sys, time
from avdata.fetch.archive import DownloadArchive
path, name, rows, pad = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
archive = DownloadArchive(path)
for i in range(rows):
    archive.add({"source": f"{name}-{i}", "status": "ok", "pad": name[0] * pad})
"""


def _append(path: Path, name: str, rows: int, pad: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), name, str(rows), str(pad)])


def test_concurrent_processes_leave_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "fetch_archive.jsonl"
    procs = [_append(path, f"{w}writer", 150, 70_000) for w in "abcd"]   # lines far above PIPE_BUF
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    rows = [json.loads(line) for line in lines[:-1]]          # every line parses: none interleaved
    assert len(rows) == 600
    assert all(r["pad"] == r["source"][0] * 70_000 for r in rows)
    assert set(DownloadArchive(path).load()) == {f"{w}writer-{i}" for w in "abcd" for i in range(150)}


def test_append_waits_for_the_lock_another_process_holds(tmp_path: Path) -> None:
    path = tmp_path / "fetch_archive.jsonl"
    DownloadArchive(path).add({"source": "first", "status": "ok"})
    before = path.read_bytes()
    with open(path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _append(path, "late", 1, 10)
        time.sleep(1.5)                       # the child is up and blocked on the lock
        assert proc.poll() is None and path.read_bytes() == before
        fcntl.flock(held, fcntl.LOCK_UN)
    assert proc.wait(timeout=60) == 0
    assert set(DownloadArchive(path).load()) == {"first", "late-0"}


def test_a_torn_line_from_another_process_does_not_swallow_the_next_row(tmp_path: Path) -> None:
    path = tmp_path / "fetch_archive.jsonl"
    archive = DownloadArchive(path)
    archive.add({"source": "a", "status": "ok"})
    with open(path, "ab") as fh:              # another process killed in the middle of its line
        fh.write(b'{"source":"torn","sta')
    archive.add({"source": "b", "status": "ok"})   # the same writer, after its first append
    assert set(DownloadArchive(path).load()) == {"a", "b"}
    assert path.read_bytes().endswith(b'"sta\n{"source":"b","status":"ok"}\n')
