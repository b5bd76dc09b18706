"""Per-download time limits, so a trickling server cannot hang fetch: a total time limit
(``max_time``) and a minimum rate (``min_rate`` bytes/s, judged over each ``rate_window`` seconds).
Both failures are transient (class ``timeout`` and ``too_slow``): the item is retried and, if it
keeps failing, recorded so a rerun tries again. Network reads also time out after ``timeout``
seconds of silence, so a download lasts at most about ``max_time + timeout``."""

from __future__ import annotations

import time
from collections.abc import Callable

from avdata.errors import FetchError


class DownloadClock:
    """Call ``update(total_bytes)`` as bytes arrive; it raises FetchError when a limit is broken."""

    def __init__(self, where: str, max_time: float | None, min_rate: float, rate_window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.where = where
        self.max_time = max_time
        self.min_rate = float(min_rate or 0)
        self.rate_window = max(1e-3, float(rate_window))
        self.clock = clock
        self.t0 = clock()
        self.mark_t = self.t0
        self.mark_bytes = 0

    def update(self, total_bytes: int) -> None:
        now = self.clock()
        elapsed = now - self.t0
        if self.max_time and elapsed > self.max_time:
            raise FetchError("timeout", f"{self.where}: download took longer than {self.max_time:g} s "
                             f"({total_bytes} bytes so far)", transient=True)
        span = now - self.mark_t
        if self.min_rate and span >= self.rate_window:
            rate = (total_bytes - self.mark_bytes) / span
            if rate < self.min_rate:
                raise FetchError("too_slow", f"{self.where}: {rate:.0f} bytes/s over the last {span:.1f} s, "
                                 f"below the minimum {self.min_rate:g}", transient=True)
            self.mark_t, self.mark_bytes = now, total_bytes
