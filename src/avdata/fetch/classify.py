"""Turn low-level exceptions (HTTP statuses, socket errors, yt-dlp messages) into ``FetchError``s
with an error class and a transient flag, so the runner retries only what retrying can fix."""

from __future__ import annotations

import asyncio
import email.utils
import errno
import http
import re
import socket
import time
from collections.abc import Iterator

from avdata.errors import DiskFullError, FetchError, NameTooLongError, UnsafePathError

# Classes that say "the source as a whole refuses us now" (they feed the circuit breaker).
BAN_CLASSES = ("rate_limited",)

# A download attempt whose worker process died (--executor ray: SIGKILL, OOM, a lost node) even
# after Ray's own retries: transient, so the item's retries (--max-attempts) apply.
WORKER_DIED = "worker_died"

# HTTP status -> (error class, transient)
_STATUS_CLASSES: dict[int, tuple[str, bool]] = {
    400: ("bad_source", False),
    401: ("forbidden", False),
    403: ("forbidden", False),
    404: ("not_found", False),
    408: ("timeout", True),
    410: ("removed", False),
    429: ("rate_limited", True),
    451: ("geo_blocked", False),
}

# yt-dlp (and YouTube) messages, lower-cased, first match wins: specific before generic.
_MESSAGE_CLASSES: list[tuple[str, str, bool]] = [
    (r"sign in to confirm you.?re not a bot|too many requests|http error 429", "rate_limited", True),
    (r"private video|video is private", "private", False),
    (r"sign in to confirm your age|age[- ]restricted|inappropriate for some users", "age_restricted", False),
    (r"not made this video available in your country|not available in your country|geo[- ]?restrict",
     "geo_blocked", False),
    (r"members[- ]only|join this channel", "members_only", False),
    (r"has been removed|account associated with this video has been terminated|no longer available"
     r"|copyright claim|violating youtube", "removed", False),
    (r"http error 404|404: not found", "not_found", False),
    (r"http error 410", "removed", False),
    (r"http error 403", "forbidden", True),        # YouTube answers 403 to throttled clients too
    (r"http error 5\d\d", "server_error", True),
    (r"requested format is not available|no video formats found", "no_format", False),
    (r"unsupported url", "unsupported", False),
    (r"is not a valid url", "bad_source", False),
    (r"video unavailable|this video is unavailable|content isn.t available", "unavailable", False),
    (r"timed out|timeout", "timeout", True),
    (r"connection|reset by peer|remote end closed|incomplete read|eof occurred|broken pipe"
     r"|payload is not completed|unable to download", "connection", True),
    (r"ffmpeg exited|ffmpeg is not installed|cannot be partially downloaded|postprocessing", "tool_error", True),
]
_MESSAGE_PATTERNS = [(re.compile(p), c, t) for p, c, t in _MESSAGE_CLASSES]


def one_line(text: object, limit: int = 500) -> str:
    """A message squeezed onto one line (no ANSI colour codes), at most ``limit`` characters."""
    s = re.sub(r"\x1b\[[0-9;]*m", "", str(text))
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its chain of causes and contexts (each once)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def http_status(exc: BaseException) -> int | None:
    """An HTTP status found on ``exc`` or its causes (aiohttp, urllib, yt-dlp networking errors)."""
    for e in causes(exc):
        for attr in ("status", "status_code"):   # not .code: aiohttp payload errors use it for 400
            v = getattr(e, attr, None)
            if isinstance(v, int) and 100 <= v <= 599:
                return v
        resp = getattr(e, "response", None)
        v = getattr(resp, "status", None)
        if isinstance(v, int) and 100 <= v <= 599:
            return v
    return None


