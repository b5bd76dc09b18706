"""Unit tests of the circuit breaker's state machine, the route pool and shared pacing
(issue 14): trip at K of the last N, growing cool-downs, probe and recovery, quiet-period decay,
give-up; a ban on one proxy leaves the others going; pacing holds across threads and processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from avdata.fetch import FetchOptions
from avdata.fetch.breaker import CLOSED, OPEN, PROBING, CircuitBreaker
from avdata.fetch.pacing import Pacer, host_key
from avdata.fetch.proxies import GaveUp, RoutePool, read_proxies
from avdata.errors import InputFormatError


def test_trips_at_k_of_the_last_n_and_not_before() -> None:
    b = CircuitBreaker(threshold=3, window=5, cooldowns=(10, 20, 40))
    for t, ban in enumerate([True, False, True, False, False, False]):   # the first ban slides out
        assert b.record(float(t), ban=ban) is None
    assert b.state == CLOSED
    assert b.record(6.0, ban=True) is None
    ev = b.record(7.0, ban=True)
    assert ev is None and b.state == CLOSED            # 2 of the last 5
    ev = b.record(8.0, ban=True)
    assert ev is not None and (ev.kind, ev.cooldown, ev.trip, ev.bans) == ("trip", 10, 1, 3)
    assert b.state == OPEN and b.try_start(9.0) == (False, 9.0, False)


def test_cool_downs_grow_probe_decides_and_quiet_brings_them_down() -> None:
    b = CircuitBreaker(threshold=1, window=1, cooldowns=(10, 20, 40), quiet=100)
    assert b.record(0.0, ban=True).cooldown == 10
    assert b.record(5.0, ban=True) is None             # an attempt that started before the trip
    assert b.try_start(9.9)[0] is False
    assert b.try_start(10.0) == (True, 0.0, True)      # the probe
    assert b.state == PROBING and b.try_start(10.1) == (False, 0.25, False)   # the others wait
    assert b.record(11.0, ban=True, probe=True).cooldown == 20     # probe banned: longer pause
    assert b.try_start(31.0)[2] is True
    assert b.record(32.0, ban=True, probe=True).cooldown == 40
    assert b.try_start(72.0)[2] is True
    assert b.record(73.0, ban=True, probe=True).cooldown == 40     # the last one repeats
    assert b.try_start(113.0)[2] is True
    ev = b.record(114.0, ban=False, probe=True)
    assert ev.kind == "resume" and b.state == CLOSED and ev.paused == pytest.approx(114.0)
    assert b.trips == 4 and b.paused_total(200.0) == pytest.approx(114.0)
    b.try_start(114.0 + 100 * 2 + 1)                  # two quiet periods: two steps down
    assert b.record(400.0, ban=True).cooldown == 20      # level 3 - 2 steps


def test_give_up_only_after_banned_that_long_without_a_success() -> None:
    b = CircuitBreaker(threshold=1, window=1, cooldowns=(10,), give_up_after=25)
    b.record(0.0, ban=True)
    assert not b.gave_up(24.0) and b.gave_up(25.0)
    b.try_start(30.0)
    b.record(30.5, ban=False, probe=True)               # a success resets the clock
    assert not b.gave_up(60.0)
    assert CircuitBreaker(threshold=0).record(0.0, ban=True) is None    # 0 = off


def test_route_pool_sends_work_around_a_banned_proxy_and_gives_up_when_all_are() -> None:
    now = [0.0]
    opts = FetchOptions(source="youtube", out=Path("."), breaker_threshold=2, breaker_window=4,
                        cooldowns=(50.0,), give_up_after=100.0)
    pool = RoutePool(opts, ["http://a:1", "socks5://b:2"], clock=lambda: now[0])
    stop = threading.Event()
    a, b = pool.routes
    for _ in range(2):
        route, probe = pool.acquire(stop)
        assert route is a or route is b
        pool.record(a, outcome="rate_limited", ban=True, probe=False)
    assert a.breaker.state == OPEN
    assert {pool.acquire(stop)[0].name for _ in range(3)} == {"socks5://b:2"}   # only b goes on
    for _ in range(2):
        pool.record(b, outcome="rate_limited", ban=True, probe=False)
    now[0] = 100.0
    with pytest.raises(GaveUp, match="give-up-after"):
        pool.acquire(stop)
    stats = pool.stats()
    assert stats["routes"]["http://a:1"]["trips"] == 1 and stats["routes"]["socks5://b:2"]["attempts"] == {
        "rate_limited": 2}


def test_proxy_list_is_checked_line_by_line(tmp_path: Path) -> None:
    f = tmp_path / "proxies.txt"
    f.write_text("# mine\nhttp://user:pw@10.0.0.1:3128\n\nsocks5://127.0.0.1:1080\n")
    assert read_proxies(f) == ["http://user:pw@10.0.0.1:3128", "socks5://127.0.0.1:1080"]
    f.write_text("http://ok:1\nftp://bad:2\n")
    with pytest.raises(InputFormatError, match=r"proxies.txt:2: not a proxy URL"):
        read_proxies(f)


def test_pacing_spaces_requests_across_threads(tmp_path: Path) -> None:
    pacer = Pacer(tmp_path, 1200, jitter=0.5)          # one slot every 0.05 s
    slots: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(5):
            s = pacer.take_slot("https://www.youtube.com/watch?v=x")
            with lock:
                slots.append(s)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    assert len(slots) == 20 and min(b - a for a, b in zip(slots, slots[1:])) >= 0.05 - 1e-6
    other = pacer.take_slot("https://other.example/x")    # another host has its own slots
    assert other <= time.time() + 0.01
    assert host_key("http://h:1/x", "socks5://u:p@q:2") != host_key("http://h:1/x")


def _take_slots(state: str, n: int, q) -> None:  # noqa: ANN001
    pacer = Pacer(state, 1200)
    q.put([pacer.take_slot("http://127.0.0.1/x") for _ in range(n)])


@pytest.mark.slow
def test_pacing_holds_across_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_take_slots, args=(str(tmp_path), 6, q)) for _ in range(2)]
    for p in procs:
        p.start()
    slots = sorted(q.get(timeout=60) + q.get(timeout=60))
    for p in procs:
        p.join(timeout=30)
    assert len(slots) == 12 and min(b - a for a, b in zip(slots, slots[1:])) >= 0.05 - 1e-6
