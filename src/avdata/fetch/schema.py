"""The fetch manifest: one row per source video (key ``source``; the latest row for a key wins).

Written with ``avdata.manifest.ManifestWriter`` to ``{out}/fetch_manifest.parquet/`` unless told
otherwise. The extraction stage reads ``source``, ``status``, ``path`` and ``offset``:

- ``path``: the local file, relative to the fetch output directory (``{id}.{ext}`` for YouTube
  sources, the source's own relative path for path sources). Exception: a ``dir:`` source fetched
  without ``--link`` is used where it lies, and ``path`` is then that file's absolute path
  (``Path(out) / path`` gives the right file in both cases). Null when there is no file.
- ``offset``: the source-video second at which the local file starts (0.0 for whole videos, the
  section start for section downloads), so source time ``t`` is local time ``t - offset``.
- ``section_end``: where a section download ends in source time (null: the video's end).
- ``deleted``: the file was consumed (its clips extracted and verified) and removed on purpose.
"""

from __future__ import annotations

import pyarrow as pa

from avdata.manifest import STATUS_OK

FETCH_MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),          # YouTube id or relative video path (clip table)
        pa.field("source_kind", pa.string()),     # youtube | path
        pa.field("status", pa.string()),          # "ok" or the error class
        pa.field("path", pa.string()),            # local file (see above); null when none
        pa.field("offset", pa.float64()),         # source second where the local file starts
        pa.field("section_end", pa.float64()),    # source second where a section ends; null: whole
        pa.field("bytes", pa.int64()),            # size of the local file
        pa.field("seconds", pa.float64()),        # wall time over all attempts
        pa.field("attempts", pa.int32()),
        pa.field("error_class", pa.string()),     # null when ok
        pa.field("transient", pa.bool_()),        # whether retrying may help (failures only)
        pa.field("message", pa.string()),         # one line; empty when ok
        pa.field("backend", pa.string()),         # dir | url | youtube | ytdlp
        pa.field("source_uri", pa.string()),      # the --source given (credentials never stored)
        pa.field("url", pa.string()),             # where the bytes came from, when remote
        pa.field("checksum", pa.string()),        # e.g. "md5:..." when the server gave one and it matched
        pa.field("deleted", pa.bool_()),          # removed after extraction (--delete-after-extract)
        pa.field("finished_at", pa.float64()),    # unix time the row was made
    ]
)

MANIFEST_KEYS = ("source",)
DEFAULT_MANIFEST_NAME = "fetch_manifest.parquet"
DEFAULT_ARCHIVE_NAME = "fetch_archive.jsonl"
DEFAULT_RUN_LOG_NAME = "fetch_runs.jsonl"      # one line per run: paused time, trips and attempts per route

# Error classes. Permanent ones are recorded once and not retried unless asked.
PERMANENT_CLASSES = (
    "not_found", "forbidden", "removed", "private", "age_restricted", "geo_blocked", "members_only",
    "unavailable", "unsupported", "no_format", "bad_source", "unsafe_path", "missing",
    "name_too_long", "not_media",
)
TRANSIENT_CLASSES = (
    "connection", "timeout", "server_error", "rate_limited", "size_mismatch", "checksum_mismatch",
    "tool_error", "unknown", "bad_media", "too_slow",
    "worker_died",      # --executor ray: the worker process died (SIGKILL, OOM, node lost) past Ray's retries
)
# Stop classes: the run stopped before the item finished; never written as a final verdict.
# "gave_up": the source stayed banned past --give-up-after (the breaker); the rerun continues.
STOP_CLASSES = ("disk_full", "cancelled", "gave_up")

__all__ = [
    "FETCH_MANIFEST_SCHEMA", "MANIFEST_KEYS", "STATUS_OK", "DEFAULT_MANIFEST_NAME",
    "DEFAULT_ARCHIVE_NAME", "PERMANENT_CLASSES", "TRANSIENT_CLASSES", "STOP_CLASSES",
]
