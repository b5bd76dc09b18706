"""Any fsspec URL template (``file://``, ``http(s)://``, ``s3://``, ``gs://`` ...) with ``{id}``,
``{path}``, ``{name}`` or ``{stem}`` filled from each source, e.g. the YFCC100M layout
``https://host/data/videos/mp4/{path}``. Streams to a temporary file, checks the size (and a
checksum when the store gives one: Content-MD5, Digest, GCS md5Hash, S3 single-part ETag), probes
that the body is media (``media_check``), then renames. Short or long bodies are transient errors
(retried); 404 is permanent; 429 and 503 carry their ``Retry-After``. Each request waits for its
pacing slot; ``max_time`` / ``min_rate`` bound a download (``limits``); ``ctx.proxy`` (http/https
proxies only) is used for HTTP URLs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import string
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from avdata.atomic import atomic_path
from avdata.errors import AvdataError, DiskFullError, FetchError, UnsafePathError
from avdata.fetch.backend import FetchContext, Fetched, FetchJob, output_file, register_backend, youtube_file_name
from avdata.fetch.classify import classify_exception, redact
from avdata.fetch.limits import DownloadClock
from avdata.fetch.media_check import verify_media
from avdata.fetch.options import FetchOptions
from avdata.paths import check_relative, safe_name

PLACEHOLDERS = ("id", "path", "name", "stem")
_QUOTED_SCHEMES = ("http", "https")


def parse_template(template: str) -> list[tuple[str, str | None]]:
    """Split a URL template into (literal, placeholder) pairs; refuse unknown or formatted fields."""
    parts: list[tuple[str, str | None]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise AvdataError(f"bad URL template {template!r}: {e}") from e
    for literal, fieldname, spec, conv in parsed:
        if fieldname is not None and (fieldname not in PLACEHOLDERS or spec or conv):
            raise AvdataError(f"URL template {template!r}: unknown placeholder {{{fieldname}}}; "
                              f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
        parts.append((literal, fieldname))
    if not any(f for _, f in parts):
        raise AvdataError(f"URL template {template!r} has no placeholder such as {{id}} or {{path}}")
    return parts


def template_values(job: FetchJob) -> dict[str, str]:
    """Placeholder values for a source: checked, so data can never climb out of the template."""
    try:
        if job.kind == "youtube":
            vid = safe_name(job.source)
            return {"id": vid, "path": vid, "name": vid, "stem": vid}
        rel = check_relative(job.source)
    except UnsafePathError as e:
        raise FetchError("unsafe_path", str(e)) from e
    name = rel.name
    stem = PurePosixPath(name).stem
    return {"id": stem, "path": str(rel), "name": name, "stem": stem}


def expected_checksums(info: dict, protocol: str) -> list[tuple[str, str]]:
    """(hashlib algorithm, hex digest) pairs the store vouches for."""
    out: list[tuple[str, str]] = []

    def b64hex(v: str) -> str | None:
        try:
            return base64.b64decode(v.strip(), validate=True).hex()
        except (binascii.Error, ValueError):
            return None

    md5 = info.get("Content-MD5") or info.get("md5Hash")
    if isinstance(md5, str) and (h := b64hex(md5)):
        out.append(("md5", h))
    digest = info.get("Digest")
    if isinstance(digest, str):
        for item in digest.split(","):
            algo, _, value = item.strip().partition("=")
            name = {"md5": "md5", "sha-256": "sha256", "sha-512": "sha512"}.get(algo.lower())
            if name and (h := b64hex(value)):
                out.append((name, h))
    etag = info.get("ETag")
    if protocol in ("s3", "s3a") and isinstance(etag, str):
        e = etag.strip('"').lower()
        if len(e) == 32 and all(c in "0123456789abcdef" for c in e):
            out.append(("md5", e))
    return out


@dataclass
class UrlTemplateBackend:
    template: str
    options: FetchOptions
    name: str = "url"
    rechecks_failures: bool = False

    def __post_init__(self) -> None:
        self.parts = parse_template(self.template)
        self.protocol = self.template.partition(":")[0].lower() if "://" in self.template else "file"

    def check_proxies(self, proxies: list[str]) -> None:
        """Refuse up front what this backend cannot use (aiohttp speaks to http(s) proxies only)."""
        bad = [p for p in proxies if not p.lower().startswith(("http://", "https://"))]
        if bad and self.protocol in _QUOTED_SCHEMES:
            raise AvdataError(f"--proxies: the URL backend takes http:// or https:// proxies only, not "
                              f"{redact(bad[0])}")
        if self.protocol not in _QUOTED_SCHEMES:
            raise AvdataError(f"--proxies: {self.protocol}:// sources are not fetched through proxies")

    def url_for(self, job: FetchJob) -> str:
        values = template_values(job)
        quoted = self.protocol in _QUOTED_SCHEMES
        out = []
        for literal, fieldname in self.parts:
            out.append(literal)
            if fieldname:
                v = values[fieldname]
                out.append(quote(v, safe="/" if fieldname == "path" else "") if quoted else v)
        return "".join(out)

    def destination(self, job: FetchJob, url: str, out: Path) -> Path:
        if job.kind == "youtube":
            ext = PurePosixPath(url.split("?", 1)[0]).suffix.lstrip(".").lower()
            return output_file(out, youtube_file_name(job.source, ext if ext.isalnum() and ext else "mp4"))
        return output_file(out, job.source)

    def _open_store(self, url: str, proxy: str | None = None):  # noqa: ANN202  (filesystem, path in it)
        import fsspec

        kwargs: dict[str, Any] = {}
        if self.protocol in _QUOTED_SCHEMES:
            import aiohttp

            t = self.options.timeout
            kwargs["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(total=None, sock_connect=t, sock_read=t)}
            if proxy:
                if not proxy.lower().startswith(("http://", "https://")):
                    raise FetchError("bad_source", f"{proxy}: the URL backend takes http(s) proxies only")
                kwargs["proxy"] = proxy          # passed to each aiohttp request
                kwargs["skip_instance_cache"] = True
        return fsspec.core.url_to_fs(url, **kwargs)

    def fetch(self, job: FetchJob, ctx: FetchContext) -> Fetched:
        url = self.url_for(job)
        dest = self.destination(job, url, ctx.out)
        try:
            return self._download(job, url, dest, ctx)
        except (FetchError, DiskFullError):
            raise
        except Exception as e:  # every failure of the store becomes a classified FetchError
            raise classify_exception(e, url) from e

    def _download(self, job: FetchJob, url: str, dest: Path, ctx: FetchContext) -> Fetched:
        fs, path = self._open_store(url, ctx.proxy)
        ctx.pace(url)
        info = fs.info(path)
        if info.get("type") == "directory":
            raise FetchError("not_found", f"{url}: is a directory")
        size = info.get("size")
        ctx.ensure_space(size or 0)
        checks = expected_checksums(info, self.protocol)
        hashers = {algo: hashlib.new(algo) for algo, _ in checks}
        open_kwargs = {"block_size": 0, "size": size} if self.protocol in _QUOTED_SCHEMES else {}
        n = 0
        o = self.options
        with atomic_path(dest) as tmp:
            ctx.pace(url)
            clock = DownloadClock(url, o.max_time, o.min_rate, o.rate_window)
            with fs.open(path, "rb", **open_kwargs) as src, open(tmp, "wb") as dst:
                while True:
                    ctx.check_stop()
                    clock.update(n)
                    chunk = src.read(self.options.chunk_bytes)
                    if not chunk:
                        break
                    dst.write(chunk)
                    for h in hashers.values():
                        h.update(chunk)
                    n += len(chunk)
            if size is not None and n != size:
                raise FetchError("size_mismatch", f"{url}: got {n} bytes, expected {size}", transient=True)
            for algo, want in checks:
                got = hashers[algo].hexdigest()
                if got != want:
                    raise FetchError("checksum_mismatch", f"{url}: {algo} {got} != {want}", transient=True)
            verify_media(tmp, url)
            checksum = f"{checks[0][0]}:{checks[0][1]}" if checks else None
            fetched = Fetched(file=dest, bytes=n, url=url, checksum=checksum)
            ctx.landing(job, fetched)        # recorded, then renamed as the block ends
        return fetched


@register_backend("url")
def _make(uri: str, options: FetchOptions) -> UrlTemplateBackend:
    return UrlTemplateBackend(template=uri, options=options)
