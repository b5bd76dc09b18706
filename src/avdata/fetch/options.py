"""Options of the fetch stage: one frozen dataclass; the CLI's flags map onto it one to one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from avdata.fetch.schema import DEFAULT_ARCHIVE_NAME, DEFAULT_MANIFEST_NAME, DEFAULT_RUN_LOG_NAME
from avdata.fetch.sections import DEFAULT_AFTER, DEFAULT_BEFORE


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
    workers: int = 4                      # downloads in flight (threads here; with "ray": across the cluster)
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
    # time limits per download (avdata.fetch.limits)
    max_time: float | None = 3600.0       # total seconds per download attempt; None: no limit
    min_rate: int = 1024                  # bytes/s a download must keep up over each rate_window; 0: off
    rate_window: float = 30.0             # seconds
    # YouTube at scale: pacing, circuit breaker, proxies (avdata.fetch.pacing / breaker / proxies)
    max_requests_per_minute: float | None = None   # per source host (per proxy), across workers and processes
    pacing_jitter: float = 0.2            # up to this fraction of the interval added at random
    breaker_threshold: int = 5            # trip when this many of the last breaker_window attempts were
    breaker_window: int = 20              #   rate-limited (threshold 0: no breaker)
    cooldowns: tuple[float, ...] = (120.0, 300.0, 900.0, 3600.0)   # pause after trip 1, 2, 3, 4+
    breaker_quiet: float = 1800.0         # a quiet period that brings the next cool-down one step down
    give_up_after: float | None = 6 * 3600.0   # stop cleanly when banned this long without a success
    max_retry_after: float = 3600.0       # longest Retry-After honoured, seconds
    proxies: Path | None = None           # one proxy URL per line (http, https, socks5 ...)
    # where download attempts run (avdata.fetch.remote): "local" / "threads" (this process), "inline"
    # (one at a time), "ray" (each attempt a small Ray task; retries, routes and the manifest stay here)
    executor: str = "local"
    ray_address: str | None = None        # with executor "ray": "auto", HOST:PORT, or None (start one)

    def manifest_path(self) -> Path:
        return Path(self.manifest) if self.manifest else Path(self.out) / DEFAULT_MANIFEST_NAME

    def run_log_path(self) -> Path:
        """Per-run figures for the report (paused time, trips and attempts per route)."""
        return Path(self.out) / DEFAULT_RUN_LOG_NAME

    def archive_path(self) -> Path:
        return Path(self.archive) if self.archive else Path(self.out) / DEFAULT_ARCHIVE_NAME
