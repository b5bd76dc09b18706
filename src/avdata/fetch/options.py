"""Options of the fetch stage: one frozen dataclass; the CLI's flags map onto it one to one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from avdata.fetch.sections import DEFAULT_AFTER, DEFAULT_BEFORE
from avdata.fetch.schema import DEFAULT_ARCHIVE_NAME, DEFAULT_MANIFEST_NAME


@dataclass(frozen=True)
class FetchOptions:
    """What to fetch from where, and how hard to try.

    ``source`` picks the backend: ``dir:PATH`` (a local tree), an fsspec URL template with ``{id}``
    or ``{path}`` (``file://``, ``http(s)://``, ``s3://``, ``gs://`` ...), ``youtube``, or
    ``ytdlp:URL_TEMPLATE`` (yt-dlp on any site it knows, ``{id}`` filled in).
    """

    source: str
    out: Path
    manifest: Path | None = None          # default: {out}/fetch_manifest.parquet
    archive: Path | None = None           # default: {out}/fetch_archive.jsonl
    workers: int = 4
    max_attempts: int = 4                 # tries per video for transient errors
    backoff: float = 1.0                  # first retry delay, seconds; doubles each time (+ jitter)
    max_backoff: float = 60.0
    retry_permanent: bool = False         # retry videos recorded with a permanent error
    seed: int = 0                         # jitter generator seed
    min_free_bytes: int = 1 << 30         # stop when less than this would remain free
    timeout: float = 60.0                 # network read/connect timeout, seconds
    chunk_bytes: int = 1 << 20            # streaming copy size
    link: bool = False                    # dir: symlink found videos into the output tree
    # YouTube / yt-dlp
    format: str | None = None             # yt-dlp format; default: best MP4 with audio <= max_height
    max_height: int = 480
    cookies: Path | None = None
    rate_limit: int | None = None         # bytes per second per download
    sleep: float = 0.0                    # seconds to sleep before each download
    proxy: str | None = None
    sections: bool = True                 # download only the needed sections (falls back to whole)
    section_before: float = DEFAULT_BEFORE
    section_after: float = DEFAULT_AFTER
    exact_cuts: bool = False              # re-encode at the cuts (force_keyframes_at_cuts)
    ffmpeg: Path | None = None            # default: imageio-ffmpeg's binary if installed, else PATH
    progress: bool | None = None          # None: a bar only on a terminal

    def manifest_path(self) -> Path:
        return Path(self.manifest) if self.manifest else Path(self.out) / DEFAULT_MANIFEST_NAME

    def archive_path(self) -> Path:
        return Path(self.archive) if self.archive else Path(self.out) / DEFAULT_ARCHIVE_NAME
