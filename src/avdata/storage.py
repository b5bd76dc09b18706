"""Object stores (any fsspec URL: ``s3://``, ``gs://``, ``memory://`` ...) for shards and shard lists.

Credentials and endpoints come from the usual fsspec / boto configuration (environment, config
files) and from ``--storage-option KEY=VALUE`` (e.g. ``endpoint_url=http://127.0.0.1:9000``),
never from a file avdata writes. ``check_writable`` / ``check_readable`` turn an unreachable or
unauthorised store into one line before any work (``StorageError``, exit 3).
"""

from __future__ import annotations

import os
import posixpath
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from avdata.errors import AvdataError, MissingExtraError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
UPLOAD_ATTEMPTS = 4


class StorageError(AvdataError):
    """An object store that cannot be used (unreachable, unauthorised, missing bucket)."""


def is_remote(url: str | os.PathLike[str]) -> bool:
    """True for a URL with a scheme other than ``file://`` (a local path is not remote)."""
    m = _SCHEME.match(str(url))
    return m is not None and m.group(1).lower() != "file"


def local_path(url: str | os.PathLike[str]) -> str:
    """``file:///x/y`` -> ``/x/y``; a plain path as it is."""
    text = str(url)
    return text[len("file://"):] if text.lower().startswith("file://") else text


def parse_storage_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs -> fsspec keyword arguments (true/false and integers converted)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AvdataError(f"--storage-option {pair!r}: expected KEY=VALUE")
        v: Any = value
        if value.lower() in ("true", "false"):
            v = value.lower() == "true"
        elif re.fullmatch(r"-?\d+", value):
            v = int(value)
        out[key.strip()] = v
    return out


def open_fs(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(filesystem, path inside it) of ``url``; MissingExtraError names the extra a scheme needs."""
    try:
        import fsspec
    except ImportError as e:      # pragma: no cover - fsspec is a core dependency
        raise MissingExtraError("fsspec", "s3") from e
    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as e:
        raise MissingExtraError(str(e.name or "s3fs"), "s3") from e
    except (ValueError, TypeError) as e:
        raise StorageError(f"{url}: {e}") from e


def join(url: str, name: str) -> str:
    """``url`` / ``name`` (``name`` is a plain file name made by avdata)."""
    return url.rstrip("/") + "/" + name


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text}"[:300]


def check_writable(url: str, storage_options: dict[str, Any] | None = None) -> None:
    """Write and remove a small probe object under ``url``, or StorageError in one line (a missing
    bucket is not created: that is the user's decision)."""
    fs, path = open_fs(url, storage_options)
    probe = posixpath.join(path, f".avdata-probe-{uuid.uuid4().hex[:12]}")
    try:
        fs.pipe_file(probe, b"avdata write probe\n")
        fs.rm_file(probe)
    except Exception as e:  # noqa: BLE001  any failure of the store is this one line
        raise StorageError(f"cannot write to {url}: {_one_line(e)}") from None


def check_readable(url: str, storage_options: dict[str, Any] | None = None) -> None:
    """``url`` exists and can be read, or StorageError in one line."""
    fs, path = open_fs(url, storage_options)
    try:
        fs.info(path)
    except FileNotFoundError:
        raise StorageError(f"cannot read {url}: no such object") from None
    except Exception as e:  # noqa: BLE001
        raise StorageError(f"cannot read {url}: {_one_line(e)}") from None


def upload(local: str | os.PathLike[str], url: str, storage_options: dict[str, Any] | None = None,
           attempts: int = UPLOAD_ATTEMPTS) -> int:
    """Put a finished local file at ``url`` whole (an S3 PUT, or a multipart upload completed only
    at the end: no reader ever sees a partial object), retrying a failed upload; its size."""
    fs, path = open_fs(url, storage_options)
    size = os.path.getsize(local)
    for attempt in range(1, attempts + 1):
        try:
            fs.put_file(str(local), path)
            if fs.info(path).get("size") != size:
                raise OSError(f"{url}: the store holds {fs.info(path).get('size')} bytes, not {size}")
            return size
        except Exception as e:  # noqa: BLE001
            if attempt == attempts:
                raise StorageError(f"upload of {url} failed {attempts} times: {_one_line(e)}") from None
            time.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
    return size
