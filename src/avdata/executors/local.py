"""Built-in executors: ``inline`` (this process, for debugging and one worker) and ``local``
(a process pool with a bounded number of items in flight, so millions of items need little memory).

With ``item_timeout`` the local executor supervises its workers itself: one process per worker,
one item at a time each; a worker whose item overruns (a decoder stuck in C code, say) is killed
and replaced, and ``on_lost(item, "timeout")`` supplies that item's result (``"worker_died"`` if
the worker crashed), so the run goes on.

Workers never outlive the run: each asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)`` on Linux) and, everywhere, watches its parent from a thread and
exits when it is gone (a SIGKILL of the main process leaves no orphan decoding on)."""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_ready
from typing import Any, TypeVar

from avdata.errors import AvdataError
from avdata.executors import bounded_map, register_executor

T = TypeVar("T")
R = TypeVar("R")


PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 0.5


def exit_with_parent(parent_pid: int) -> None:
    """Make this (worker) process end when ``parent_pid`` ends: a parent-death signal on Linux,
    and a watcher thread on every platform (also covers a parent gone before the signal was set)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass                                    # the watcher below still works
    if os.getppid() != parent_pid:
        os._exit(1)                                 # the parent died before we got here

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="avdata-parent-watch", daemon=True).start()


@register_executor("inline")
@dataclass
class InlineExecutor:
    """Run every item in this process, in order."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for item in items:
            yield fn(item)


@register_executor("local")
@dataclass
class LocalExecutor:
    """A pool of ``workers`` processes (default: all cores); runs inline when ``workers == 1``
    and no ``item_timeout`` is set. ``item_timeout`` (seconds) is a hard limit per item (then
    one item per call). Items that take a few milliseconds go to the workers in batches of about
    ``batch_seconds`` (at most ``max_batch``; see ``bounded_map``): the parent's work per item
    falls from 0.3-0.4 ms to 0.1-0.2 ms (items of 5 ms)."""

    workers: int | None = None
    max_in_flight_per_worker: int = 4
    max_batch: int = 16
    batch_seconds: float = 0.02
    item_timeout: float | None = None
    on_lost: Callable[[Any, str], Any] | None = None

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        workers = self.workers or os.cpu_count() or 1
        if self.item_timeout is not None:
            yield from _supervised(fn, items, workers, self.item_timeout, self.on_lost)
            return
        if workers <= 1:
            yield from InlineExecutor().map_unordered(fn, items)
            return
        with ProcessPoolExecutor(max_workers=workers, initializer=exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            yield from bounded_map(pool, fn, items, workers * self.max_in_flight_per_worker,
                                   max_batch=self.max_batch, batch_seconds=self.batch_seconds)


def _worker_loop(conn: Connection, parent_pid: int) -> None:
    """A supervised worker: receive (fn, item), send back ("ok", result) or ("error", exception)."""
    exit_with_parent(parent_pid)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if msg is None:
            return
        fn, item = msg
        try:
            reply = ("ok", fn(item))
        except Exception as e:  # noqa: BLE001  re-raised in the parent, as a pool would
            reply = ("error", e)
        conn.send(reply)


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    item: Any = None
    deadline: float = 0.0
    busy: bool = False


def _start_worker() -> _Worker:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context().Process(target=_worker_loop, args=(child, os.getpid()),
                                                     daemon=True)
    proc.start()
    child.close()
    return _Worker(proc, parent)


def _stop(worker: _Worker, *, kill: bool) -> None:
    if kill:
        worker.process.kill()
    else:
        try:
            worker.conn.send(None)
        except OSError:
            worker.process.kill()
    worker.process.join(5)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    worker.conn.close()


def _lost(on_lost: Callable[[Any, str], Any] | None, item: Any, reason: str, limit: float) -> Any:
    if on_lost is None:
        raise AvdataError(f"item {item!r}: {reason} (limit {limit:g} s) and no on_lost handler")
    return on_lost(item, reason)


def _supervised(fn: Callable[[T], R], items: Iterable[T], workers: int, limit: float,
                on_lost: Callable[[Any, str], Any] | None) -> Iterator[R]:
    """One item per worker process at a time; kill and replace a worker whose item overruns."""
    pool = [_start_worker() for _ in range(max(1, workers))]
    it = iter(items)
    exhausted = False

    def feed(w: _Worker) -> None:
        nonlocal exhausted
        if exhausted:
            return
        try:
            item = next(it)
        except StopIteration:
            exhausted = True
            return
        w.item, w.busy, w.deadline = item, True, time.monotonic() + limit
        w.conn.send((fn, item))

    try:
        for w in pool:
            feed(w)
        while any(w.busy for w in pool):
            busy = [w for w in pool if w.busy]
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait_ready([w.conn for w in busy], timeout=timeout)
            now = time.monotonic()
            for i, w in enumerate(pool):
                if not w.busy:
                    continue
                if w.conn in ready:
                    try:
                        status, value = w.conn.recv()
                    except (EOFError, OSError):
                        _stop(w, kill=True)
                        pool[i] = _start_worker()
                        yield _lost(on_lost, w.item, "worker_died", limit)
                        feed(pool[i])
                        continue
                    w.busy = False
                    if status == "error":
                        raise value
                    yield value
                    feed(w)
                elif now >= w.deadline:
                    _stop(w, kill=True)
                    pool[i] = _start_worker()
                    yield _lost(on_lost, w.item, "timeout", limit)
                    feed(pool[i])
    finally:
        for w in pool:
            _stop(w, kill=w.busy)
