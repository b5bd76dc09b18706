"""Routes to the source: the direct connection, or a pool of proxies (``--proxies FILE``), each
with its own circuit breaker (``breaker.CircuitBreaker``).

Workers ``acquire`` a route for each attempt: routes are taken in turn among those whose breaker
lets an attempt start, so a ban on one proxy pauses that proxy only and the others carry the run.
When no route may start, the worker waits (the run is paused) until a cool-down ends; when every
route has been banned past ``give_up_after``, ``acquire`` raises ``GaveUp``. The pool logs one
line when a route trips and when it resumes, and counts attempts per route for the report.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from avdata.errors import AvdataError, InputFormatError
from avdata.fetch.breaker import BreakerEvent, CircuitBreaker
from avdata.fetch.classify import BAN_CLASSES, redact
from avdata.fetch.options import FetchOptions

_log = logging.getLogger(__name__)
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
DIRECT = "direct"


class GaveUp(AvdataError):
    """Every route stayed banned past --give-up-after."""


def read_proxies(path: str | Path) -> list[str]:
    """Proxy URLs from a file: one per line; blank lines and ``#`` comments skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AvdataError(f"{path}: cannot read the proxy list: {e}") from e
    proxies: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z0-9]+)://[^\s/]+(:\d+)?/?$", line)
        if not m or m.group(1).lower() not in PROXY_SCHEMES:
            raise InputFormatError(str(path), n, f"not a proxy URL ({', '.join(PROXY_SCHEMES)}): "
                                   f"{redact(line)!r}")
        proxies.append(line)
    if not proxies:
        raise AvdataError(f"{path}: no proxy in the list")
    return proxies


@dataclass
class Route:
    """One way to the source: ``proxy`` None is the direct connection."""

    name: str
    proxy: str | None
    breaker: CircuitBreaker
    counts: Counter = field(default_factory=Counter)     # attempt outcomes: ok, rate_limited, error


class RoutePool:
    """Routes with their breakers, shared by the workers of one run (thread-safe)."""

    def __init__(self, options: FetchOptions, proxies: list[str] | None = None, *,
                 waiting: Callable[[], int] = lambda: 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.waiting = waiting
        self.cond = threading.Condition()
        self.next = 0
        self.paused = 0.0
        self.paused_since: float | None = None

        def breaker() -> CircuitBreaker:
            return CircuitBreaker(options.breaker_threshold, options.breaker_window, options.cooldowns,
                                  options.breaker_quiet, options.give_up_after)

        self.routes = ([Route(redact(p) or p, p, breaker()) for p in proxies] if proxies
                       else [Route(DIRECT, None, breaker())])

    @property
    def enabled(self) -> bool:
        return self.routes[0].breaker.enabled

    def acquire(self, stop: threading.Event) -> tuple[Route, bool] | None:
        """A route to try next and whether this attempt is its probe; None when ``stop`` is set."""
        with self.cond:
            while not stop.is_set():
                now = self.clock()
                if all(r.breaker.gave_up(now) for r in self.routes):
                    raise GaveUp(self._give_up_line())
                waits = []
                for i in range(len(self.routes)):
                    route = self.routes[(self.next + i) % len(self.routes)]
                    go, wait, probe = route.breaker.try_start(now)
                    if go:
                        self.next = (self.next + i + 1) % len(self.routes)
                        if self.paused_since is not None:
                            self.paused += now - self.paused_since
                            self.paused_since = None
                        return route, probe
                    waits.append(wait)
                if self.paused_since is None:
                    self.paused_since = now
                self.cond.wait(timeout=min(1.0, max(0.01, min(waits))))
        return None

    def record(self, route: Route, *, outcome: str, ban: bool, probe: bool) -> None:
        """Record an attempt's outcome (``ok``, an error class); log trips and resumes."""
        with self.cond:
            route.counts[outcome] += 1
            event = route.breaker.record(self.clock(), ban=ban, probe=probe)
            if probe and event is None:
                route.breaker.release_probe()
            if event is not None:
                self._log(route, event)
            self.cond.notify_all()

    def release(self, route: Route, probe: bool) -> None:
        """An attempt that ended without an outcome (the run stopped)."""
        if probe:
            with self.cond:
                route.breaker.release_probe()
                self.cond.notify_all()

    def _log(self, route: Route, e: BreakerEvent) -> None:
        at = datetime.now(UTC).strftime("%H:%M:%S UTC")
        via = "" if route.proxy is None else f" via proxy {route.name}"
        if e.kind == "trip":
            others = sum(1 for r in self.routes if r.breaker.state == "closed")
            goes_on = f"; the other {others} route(s) go on" if others else ""
            why = (f"{e.bans} of the last attempts were rate-limited" if e.bans
                   else "the first attempt after the cool-down was refused too")
            _log.warning("fetch paused%s at %s: the source is refusing us (%s); trip %d, cool-down %gs, "
                         "%d item(s) waiting%s. What helps: --cookies, --proxies FILE, a lower "
                         "--max-requests-per-minute", via, at, why, e.trip, e.cooldown, self.waiting(), goes_on)
        else:
            _log.warning("fetch resumed%s at %s after %.0fs paused; %d item(s) waiting", via, at, e.paused,
                         self.waiting())

    def _give_up_line(self) -> str:
        return (f"the source stayed banned past --give-up-after on every route ({len(self.routes)}); "
                f"stopping, everything done so far is recorded and a rerun continues "
                f"({self.waiting()} item(s) left)")

    def noteworthy(self) -> bool:
        """Worth a line in the run log: proxies were used, or the source refused us."""
        return any(r.proxy for r in self.routes) or any(
            r.breaker.trips or any(k in BAN_CLASSES for k in r.counts) for r in self.routes)

    def stats(self) -> dict:
        """Per-route counts, trips and paused seconds, and the run's paused seconds (all routes down)."""
        now = self.clock()
        paused = self.paused + (now - self.paused_since if self.paused_since is not None else 0.0)
        return {"paused_seconds": round(paused, 3),
                "routes": {r.name: {"trips": r.breaker.trips, "paused_seconds": round(r.breaker.paused_total(now), 3),
                                    "attempts": dict(r.counts)} for r in self.routes}}
