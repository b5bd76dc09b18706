"""``threads``: a bounded thread pool for I/O-bound per-item jobs (downloads), same call as the others.

Importing this module registers it; ``get_executor("threads", workers=n)`` then builds it. At most
``workers * max_in_flight_per_worker`` items are taken from the iterator at a time, so a lazy item
generator can stop handing out work (for example when the disk is full) and millions of items need
little memory. Runs inline when ``workers == 1``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from avdata.executors import bounded_map, register_executor
from avdata.executors.local import InlineExecutor

T = TypeVar("T")
R = TypeVar("R")


@register_executor("threads")
@dataclass
class ThreadExecutor:
    """A pool of ``workers`` threads; items not yet started are cancelled if the consumer stops early."""

    workers: int = 4
    max_in_flight_per_worker: int = 1

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if self.workers <= 1:
            yield from InlineExecutor().map_unordered(fn, items)
            return
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="avdata")
        try:
            yield from bounded_map(pool, fn, items, max(1, self.workers * self.max_in_flight_per_worker))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

