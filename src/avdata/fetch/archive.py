"""The download archive: one JSON line per video that landed under its final name, appended and
flushed the moment it lands (yt-dlp's ``--download-archive`` idea, with the manifest fields).

The manifest is written in batches, so a killed run can lose its last rows; the archive cannot lose
a finished download. A rerun reads it to skip finished videos and copies any rows the manifest
missed back into the manifest. A torn last line (a kill while writing) is ignored.

Several processes may append to one archive (``--executor ray``: each worker records what it
lands): every append holds an exclusive ``flock`` on the file, so lines never interleave, and a
torn line left by a killed process is closed before the next line is written.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


class DownloadArchive:
    """Append-only JSON-lines record of finished videos; the last line for a source wins."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()

    def load(self) -> dict[str, dict[str, Any]]:
        """Source -> its last archived row (small archives; a big one is streamed with ``iter_rows``)."""
        return {row["source"]: row for row in self.iter_rows()}

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        """Every well-formed row in file order (a torn or foreign line is skipped); later rows of a
        source replace earlier ones."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("source"), str):
                    yield row

    def add(self, row: Mapping[str, Any]) -> None:
        """Append one row durably (flushed; fsync'd when asked), whole, under an exclusive flock."""
        line = (json.dumps(dict(row), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line   # a torn line from a killed process stays on its own line
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)             # closing releases the lock
