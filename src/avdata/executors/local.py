"""Built-in executors: ``inline`` (this process, for debugging and one worker) and ``local``
(a process pool with a bounded number of items in flight, so millions of items need little memory)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from avdata.executors import register_executor

T = TypeVar("T")
R = TypeVar("R")


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
    """A pool of ``workers`` processes (default: all cores); runs inline when ``workers == 1``."""

    workers: int | None = None
    max_in_flight_per_worker: int = 4

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        workers = self.workers or os.cpu_count() or 1
        if workers <= 1:
            yield from InlineExecutor().map_unordered(fn, items)
            return
        limit = workers * self.max_in_flight_per_worker
        it = iter(items)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending: set[Future[R]] = set()
            for item in it:
                pending.add(pool.submit(fn, item))
                if len(pending) >= limit:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                for item in it:
                    pending.add(pool.submit(fn, item))
                    if len(pending) >= limit:
                        break
