"""The fetch runner: plan one job per source, skip what is done, fetch the rest concurrently with
retries, record everything in the manifest and the archive, stop cleanly when the disk is full.

- Retries: transient errors only, exponential backoff with jitter (seeded ``random.Random``).
- Permanent errors are recorded once; reruns skip them unless ``retry_permanent`` (or the backend
  is cheap to recheck, e.g. a local tree) or the source URI changed.
- Resume: a video recorded ok (archive or manifest) whose file still exists, or that was consumed
  and deleted, is skipped. The archive row is written just before the final rename, so no file
  ever sits under a final name unrecorded. Temporary files of killed runs are swept at start.
- ``on_fetched(result) -> bool``: called in the worker after each successful fetch; True means the
  video was consumed and verified, so a file the stage owns is deleted and ``deleted`` recorded.
- Bans (``classify.BAN_CLASSES``): each attempt goes through a route (``proxies.RoutePool``: the
  direct connection or one proxy) whose circuit breaker pauses it when rate limits cluster. A
  rate-limited attempt does not count against the item's ``max_attempts``: the item waits for its
  turn (honouring ``Retry-After``) and goes again, so a ban never fails an item. Past
  ``give_up_after`` the run stops cleanly (``summary.gave_up``); the rerun continues.
- Requests are paced per host (``pacing.Pacer``) when ``max_requests_per_minute`` is set.
- Where attempts run: ``options.workers`` driver threads each run one item's loop; the attempt
  itself runs in that thread, or, when the executor offers remote calls (``ray``), as one task on
  a worker (``remote.RemoteAttempts``); everything else stays here.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from avdata.atomic import sweep_temp_files
from avdata.errors import DiskFullError, FetchError
from avdata.executors import ExecutorSpec, build_executor, get_executor, remote_calls
from avdata.fetch.archive import DownloadArchive
from avdata.fetch.backend import Backend, FetchContext, Fetched, FetchJob, open_backend, remove_quietly
from avdata.fetch.classify import BAN_CLASSES, as_fetch_error, one_line, redact
from avdata.fetch.local import LocalTreeBackend
from avdata.fetch.options import FetchOptions
from avdata.fetch.pacing import PACING_DIR, Pacer
from avdata.fetch.plan import iter_jobs, source_spans
from avdata.fetch.proxies import GaveUp, RoutePool, read_proxies
from avdata.fetch.remote import RemoteAttempts
from avdata.fetch.result import FetchResult, landed_result
from avdata.fetch.resume import plan_resume
from avdata.fetch.runlog import append_run_log
from avdata.fetch.scan import PLAN_COLUMNS, bulk_missing, check_clips, read_plan_columns
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA, MANIFEST_KEYS, STATUS_OK, STOP_CLASSES
from avdata.manifest import ManifestWriter
from avdata.progress import progress

_log = logging.getLogger(__name__)


@dataclass
class FetchSummary:
    """What a run did: counts by status, videos skipped as already done or known-failed, why it stopped."""

    counts: Counter = field(default_factory=Counter)
    skipped_done: int = 0
    skipped_failed: int = 0
    stopped: str | None = None          # e.g. the DiskFullError message
    manifest: Path | None = None
    gave_up: str | None = None          # why the run stopped banned (--give-up-after); a rerun continues
    routes: dict = field(default_factory=dict)    # RoutePool.stats(): paused time, trips per route

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.counts.items() if s != STATUS_OK)


OnFetched = Callable[[FetchResult], bool]
Attempt = Callable[[FetchJob, FetchContext], Fetched]     # one try: backend.fetch, here or remote


def _backoff(attempt: int, options: FetchOptions, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1-based): base * 2**(attempt-1), capped, times U(0.5, 1)."""
    base = min(options.max_backoff, options.backoff * (2 ** (attempt - 1)))
    return base * (0.5 + 0.5 * rng.random())