def parse_retry_after(value: object, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after(exc: BaseException) -> float | None:
    """The ``Retry-After`` an HTTP error carried (aiohttp, urllib and yt-dlp errors), in seconds."""
    for e in causes(exc):
        for holder in (e, getattr(e, "response", None)):
            headers = getattr(holder, "headers", None)
            if headers is None or not hasattr(headers, "get"):
                continue
            try:
                value = headers.get("Retry-After")
            except Exception:  # noqa: BLE001  (odd header containers)
                value = None
            seconds = parse_retry_after(value)
            if seconds is not None:
                return seconds
    return None


def status_text(status: int) -> str:
    """``"429 Too Many Requests"``."""
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def classify_status(status: int, message: str, retry_after_s: float | None = None) -> FetchError:
    """A FetchError for an HTTP error status (``message`` says where, e.g. the URL)."""
    if status in _STATUS_CLASSES:
        cls, transient = _STATUS_CLASSES[status]
    elif status >= 500:
        cls, transient = "server_error", True
    else:
        cls, transient = "unknown", True
    text = f"HTTP {status_text(status)}" + (f": {message}" if message else "")
    if retry_after_s is not None:
        text += f" (Retry-After {retry_after_s:g} s)"
    return FetchError(cls, one_line(text), transient=transient, retry_after=retry_after_s)


def classify_message(message: str) -> FetchError:
    """A FetchError for a yt-dlp / server message (unknown messages count as transient)."""
    low = message.lower()
    for pattern, cls, transient in _MESSAGE_PATTERNS:
        if pattern.search(low):
            return FetchError(cls, one_line(message), transient=transient)
    return FetchError("unknown", one_line(message), transient=True)


def is_disk_full(exc: BaseException) -> bool:
    return any(isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT) for e in causes(exc))


def classify_exception(exc: BaseException, where: str = "") -> FetchError | DiskFullError:
    """Map any exception raised while fetching to a FetchError (or DiskFullError for ENOSPC)."""
    prefix = f"{where}: " if where else ""
    if isinstance(exc, (FetchError, DiskFullError)):
        return exc
    if is_disk_full(exc):
        return DiskFullError(f"{prefix}disk full ({one_line(exc)})")
    for e in causes(exc):
        if isinstance(e, NameTooLongError) or (isinstance(e, OSError) and e.errno == errno.ENAMETOOLONG):
            return FetchError("name_too_long", one_line(f"{prefix}{e}"), transient=False)
    status = http_status(exc)
    if status is not None and status >= 400:
        return classify_status(status, where, retry_after(exc))
    for e in causes(exc):
        if isinstance(e, (TimeoutError, socket.timeout, asyncio.TimeoutError)):
            return FetchError("timeout", one_line(f"{prefix}{type(e).__name__}: {e}"), transient=True)
    for e in causes(exc):
        if isinstance(e, (ConnectionError, EOFError, asyncio.IncompleteReadError)) or \
                type(e).__module__.startswith("aiohttp"):
            return FetchError("connection", one_line(f"{prefix}{type(e).__name__}: {e}"), transient=True)
    if isinstance(exc, FileNotFoundError):
        return FetchError("not_found", one_line(f"{prefix}not found"), transient=False)
    if isinstance(exc, PermissionError):
        return FetchError("forbidden", one_line(f"{prefix}{exc}"), transient=False)
    return classify_message(f"{prefix}{type(exc).__name__}: {exc}")


def as_fetch_error(exc: BaseException, source: str) -> FetchError | DiskFullError:
    """What the runner records for any exception of an attempt at ``source`` (see classify_exception)."""
    if isinstance(exc, UnsafePathError):
        return FetchError("unsafe_path", str(exc))
    return classify_exception(exc, source)


def redact(uri: str | None) -> str | None:
    """``uri`` without user:password@ credentials or query-string secrets, for manifests and logs."""
    if uri is None:
        return None
    uri = re.sub(r"(//)[^/@\s]*@", r"\1", uri)
    return re.sub(r"([?&](?:token|key|sig|signature|password|x-amz-[a-z-]+)=)[^&\s]*", r"\1REDACTED", uri,
                  flags=re.IGNORECASE)
