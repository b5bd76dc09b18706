"""Extract each video as soon as the fetch stage has it, so that the source can be deleted
(``avdata fetch --delete-after-extract``): a machine with little disk streams millions of videos."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa

from avdata.extract.job import VideoJob, extract_video
from avdata.extract.run import ExtractOptions, ExtractSummary, _complete, plan_segments
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.manifest import STATUS_OK, ManifestWriter, latest, read_manifest


class ExtractOnFetch:
    """A fetch ``on_fetched`` hook: run the per-video extraction job on the file just fetched and
    answer True (delete the source) only when every clip of the video is ``ok`` and on disk.

    Thread-safe: fetch workers call it concurrently; manifest rows of one video are written and
    flushed together. Use as a context manager (or call ``close``).
    """

    def __init__(self, clips: pa.Table, options: ExtractOptions) -> None:
        self.options = options
        self.summary = ExtractSummary(manifest=str(options.manifest_path()))
        Path(options.out).mkdir(parents=True, exist_ok=True)
        previous = latest(read_manifest(options.manifest_path(), EXTRACT_MANIFEST_SCHEMA), list(MANIFEST_KEYS))
        groups = plan_segments(clips, options, previous, self.summary)
        self._segments = {source: tuple(segs) for (_kind, source), segs in groups.items()}
        self._writer = ManifestWriter(options.manifest_path(), EXTRACT_MANIFEST_SCHEMA, keys=MANIFEST_KEYS,
                                      flush_rows=1 << 62, flush_seconds=float("inf"))
        self._lock = threading.Lock()

    def __call__(self, fetched: Any) -> bool:
        """``fetched`` has ``source``, ``file`` (absolute path) and ``offset`` (a fetch result)."""
        segments = self._segments.get(fetched.source)
        if not segments:
            return True                      # nothing left to extract from this video
        job = VideoJob(out=str(self.options.out), video=str(fetched.file), segments=segments,
                       options=self.options.media, offset=float(fetched.offset or 0.0),
                       time_limit=self.options.video_timeout, error=None)
        rows = extract_video(job)
        with self._lock:
            self._writer.write_many(rows)
            self._writer.flush()
            for r in rows:
                if r["status"] == STATUS_OK:
                    self.summary.clips_ok += 1
                else:
                    self.summary.failed[r["status"]] = self.summary.failed.get(r["status"], 0) + 1
            self.summary.videos += 1
        out = Path(self.options.out)
        return all(r["status"] == STATUS_OK and _complete(r, out) for r in rows)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> ExtractOnFetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