class _Job:
    """Fetch one source with retries, record it in the archive, run the hook. Runs in a worker thread."""

    def __init__(self, backend: Backend, ctx: FetchContext, archive: DownloadArchive,
                 on_fetched: OnFetched | None, pool: RoutePool, attempt: Attempt | None = None) -> None:
        self.backend = backend
        self.attempt = attempt or backend.fetch
        self.pool = pool
        self.ctx = ctx
        self.archive = archive
        self.on_fetched = on_fetched
        self.rng = random.Random(ctx.options.seed)
        self.rng_lock = threading.Lock()
        self.out = Path(ctx.out).resolve()
        ctx.on_landing = self._landing

    def _landing(self, job: FetchJob, f: Fetched) -> None:
        """Archive a file before it takes its final name (see FetchContext.landing); the full row
        follows once the backend returns, and the last row of a source wins."""
        self.archive.add(self._ok_result(job, f, time.monotonic(), 0).to_row())

    def _result(self, job: FetchJob, status: str, t0: float, attempts: int, **kw: Any) -> FetchResult:
        return FetchResult(source=job.source, source_kind=job.kind, status=status, seconds=time.monotonic() - t0,
                           attempts=attempts, backend=self.backend.name,
                           source_uri=redact(self.ctx.options.source) or "", finished_at=time.time(), **kw)

    def __call__(self, job: FetchJob) -> FetchResult:
        t0 = time.monotonic()
        opts = self.ctx.options
        attempt = bans = 0
        while True:
            attempt += 1
            try:
                acquired = self.pool.acquire(self.ctx.stop)
            except GaveUp as e:
                self.ctx.stop.set()
                return self._result(job, "gave_up", t0, attempt, error_class="gave_up", transient=True,
                                    message=one_line(e))
            if acquired is None:
                return self._result(job, "cancelled", t0, attempt, error_class="cancelled", transient=True,
                                    message="the run stopped")
            route, probe = acquired
            ctx = replace(self.ctx, proxy=route.proxy) if route.proxy else self.ctx
            try:
                ctx.check_stop()
                ctx.ensure_space(0)
                fetched = self.attempt(job, ctx)
                self.pool.record(route, outcome=STATUS_OK, ban=False, probe=probe)
                return self._succeeded(job, fetched, t0, attempt + bans)
            except DiskFullError as e:
                self.pool.release(route, probe)
                self.ctx.stop.set()
                return self._result(job, "disk_full", t0, attempt, error_class="disk_full", transient=True,
                                    message=one_line(e))
            except Exception as e:  # noqa: BLE001  (classified below; the run goes on)
                err = e if isinstance(e, FetchError) else as_fetch_error(e, job.source)
                if isinstance(err, DiskFullError):
                    self.pool.release(route, probe)
                    self.ctx.stop.set()
                    return self._result(job, "disk_full", t0, attempt, error_class="disk_full",
                                        transient=True, message=one_line(err))
                if err.error_class == "cancelled":
                    self.pool.release(route, probe)
                else:
                    ban = err.error_class in BAN_CLASSES
                    self.pool.record(route, outcome=err.error_class, ban=ban, probe=probe)
                    if ban and self.pool.enabled and bans < _MAX_BAN_RETRIES:
                        bans += 1
                        attempt -= 1          # the source's refusal, not this item's error: go again
                retry = err.transient and attempt < opts.max_attempts and not self.ctx.stop.is_set()
                if not retry:
                    return self._result(job, err.error_class, t0, attempt + bans, error_class=err.error_class,
                                        transient=err.transient, message=one_line(err.message))
                with self.rng_lock:
                    delay = _backoff(max(1, attempt), opts, self.rng)
                if err.retry_after is not None:
                    delay = max(delay, min(float(err.retry_after), opts.max_retry_after))
                _log.info("%s: %s; retry %d in %.2fs", job.source, err, attempt + bans, delay)
                if self.ctx.stop.wait(delay):
                    return self._result(job, "cancelled", t0, attempt, error_class="cancelled",
                                        transient=True, message="the run stopped")

    def _ok_result(self, job: FetchJob, f: Fetched, t0: float, attempts: int) -> FetchResult:
        return landed_result(job, f, out=self.out, backend=self.backend.name,
                             source_uri=redact(self.ctx.options.source) or "", seconds=time.monotonic() - t0,
                             attempts=attempts)

    def _succeeded(self, job: FetchJob, f: Fetched, t0: float, attempts: int) -> FetchResult:
        res = self._ok_result(job, f, t0, attempts)
        self.archive.add(res.to_row())
        if self.on_fetched is None:
            return res
        try:
            consumed = bool(self.on_fetched(res))
        except Exception as e:  # noqa: BLE001  (a failing consumer must not lose the download)
            res.message = one_line(f"on_fetched failed, file kept: {type(e).__name__}: {e}")
            return res
        if consumed and f.owned:
            remove_quietly(f.file)
            res.deleted = True
            res.finished_at = time.time()
            self.archive.add(res.to_row())
        return res


_MAX_BAN_RETRIES = 1000     # a safety net: an item rate-limited this often is recorded (transient)


def _pacing_and_routes(options: FetchOptions, backend: Backend, out: Path) -> tuple[Pacer | None, RoutePool]:
    """The shared pacer (when a rate is set) and the routes with their breakers; options checked
    before any work starts."""
    proxies = read_proxies(options.proxies) if options.proxies else None
    if proxies and hasattr(backend, "check_proxies"):
        backend.check_proxies(proxies)
    pool = RoutePool(options, proxies)
    pacer = (Pacer(out / PACING_DIR, options.max_requests_per_minute, jitter=options.pacing_jitter,
                   seed=options.seed) if options.max_requests_per_minute else None)
    return pacer, pool


