"""``--source yfcc100m``: YFCC100M videos from the public Multimedia Commons bucket.

A list's video path (``data/videos/mp4/827/f6b/827f6b....mp4``) is a key of the bucket:
``s3://multimedia-commons/`` + path, read anonymously through fsspec's s3fs (region us-west-2),
with the ``url`` backend's streaming, size and ETag (MD5) checks and atomic landing. When S3 cannot
be used at all (s3fs not installed, connection refused, access denied) the same path is fetched
over HTTPS from the bucket's endpoint (``DEFAULT_HTTPS``); a missing object is permanent
(``not_found``) and not tried elsewhere; throttling (503 ``SlowDown``) is ``rate_limited``,
transient, and retried by the runner with its backoff (s3fs and botocore retries are turned off so
that one mechanism owns retrying and the manifest counts every attempt).

Settings ride on the URI: ``yfcc100m`` alone, or ``yfcc100m:KEY=VALUE&...`` with ``endpoint``
(an S3 API endpoint URL, e.g. a mirror or a test server), ``bucket``, ``region`` and ``https`` (the
fallback template with ``{path}``; ``none`` turns it off).
"""

from __future__ import annotations

import errno
import importlib.util
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from avdata.errors import AvdataError, FetchError, MissingExtraError
from avdata.fetch.backend import FetchContext, Fetched, FetchJob, register_backend
from avdata.fetch.classify import causes, one_line, parse_retry_after
from avdata.fetch.options import FetchOptions
from avdata.fetch.url import UrlTemplateBackend

DEFAULT_BUCKET = "multimedia-commons"
DEFAULT_REGION = "us-west-2"
DEFAULT_HTTPS = "https://multimedia-commons.s3-us-west-2.amazonaws.com/{path}"
SETTINGS = ("endpoint", "bucket", "region", "https")
FALLBACK_CLASSES = ("connection", "forbidden", "missing_extra")
# S3 error codes -> (error class, transient)
_S3_CODES = {"SlowDown": ("rate_limited", True), "ServiceUnavailable": ("rate_limited", True),
             "503": ("rate_limited", True), "NoSuchKey": ("not_found", False), "404": ("not_found", False),
             "AccessDenied": ("forbidden", False), "403": ("forbidden", False)}


@dataclass(frozen=True)
class YfccSettings:
    """Where the bucket is: S3 endpoint (None: AWS), bucket, region, HTTPS fallback (None: off)."""

    endpoint: str | None = None
    bucket: str = DEFAULT_BUCKET
    region: str = DEFAULT_REGION
    https: str | None = DEFAULT_HTTPS

    @classmethod
    def from_uri(cls, uri: str) -> YfccSettings:
        _, _, rest = uri.partition(":")
        values: dict[str, Any] = {}
        try:
            pairs = parse_qsl(rest, keep_blank_values=True, strict_parsing=True) if rest else []
        except ValueError as e:
            raise AvdataError(f"{uri}: settings must read KEY=VALUE&KEY=VALUE ({e})") from e
        for key, value in pairs:
            if key not in SETTINGS:
                raise AvdataError(f"{uri}: unknown setting {key!r}; use {', '.join(SETTINGS)}")
            values[key] = None if (key == "https" and value.lower() in ("", "none")) else value
        return cls(**values)


@dataclass
class S3Backend(UrlTemplateBackend):
    """The ``url`` backend on ``s3://BUCKET/{path}`` with anonymous access and no hidden retries."""

    settings: YfccSettings = field(default_factory=YfccSettings)

    def _open_store(self, url: str, proxy: str | None = None):  # noqa: ANN202  (filesystem, path in it)
        """The base's hook; ``proxy`` is always None here (``check_proxies`` refuses them up front)."""
        import fsspec

        t = self.options.timeout
        fs, path = fsspec.core.url_to_fs(
            url, anon=True, endpoint_url=self.settings.endpoint,
            client_kwargs={"region_name": self.settings.region},
            config_kwargs={"retries": {"total_max_attempts": 1}, "connect_timeout": t, "read_timeout": t})
        fs.retries = 1          # s3fs's own retry loop (a class attribute, not a constructor option)
        return fs, path


def _retry_after(response: dict) -> float | None:
    """The ``Retry-After`` header of a botocore error response, in seconds."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    return parse_retry_after(value) if value is not None else None


def s3_error(err: FetchError) -> FetchError:
    """Reclassify a failure of the S3 store by its S3 error code (s3fs turns ``SlowDown`` into an
    OSError EBUSY, which generic classification would call ``unknown``)."""
    for e in causes(err):
        code = None
        wait = err.retry_after
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
            code = response.get("Error", {}).get("Code") or str(status)
            wait = _retry_after(response) if wait is None else wait
        elif isinstance(e, OSError) and e.errno == errno.EBUSY:
            code = "SlowDown"
        if code in _S3_CODES:
            cls, transient = _S3_CODES[code]
            return FetchError(cls, one_line(f"{err.message} (S3 {code})"), transient=transient,
                              retry_after=wait if transient else None)
    return err


@dataclass
class YfccBackend:
    """S3 first; the HTTPS template when S3 cannot be used (see the module docstring)."""

    settings: YfccSettings
    options: FetchOptions
    name: str = "yfcc100m"
    rechecks_failures: bool = False

    def __post_init__(self) -> None:
        self.has_s3fs = importlib.util.find_spec("s3fs") is not None
        if not self.has_s3fs and self.settings.https is None:
            raise MissingExtraError("s3fs", "s3")
        self.s3 = S3Backend(template=f"s3://{self.settings.bucket}/{{path}}", options=self.options,
                            settings=self.settings)
        self.https = (UrlTemplateBackend(template=self.settings.https, options=self.options)
                      if self.settings.https else None)

    def check_proxies(self, proxies: list[str]) -> None:
        """``--proxies`` for S3 are refused up front, as the ``url`` backend refuses them for ``s3://``
        (without s3fs only the HTTPS template is used, and it takes http(s) proxies)."""
        backend = self.s3 if self.has_s3fs else self.https
        if backend is not None:
            backend.check_proxies(proxies)

    def fetch(self, job: FetchJob, ctx: FetchContext) -> Fetched:
        if job.kind != "path":
            raise FetchError("bad_source", f"{job.source}: YFCC100M sources are video paths, not YouTube ids")
        if not self.has_s3fs:
            assert self.https is not None           # checked when the backend was made
            return self.https.fetch(job, ctx)
        try:
            return self.s3.fetch(job, ctx)
        except FetchError as e:
            err = s3_error(e)
            if self.https is None or err.error_class not in FALLBACK_CLASSES:
                raise err from e
        try:
            return self.https.fetch(job, ctx)
        except FetchError as fallback:
            raise FetchError(fallback.error_class, one_line(f"S3: {err.message}; HTTPS: {fallback.message}"),
                             transient=fallback.transient or err.transient,
                             retry_after=fallback.retry_after) from fallback


@register_backend("yfcc100m")
def _make(uri: str, options: FetchOptions) -> YfccBackend:
    return YfccBackend(settings=YfccSettings.from_uri(uri), options=options)
