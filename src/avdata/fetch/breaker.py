"""A circuit breaker for rate-limit bans: when the source as a whole refuses us, stop asking.

State machine (one breaker per route: the direct connection, or each proxy of a pool):

- **closed**: downloads start freely. Each finished attempt is recorded; when ``threshold`` of
  the last ``window`` attempts were rate-limited (HTTP 429, "Sign in to confirm you're not a
  bot" ...), the breaker **trips**.
- **open**: no download starts on this route for a cool-down that grows with each trip
  (``cooldowns``, e.g. 2 min, 5, 15, 60; the last one repeats). Every ``quiet`` seconds without a
  ban signal bring the next cool-down one step down again.
- **probing**: after the cool-down one attempt (the probe) goes ahead while the others wait; a
  success closes the breaker (the run resumes), a ban trips it again with the next cool-down.
- **give up**: when a route has been banned for ``give_up_after`` seconds without a success
  in between, ``gave_up`` says so and the run stops cleanly (a rerun continues).

Pure logic with the time passed in, so the tests drive it with a fake clock; ``proxies.RoutePool``
does the locking, waiting and logging.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from avdata.errors import AvdataError

CLOSED, OPEN, PROBING = "closed", "open", "probing"


@dataclass(frozen=True)
class BreakerEvent:
    """A change worth one log line: ``trip`` (with its cool-down) or ``resume``."""

    kind: str
    at: float
    cooldown: float = 0.0
    trip: int = 0
    bans: int = 0
    paused: float = 0.0        # for resume: how long this pause lasted


class CircuitBreaker:
    """See the module docstring. ``threshold`` 0 disables the breaker (it never trips)."""

    def __init__(self, threshold: int = 5, window: int = 20,
                 cooldowns: tuple[float, ...] = (120.0, 300.0, 900.0, 3600.0), quiet: float = 1800.0,
                 give_up_after: float | None = None) -> None:
        if threshold < 0 or window < 1 or (threshold and threshold > window):
            raise AvdataError(f"breaker: need 0 <= threshold <= window (got {threshold} of {window})")
        if not cooldowns or any(c < 0 for c in cooldowns):
            raise AvdataError("breaker: cool-downs must be a non-empty list of seconds >= 0")
        self.threshold = threshold
        self.recent: deque[bool] = deque(maxlen=window)
        self.cooldowns = tuple(float(c) for c in cooldowns)
        self.quiet = float(quiet)
        self.give_up_after = give_up_after
        self.state = CLOSED
        self.level = 0                      # index of the next cool-down
        self.trips = 0
        self.open_until = 0.0
        self.paused = 0.0                   # total seconds spent open or probing
        self.pause_started: float | None = None
        self.banned_since: float | None = None
        self.quiet_since: float | None = None   # last ban signal (for stepping the level down)
        self.probe_out = False

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def _decay(self, now: float) -> None:
        if self.level and self.quiet > 0 and self.quiet_since is not None and self.state == CLOSED:
            steps = int((now - self.quiet_since) // self.quiet)
            if steps > 0:
                self.level = max(0, self.level - steps)
                self.quiet_since += steps * self.quiet

    def try_start(self, now: float) -> tuple[bool, float, bool]:
        """May an attempt start now? ``(go, seconds to wait if not, this attempt is the probe)``."""
        if self.state == CLOSED:
            self._decay(now)
            return True, 0.0, False
        if self.state == OPEN:
            if now < self.open_until:
                return False, self.open_until - now, False
            self.state = PROBING
            self.probe_out = False
        if not self.probe_out:
            self.probe_out = True
            return True, 0.0, True
        return False, 0.25, False           # wait for the probe's verdict

    def record(self, now: float, *, ban: bool, probe: bool = False) -> BreakerEvent | None:
        """Record a finished attempt (``ban``: it was rate-limited); return a trip or resume event."""
        if ban:
            self.quiet_since = now
        if not self.enabled:
            return None
        if probe and self.state == PROBING:
            self.probe_out = False
            return self._trip(now) if ban else self._resume(now)
        if self.state != CLOSED:
            return None                     # an attempt that started before the trip
        self.recent.append(ban)
        if not ban:
            self.banned_since = None
        if sum(self.recent) >= self.threshold:
            return self._trip(now)
        return None

    def release_probe(self) -> None:
        """The probe ended without a verdict (the run is stopping, or its error was its own)."""
        if self.state == PROBING:
            self.probe_out = False

    def _trip(self, now: float) -> BreakerEvent:
        cooldown = self.cooldowns[min(self.level, len(self.cooldowns) - 1)]
        bans = sum(self.recent)
        self.level = min(self.level + 1, len(self.cooldowns))
        self.trips += 1
        self.state = OPEN
        self.open_until = now + cooldown
        self.recent.clear()
        if self.pause_started is None:
            self.pause_started = now
        if self.banned_since is None:
            self.banned_since = now
        return BreakerEvent("trip", now, cooldown=cooldown, trip=self.trips, bans=bans)

    def _resume(self, now: float) -> BreakerEvent:
        lasted = now - (self.pause_started if self.pause_started is not None else now)
        self.paused += lasted
        self.pause_started = None
        self.state = CLOSED
        self.banned_since = None
        self.recent.clear()
        return BreakerEvent("resume", now, trip=self.trips, paused=lasted)

    def paused_total(self, now: float) -> float:
        """Seconds this route has been paused so far (including a pause still going on)."""
        return self.paused + (now - self.pause_started if self.pause_started is not None else 0.0)

    def gave_up(self, now: float) -> bool:
        """True when banned for ``give_up_after`` seconds with no success in between."""
        return (self.give_up_after is not None and self.banned_since is not None
                and now - self.banned_since >= self.give_up_after)
