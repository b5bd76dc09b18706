"""Download attempts on other processes (``fetch --executor ray``): the driver keeps the control
plane (its threads, each item's retries and back-off, the routes and their breakers, the stop
event, the manifest, ``on_fetched``); only the attempt, ``backend.fetch(job, ctx)``, moves.

- Driver side: ``RemoteAttempts`` sends each attempt through an executor's ``call()`` (the
  ``RemoteCalls`` contract of ``avdata.executors``) and turns what comes back into what
  ``backend.fetch`` would have done: return a ``Fetched`` or raise ``FetchError`` /
  ``DiskFullError``. A stop of the run cancels the attempt (``cancelled``); a worker that died past
  Ray's retries is a transient ``worker_died`` error, so the item's own retries apply.
- Worker side: ``run_attempt`` opens the backend from ``(options.source, options)`` once per worker
  process, rebuilds the ``FetchContext`` (this attempt's proxy; a ``Pacer`` on the run's shared
  ``.avdata-pacing`` folder), records a landing file in the archive before its final rename (the
  archive's appends are flock'd, so many workers share it), classifies any failure there and sends
  back plain fields, never a pickled exception.

Paths in the options are made absolute first: a worker's working folder is not the driver's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

from avdata.errors import DiskFullError, FetchError
from avdata.executors import CallCancelled, CallLost, RemoteCalls
from avdata.fetch.archive import DownloadArchive
from avdata.fetch.backend import Backend, FetchContext, Fetched, FetchJob, open_backend, uri_scheme
from avdata.fetch.classify import WORKER_DIED, as_fetch_error, one_line, redact
from avdata.fetch.options import FetchOptions
from avdata.fetch.pacing import PACING_DIR, Pacer
from avdata.fetch.result import landed_result

DISK_FULL = "disk_full"


@dataclass(frozen=True)
class AttemptRequest:
    """One attempt to send: the job, the run's options (absolute paths), this attempt's proxy and
    the source URI as the driver records it (redacted)."""

    job: FetchJob
    options: FetchOptions
    proxy: str | None
    source_uri: str


@dataclass(frozen=True)
class AttemptOutcome:
    """What an attempt came to: the ``Fetched``, or a failure's plain fields."""

    fetched: Fetched | None = None
    error_class: str = ""
    message: str = ""
    transient: bool = False
    retry_after: float | None = None

    @classmethod
    def failed(cls, err: FetchError | DiskFullError) -> AttemptOutcome:
        if isinstance(err, DiskFullError):
            return cls(error_class=DISK_FULL, message=one_line(err), transient=True)
        return cls(error_class=err.error_class, message=err.message, transient=err.transient,
                   retry_after=err.retry_after)

    def unwrap(self) -> Fetched:
        """The ``Fetched``, or the error rebuilt as ``backend.fetch`` would have raised it."""
        if self.fetched is not None:
            return self.fetched
        if self.error_class == DISK_FULL:
            raise DiskFullError(self.message)
        raise FetchError(self.error_class or "unknown", self.message, transient=self.transient,
                         retry_after=self.retry_after)


def worker_options(options: FetchOptions) -> FetchOptions:
    """``options`` with every path a worker uses made absolute (``dir:`` sources too)."""
    def absolute(p: Path | None) -> Path | None:
        return Path(p).expanduser().resolve() if p is not None else None

    source = options.source
    if uri_scheme(source) == "dir":
        source = "dir:" + str(Path(source.partition(":")[2]).expanduser().resolve())
    return replace(options, source=source, out=Path(options.out).resolve(),
                   archive=options.archive_path().resolve(), manifest=options.manifest_path().resolve(),
                   cookies=absolute(options.cookies), ffmpeg=absolute(options.ffmpeg),
                   proxies=absolute(options.proxies))


class RemoteAttempts:
    """Driver side: ``attempts(job, ctx)`` runs one attempt through ``calls`` (see the module docstring)."""

    def __init__(self, calls: RemoteCalls, options: FetchOptions) -> None:
        self.calls = calls
        self.options = worker_options(options)
        self.source_uri = redact(options.source) or ""

    def __call__(self, job: FetchJob, ctx: FetchContext) -> Fetched:
        request = AttemptRequest(job, self.options, ctx.proxy, self.source_uri)
        try:
            outcome = self.calls.call(run_attempt, request, stop=ctx.stop)
        except CallCancelled as e:
            raise FetchError("cancelled", "the run is stopping", transient=True) from e
        except CallLost as e:
            cls = WORKER_DIED if e.reason == WORKER_DIED else "unknown"
            raise FetchError(cls, one_line(f"{job.source}: {e.detail}"), transient=True) from e
        return outcome.unwrap()


def run_attempt(request: AttemptRequest) -> AttemptOutcome:
    """Worker side: one attempt at ``request.job``; never raises (failures come back as fields)."""
    job, options = request.job, request.options
    try:
        backend = _backend(options)
        archive = _archive(options.archive_path())
        out = Path(options.out)
        ctx = FetchContext(out=out, options=options, proxy=request.proxy, pacer=_pacer(options))

        def landing(landed_job: FetchJob, f: Fetched) -> None:
            row = landed_result(landed_job, f, out=out, backend=backend.name, source_uri=request.source_uri,
                                seconds=0.0, attempts=0)
            archive.add(row.to_row())

        ctx.on_landing = landing
        return AttemptOutcome(fetched=backend.fetch(job, ctx))
    except Exception as e:  # noqa: BLE001  (classified here; the driver decides what happens next)
        return AttemptOutcome.failed(e if isinstance(e, (FetchError, DiskFullError)) else as_fetch_error(e, job.source))


# Per worker process: built once, reused by every attempt that process runs.
@functools.lru_cache(maxsize=4)
def _backend(options: FetchOptions) -> Backend:
    return open_backend(options.source, options)


@functools.lru_cache(maxsize=4)
def _archive(path: Path) -> DownloadArchive:
    return DownloadArchive(path)


@functools.lru_cache(maxsize=4)
def _pacer(options: FetchOptions) -> Pacer | None:
    if not options.max_requests_per_minute:
        return None
    return Pacer(Path(options.out) / PACING_DIR, options.max_requests_per_minute,
                 jitter=options.pacing_jitter, seed=options.seed)