def _where_attempts_run(options: FetchOptions, backend: Backend, out: Path) -> tuple[Attempt, int]:
    """(how one attempt runs, how many driver threads carry items): ``options.executor`` by name;
    one that offers remote calls (``ray``) is connected here, and every node's view of ``out``
    checked, before any work starts."""
    executor = build_executor(ExecutorSpec(options.executor, None, options.ray_address),
                              shared_paths=(str(out.resolve()),))
    threads = 1 if options.executor == "inline" else max(1, options.workers)
    calls = remote_calls(executor)
    if calls is None:
        return backend.fetch, threads
    calls.start_calls()
    return RemoteAttempts(calls, options), threads


def fetch(clips: pa.Table | str | os.PathLike[str], options: FetchOptions, *,
          on_fetched: OnFetched | None = None) -> FetchSummary:
    """Fetch every source of a clip table (or clip-table Parquet path) per ``options``.

    Returns a summary; raises DiskFullError after flushing the manifest when the disk filled up.
    """
    check_clips(clips, PLAN_COLUMNS)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    backend = open_backend(options.source, options)
    pacer, pool = _pacing_and_routes(options, backend, out)
    attempt, in_flight = _where_attempts_run(options, backend, out)
    sweep_temp_files(out)
    archive = DownloadArchive(options.archive_path())
    summary = FetchSummary(manifest=options.manifest_path())
    uri = redact(options.source)
    writer = ManifestWriter(options.manifest_path(), FETCH_MANIFEST_SCHEMA, keys=MANIFEST_KEYS,
                            flush_rows=1 << 62, flush_seconds=float("inf"))
    try:
        if isinstance(backend, LocalTreeBackend):   # dir: one tree scan, the list streamed, missing ones written
            bulk = bulk_missing(clips, backend.root, uri or "", options.manifest_path(), writer.write_table)
            table = bulk.remaining
            if bulk.missing:
                summary.counts["missing"] += bulk.missing
        else:
            table = clips if isinstance(clips, pa.Table) else read_plan_columns(clips)
        spans = source_spans(table)
        del table
        resume = plan_resume(spans.column("source").combine_chunks(), options.manifest_path(), archive,
                             out.resolve(), uri or "",
                             skip_failures=not options.retry_permanent and not backend.rechecks_failures)
    except BaseException:
        writer.close()
        raise
    keep = resume.keep
    summary.skipped_done, summary.skipped_failed = resume.skipped_done, resume.skipped_failed
    total = int(keep.sum())

    ctx = FetchContext(out=out, options=options, pacer=pacer)
    done_count = [0]
    pool.waiting = lambda: total - done_count[0]
    runner = _Job(backend, ctx, archive, on_fetched, pool, attempt)
    started = time.time()

    def items() -> Iterator[FetchJob]:     # pass 2: jobs made a batch at a time as they are taken
        for job in iter_jobs(spans, options, keep):
            if ctx.stop.is_set():
                return
            yield job

    from avdata.executors import threads  # noqa: F401  (registers the thread executor)

    executor = get_executor("threads", workers=in_flight)
    bar = progress(total, "fetch", unit="video", enabled=options.progress)
    try:
        with writer:
            for rows in resume.repair_rows():       # rows a killed run's manifest lost
                writer.write_many({k: row.get(k) for k in FETCH_MANIFEST_SCHEMA.names} for row in rows)
            writer.flush()
            try:
                for res in executor.map_unordered(runner, items()):
                    bar.update(1)
                    done_count[0] += 1
                    if res.status in STOP_CLASSES:
                        if res.status == "disk_full" and summary.stopped is None:
                            summary.stopped = res.message
                        if res.status == "gave_up" and summary.gave_up is None:
                            summary.gave_up = res.message
                        continue      # not a verdict on the video: the rerun tries it again
                    summary.counts[res.status] += 1
                    writer.write_many([res.to_row()])
                    writer.flush()    # durable per video: a kill loses only the videos in flight
                    if not res.ok:
                        bar.set_postfix(failed=summary.failed, refresh=False)
            finally:
                ctx.stop.set()        # stops in-flight work if we leave early (Ctrl-C)
    finally:
        bar.close()
        summary.routes = pool.stats()
        if pool.noteworthy():
            append_run_log(options.run_log_path(), started, summary.routes, dict(summary.counts))
    if summary.stopped:
        err = DiskFullError(summary.stopped)
        err.summary = summary  # type: ignore[attr-defined]
        raise err
    return summary
