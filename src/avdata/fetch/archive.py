"""The download archive: one JSON line per video that landed under its final name, appended and
flushed the moment it lands (yt-dlp's ``--download-archive`` idea, with the manifest fields).

The manifest is written in batches, so a killed run can lose its last rows; the archive cannot lose
a finished download. A rerun reads it to skip finished videos and copies any rows the manifest
missed back into the manifest. A torn last line (a kill while writing) is ignored.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class DownloadArchive:
    """Append-only JSON-lines record of finished videos; the last line for a source wins."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._tail_checked = False

    def load(self) -> dict[str, dict[str, Any]]:
        """Source -> its last archived row."""
        rows: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return rows
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("source"), str):
                    rows[row["source"]] = row
        return rows

    def add(self, row: Mapping[str, Any]) -> None:
        """Append one row durably (flushed; fsync'd when asked)."""
        line = json.dumps(dict(row), ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                if not self._tail_checked:
                    self._tail_checked = True
                    if fh.tell() > 0 and not _ends_with_newline(self.path):
                        line = "\n" + line   # a torn line from a killed run stays on its own line
                fh.write(line)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
