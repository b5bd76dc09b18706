"""Shared pacing: at most N requests per minute to each source host (per proxy when a pool is used),
across every worker thread and every process of one run.

Each host has a slot file ``{state}/{host}[@proxy].slot`` holding the time of the next free slot;
a request takes the slot under an exclusive ``flock`` (so threads and processes share it), moves it
on by ``60 / N`` seconds plus a random jitter of up to ``jitter`` times that interval, and sleeps
until its slot. Jitter only ever adds delay, so no rolling minute holds more than ``N + 1``
requests. The state lives in the run's output folder (``.avdata-pacing/``) and is only ever a
wall-clock time, so a stale file from an old run costs nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from avdata.errors import AvdataError

PACING_DIR = ".avdata-pacing"


def host_key(url: str, proxy: str | None = None) -> str:
    """A file-name-safe key for a URL's host (and the proxy it goes through)."""
    host = (urlsplit(url).hostname or "local") if "://" in url else "local"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", host)[:80]
    if proxy:      # never the proxy URL itself in a file name: it may hold credentials
        safe += "@" + hashlib.sha1(proxy.encode()).hexdigest()[:12]
    return safe


class Pacer:
    """Hands out request slots ``60 / requests_per_minute`` seconds apart per host (see the module docstring)."""

    def __init__(self, state_dir: str | os.PathLike[str], requests_per_minute: float, *, jitter: float = 0.2,
                 seed: int = 0) -> None:
        if not requests_per_minute > 0:
            raise AvdataError(f"max_requests_per_minute must be positive, got {requests_per_minute}")
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.interval = 60.0 / float(requests_per_minute)
        self.jitter = max(0.0, float(jitter))
        self.rng = np.random.default_rng([seed, os.getpid()])
        self.lock = threading.Lock()
        self.waited = 0.0                     # seconds spent waiting for slots, this process

    def take_slot(self, url: str, proxy: str | None = None) -> float:
        """Reserve the next slot for ``url``'s host; return its time (``time.time()`` clock)."""
        path = self.state_dir / f"{host_key(url, proxy)}.slot"
        with self.lock:
            extra = self.interval * self.jitter * float(self.rng.random())
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                raw = os.pread(fd, 64, 0)
                try:
                    last = float(raw.decode() or 0.0)
                except ValueError:
                    last = 0.0
                now = time.time()
                slot = now if last <= 0 else max(now, last + self.interval + extra)
                data = f"{slot:.6f}".encode().ljust(32)
                os.pwrite(fd, data, 0)
            finally:
                os.close(fd)             # closing releases the lock
        return slot

    def wait(self, url: str, *, proxy: str | None = None, stop: threading.Event | None = None) -> None:
        """Block until this request's slot (returns early when ``stop`` is set)."""
        delay = self.take_slot(url, proxy) - time.time()
        if delay > 0:
            self.waited += delay
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
