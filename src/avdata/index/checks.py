"""The index stage's per-clip checks (``index_checks.parquet``: what the report reads and a rerun
reuses) and its summary file (``index_summary.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa

from avdata.index.validate import ClipResult
from avdata.manifest import manifest_parts

CHECKS_DIR = "index_checks.parquet"
CHECKS_TMP_GLOB = f".tmp-*-{CHECKS_DIR}"
CHECKS_FLUSH_ROWS = 10_000
CHECKS_PART_ROWS = 1 << 18   # a journal becomes a part this often: turning it into one holds it whole
SUMMARY_FILE = "index_summary.json"

CHECKS_SCHEMA = pa.schema([
    pa.field("clip_id", pa.string()),
    pa.field("clip", pa.string()),
    pa.field("split_file", pa.string()),
    pa.field("status", pa.string()),
    pa.field("message", pa.string()),
    pa.field("audio_seconds", pa.float64()),
    pa.field("sample_rate", pa.int32()),
    pa.field("channels", pa.int32()),
    pa.field("frames_ok", pa.int32()),
    pa.field("frames_total", pa.int32()),
    pa.field("aclip_128", pa.string()),
    pa.field("frame_224", pa.string()),
    pa.field("feature_error", pa.string()),
    pa.field("aclip", pa.string()),
    pa.field("frames", pa.list_(pa.string())),
    pa.field("fingerprint", pa.string()),        # inputs the result depends on (see validate)
    pa.field("files", pa.list_(pa.string())),    # files read or written, relative to the media root
    pa.field("sizes", pa.list_(pa.int64())),     # their sizes (-1: missing) ...
    pa.field("mtimes_ns", pa.list_(pa.int64())),  # ... and mtime_ns, when checked
])
CHECKS_KEYS = ("clip_id", "clip")


def leftover_checks(out: Path) -> list[Path]:
    """Check folders that killed runs left (``.tmp-*-index_checks.parquet``), oldest first."""
    return sorted((d for d in out.glob(CHECKS_TMP_GLOB) if d.is_dir()),
                  key=lambda d: min((p.name for p in manifest_parts(d)), default=""))


def previous_result(row: dict | None) -> ClipResult | None:
    """A check row as the ``ClipResult`` it recorded (None for rows without file stamps)."""
    if row is None or row.get("clip_id") is None or not row["fingerprint"]:
        return None
    return ClipResult(
        clip=row["clip"], status=row["status"], message=row["message"] or "", aclip=row["aclip"],
        frames=tuple(row["frames"] or ()), frames_total=row["frames_total"] or 0,
        audio_seconds=row["audio_seconds"], sample_rate=row["sample_rate"], channels=row["channels"],
        aclip_128=row["aclip_128"], frame_224=row["frame_224"], feature_error=row["feature_error"] or "",
        fingerprint=row["fingerprint"],
        stamps=tuple(zip(row["files"] or (), row["sizes"] or (), row["mtimes_ns"] or ())),
    )


def read_summary(index_dir: str | os.PathLike[str]) -> dict | None:
    """The ``index_summary.json`` beside an index, or None."""
    path = Path(index_dir) / SUMMARY_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text("utf-8"))
