"""Executors run one pure per-item function over many items: inline, a local process pool, Ray.

Every executor has the same call: ``executor.map_unordered(fn, items)`` yields ``fn(item)`` results
as they finish. ``fn`` and the items must be picklable (module-level functions, dataclasses).
A new backend is one module that registers itself with ``@register_executor("name")``.

An executor may also offer **single calls from driver threads** (``RemoteCalls``: ``start_calls()``
then ``call(fn, arg, stop=event)`` from any thread): a stage that keeps its own control loop in the
driver (fetch: retries, routes, breakers) sends just the work of one attempt there. The ``ray``
executor offers it; a stage runs the call in-process when its executor does not.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import Executor as FuturesExecutor
from itertools import islice
from typing import Any, Protocol, TypeVar

from avdata.errors import AvdataError
from avdata.registry import Registry

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn`` over ``items`` and yields results in completion order."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...


class RemoteCalls(Protocol):
    """Runs one ``fn(arg)`` elsewhere (a Ray worker) and blocks the calling driver thread until it
    returns; ``stop`` set while waiting cancels it (``CallCancelled``); a call that could not finish
    (its worker died past the retries, or it raised) is ``CallLost``."""

    def start_calls(self) -> None: ...

    def call(self, fn: Callable[[T], R], arg: T, *, stop: threading.Event | None = None) -> R: ...


def remote_calls(executor: object) -> RemoteCalls | None:
    """``executor`` when it offers single remote calls, else None (run the work in-process)."""
    offers = callable(getattr(executor, "call", None)) and callable(getattr(executor, "start_calls", None))
    return executor if offers else None  # type: ignore[return-value]


class CallLost(AvdataError):
    """A remote call that could not finish: ``reason`` is ``worker_died`` or ``error``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class CallCancelled(AvdataError):
    """A remote call cancelled because the run is stopping."""


# "ray" imports Ray itself only when used
EXECUTORS: Registry[Callable[..., Executor]] = Registry(
    "executor", "avdata.executors", ("avdata.executors.local", "avdata.executors.threads", "avdata.executors.ray"))


def register_executor(name: str) -> Callable[[Callable[..., Executor]], Callable[..., Executor]]:
    """Class decorator: make an executor available by name."""
    return EXECUTORS.register(name)


def bounded_map(pool: FuturesExecutor, fn: Callable[[T], R], items: Iterable[T], limit: int, *,
                max_batch: int = 1, batch_seconds: float = 0.02) -> Iterator[R]:
    """Submit ``fn(item)`` to a ``concurrent.futures`` pool with at most ``limit`` calls in flight
    and yield results as they finish; the item iterator is consumed lazily, so a consumer that
    stops early (or a generator that stops handing out items) bounds the work and the memory.

    ``max_batch > 1``: short items go to a worker several at a time, as joblib's automatic batch
    size does: each call runs a batch, times it, and the next batches hold about ``batch_seconds``
    of work (at most ``max_batch`` items; one item while items are long, so a few heavy items
    still spread over every worker). A kill loses at most ``limit`` batches of that length."""
    it = iter(items)
    pending: dict[Future[Any], int] = {}
    size = 1

    def refill() -> None:
        while len(pending) < limit:
            batch = list(islice(it, size))
            if not batch:
                return
            if max_batch == 1:
                pending[pool.submit(fn, batch[0])] = 1
            else:
                pending[pool.submit(run_batch, fn, batch)] = len(batch)

    refill()
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            n = pending.pop(fut)
            if max_batch == 1:
                yield fut.result()
                continue
            results, seconds = fut.result()
            per_item = seconds / n
            size = max_batch if per_item <= 0 else max(1, min(max_batch, int(batch_seconds / per_item)))
            yield from results
        refill()


def run_batch(fn: Callable[[T], R], batch: list[T]) -> tuple[list[R], float]:
    """Run ``fn`` over a batch in a worker: the results and the seconds they took."""
    t0 = time.perf_counter()
    return [fn(item) for item in batch], time.perf_counter() - t0


def get_executor(name: str, **options: Any) -> Executor:
    """Build the executor registered under ``name`` (``inline``, ``local``, ``threads``, ...)."""
    return EXECUTORS.get(name)(**options)


@dataclasses.dataclass(frozen=True)
class ExecutorSpec:
    """Which executor runs a stage's per-item jobs (the CLI's ``--executor``, ``--workers``,
    ``--ray-address``): ``name`` as registered; ``workers`` processes or slots (None: all CPUs);
    ``address`` of a Ray cluster (``auto``, ``HOST:PORT``; None starts a local one)."""

    name: str = "local"
    workers: int | None = None
    address: str | None = None


def build_executor(spec: ExecutorSpec, *, item_timeout: float | None = None,
                   on_lost: Callable[[Any, str], Any] | None = None,
                   shared_paths: Sequence[str] = ()) -> Executor:
    """Build ``spec.name``'s executor with each of the common options that it supports.

    ``item_timeout``: hard seconds per item; ``on_lost(item, reason)`` gives the result of an item
    that could not finish (``"timeout"``, ``"worker_died"``, ``"error"``); ``shared_paths``: folders
    every worker must see (checked on a cluster). An executor that lacks an option ignores it.
    """
    factory = EXECUTORS.get(spec.name)
    offered = {"workers": spec.workers, "address": spec.address, "item_timeout": item_timeout,
               "on_lost": on_lost, "shared_paths": tuple(shared_paths)}
    accepted: set[str] = {f.name for f in dataclasses.fields(factory)} if dataclasses.is_dataclass(factory) else set()
    return factory(**{k: v for k, v in offered.items() if k in accepted and v is not None})


def executor_names() -> list[str]:
    return EXECUTORS.names()
