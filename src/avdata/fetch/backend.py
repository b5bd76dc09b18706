"""Fetch backends and how one is chosen: by the scheme of the ``--source`` URI, from a registry.

A backend is built from ``(uri, options)`` and fetches one ``FetchJob`` at a time into the output
directory, returning a ``Fetched`` or raising ``FetchError`` / ``DiskFullError``. It must never put
a partial file under a final name (write a temporary name from ``avdata.atomic``, then rename),
probes what it downloaded (``avdata.fetch.media_check``) and calls ``ctx.landing(job, fetched)``
just before that rename. Before each request it calls ``ctx.pace(url)`` (shared pacing) and it
uses ``ctx.proxy`` when set (the proxy pool picks one per attempt). A new backend is one
module decorated with ``@register_backend("scheme")``; URIs whose scheme is no registered name but
an fsspec protocol go to the ``url`` backend.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from avdata.atomic import check_name_fits
from avdata.errors import AvdataError, DiskFullError, FetchError, NameTooLongError, UnsafePathError, did_you_mean
from avdata.fetch.options import FetchOptions
from avdata.paths import check_relative, safe_join
from avdata.registry import Registry

if TYPE_CHECKING:
    from avdata.fetch.pacing import Pacer


@dataclass(frozen=True)
class FetchJob:
    """One source video to fetch: its id or relative path, its kind, and the merged sections its
    clips need (source seconds; empty means the whole video)."""

    source: str
    kind: str                                       # youtube | path
    sections: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Fetched:
    """A video now available locally. ``file`` is absolute; ``owned`` says it lives in the output
    tree and may be deleted after extraction (a user's own tree is never touched)."""

    file: Path
    offset: float = 0.0
    section_end: float | None = None
    bytes: int = 0
    owned: bool = True
    url: str | None = None
    checksum: str | None = None


@dataclass
class FetchContext:
    """What a backend needs besides the job: where to write, when to stop, how much disk to keep."""

    out: Path
    options: FetchOptions
    stop: threading.Event = field(default_factory=threading.Event)
    on_landing: Callable[[FetchJob, Fetched], None] | None = None
    proxy: str | None = None                              # this attempt's proxy (--proxies), if any
    pacer: Pacer | None = None                          # shared pacing (--max-requests-per-minute)

    def pace(self, url: str) -> None:
        """Wait for this host's next request slot (no-op without pacing); stops early when the run does."""
        if self.pacer is not None:
            self.pacer.wait(url, proxy=self.proxy, stop=self.stop)
            self.check_stop()

    def landing(self, job: FetchJob, fetched: Fetched) -> None:
        """Call right before a complete file is renamed to its final name: the runner records it
        first, so a kill between the two can never leave an unrecorded file under a final name
        (a recorded file that never landed is simply fetched again)."""
        if self.on_landing is not None:
            self.on_landing(job, fetched)

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise FetchError("cancelled", "the run is stopping", transient=True)

    def ensure_space(self, expected_bytes: int = 0) -> None:
        """Raise DiskFullError unless ``expected_bytes`` fit with ``min_free_bytes`` to spare."""
        free = shutil.disk_usage(self.out).free
        need = int(expected_bytes) + int(self.options.min_free_bytes)
        if free < need:
            raise DiskFullError(
                f"{self.out}: {free} bytes free, need {need} ({expected_bytes} for the next video "
                f"+ {self.options.min_free_bytes} reserve); stopping, completed videos are kept")


class Backend(Protocol):
    name: str
    rechecks_failures: bool   # True: failures are cheap to recheck, so reruns always try again

    def fetch(self, job: FetchJob, ctx: FetchContext) -> Fetched: ...


BackendFactory = Callable[[str, FetchOptions], Backend]
# the built-in backends are modules named by path: this module imports none of them (no cycle)
BACKENDS: Registry[BackendFactory] = Registry(
    "fetch backend", "avdata.backends",
    ("avdata.fetch.local", "avdata.fetch.url", "avdata.fetch.youtube", "avdata.fetch.yfcc100m"))


def register_backend(*schemes: str) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator: make a backend factory available for URIs with these schemes."""
    return BACKENDS.register(*schemes)


def uri_scheme(uri: str) -> str:
    """``dir:/x`` -> ``dir``; ``https://...`` -> ``https``; ``youtube`` -> ``youtube``."""
    head, sep, _ = uri.partition(":")
    return head.lower() if sep else uri.lower()


def open_backend(uri: str, options: FetchOptions) -> Backend:
    """Build the backend for ``uri`` (see the module docstring)."""
    import fsspec

    scheme = uri_scheme(uri)
    factory = BACKENDS.find(scheme)
    if factory is None and scheme in fsspec.available_protocols():
        factory = BACKENDS.get("url")
    if factory is None:
        raise AvdataError(f"unknown fetch source {uri!r}: use dir:PATH, an fsspec URL template "
                          f"(file://, http(s)://, s3://, gs://, ...), youtube or ytdlp:URL_TEMPLATE; "
                          f"registered: {', '.join(BACKENDS.names())}{did_you_mean(scheme, BACKENDS.names())}")
    return factory(uri, options)


def backend_names() -> list[str]:
    return BACKENDS.names()


def output_file(out: Path, rel: str) -> Path:
    """Where a data-derived relative path lands under ``out``. The folders must stay inside ``out``;
    the last component may be a symlink this stage made (``--link``), so it is not resolved."""
    try:
        clean = check_relative(rel)
    except UnsafePathError as e:
        raise FetchError("unsafe_path", str(e)) from e
    parent = str(PurePosixPath(*clean.parts[:-1])) if len(clean.parts) > 1 else ""
    try:
        folder = safe_join(out, parent) if parent else Path(out).resolve()
    except UnsafePathError as e:
        raise FetchError("unsafe_path", str(e)) from e
    try:
        check_name_fits(folder / clean.name)
    except NameTooLongError as e:
        raise FetchError("name_too_long", str(e)) from e
    return folder / clean.name


def youtube_file_name(video_id: str, ext: str) -> str:
    """``{id}.{ext}`` for an id checked by the caller (may begin with ``-``: it is data, not an option)."""
    ext = ext.lstrip(".")
    if not ext.isalnum():
        raise FetchError("unsupported", f"{video_id}: odd file extension {ext!r}")
    return f"{video_id}.{ext}"


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
