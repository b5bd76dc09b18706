"""Index as published: a clip table read from VIP-ANT's own index files (``avdata ingest vipant``)
gets each of those files back under its own name, with the published lines, byte for byte, in the
published order, for every line whose media passed the checks.

A line is kept when every clip it lists (``aclip``: ``p0``, ``n0`` ...) was extracted and passed
the checks under the name the line gives, every frame it lists is there, and, with ``features``,
the ``aclip_128`` / ``frame_224`` it names were made. For each published file ``NAME.csv`` the
stage writes into the index folder:

- ``NAME.csv``: the kept lines;
- ``NAME_weight.csv``: the kept lines' weights, when the table holds a weights file for it
  (``ingest --weights``), so that line i of both still go together;
- ``NAME_dropped.csv``: the dropped lines, byte for byte (feed them to a later run);
- ``NAME_coverage.json``: lines listed, kept, dropped by reason (the gold clip's check status,
  e.g. ``extract_missing_video``, or ``n0_extract_no_room``, ``frames_missing``,
  ``features_missing``, ``repeated_id``: an id met earlier in the table, whose media are the first
  row's; index each published file, or files that share no id, as its own table). For
  ``src_train_segments.csv`` also the new splitting line: how many of the kept lines come before
  the published one (``published_split_line``, 1715367 by default).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from avdata.atomic import atomic_path, write_text_atomic
from avdata.errors import AvdataError
from avdata.extract.published import FRAME_NAME
from avdata.index.checks import CHECKS_DIR, CHECKS_SCHEMA
from avdata.index.entry import COMBINED_FILE
from avdata.manifest import read_manifest
from avdata.table import iter_clips
from avdata.weights.files import weights_path_for

PUBLISHED_SPLIT_LINE = 1_715_367       # VIP-ANT: "the splitting line number is 1715367"
COLUMNS = ("clip_id", "origin_file", "origin_line", "index_dir", "index_name", "index_aclip", "index_frame",
           "index_aclip_128", "index_frame_224", "index_line", "index_weight")
CHECK_COLUMNS = ["clip_id", "clip", "status", "aclip", "frames", "aclip_128", "frame_224"]
OK = "ok"
BATCH = 1 << 16


@dataclass
class Coverage:
    """One published file: lines listed, kept, dropped by reason."""

    file: str
    path: Path
    listed: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    weights: Path | None = None
    split_line: int | None = None
    published_split_line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"file": self.file, "published_file": self.path.name, "listed": self.listed,
                             "kept": self.kept, "dropped": dict(self.dropped.most_common()),
                             "weights": self.weights.name if self.weights else None}
        if self.published_split_line is not None:
            d.update(published_split_line=self.published_split_line, split_line=self.split_line)
        return d

    def line(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in self.dropped.most_common()) or "none"
        split = f"; splitting line {self.published_split_line} -> {self.split_line}" \
            if self.published_split_line is not None else ""
        weights = f"; weights cut to match: {self.weights.name}" if self.weights else ""
        return (f"  {self.path.name} (as published): {self.kept} of {self.listed} lines kept; dropped: "
                f"{reasons}{split}{weights}")


def is_published(clips: str | os.PathLike[str]) -> bool:
    """Was this clip table read from VIP-ANT index files (it has their lines)?"""
    import pyarrow.parquet as pq

    try:
        return "index_line" in pq.read_schema(os.path.abspath(clips)).names
    except (OSError, pa.ArrowException):
        return False


def _checks_for(checks: pa.Table, ids: pa.Array) -> dict[str, dict[str, dict[str, Any]]]:
    """clip id -> clip -> its check row, for the ids of one batch."""
    rows = checks.filter(pc.is_in(checks.column("clip_id"), value_set=ids)).to_pylist()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["clip_id"], {})[r["clip"]] = r
    return out


def verdict(row: dict[str, Any], checks: dict[str, dict[str, Any]], features: bool) -> str | None:
    """None when the line can be kept as published, else why not."""
    if row["clip_id"] != row["index_name"]:
        return "repeated_id"            # an id met earlier in the table: its media are the first row's
    gold = checks.get("p0")
    if gold is None:
        return "not_indexed"
    if gold["status"] != OK:
        return str(gold["status"])
    frames: dict[str, set[str]] = {}
    for name in row["index_frame"] or []:
        m = FRAME_NAME.fullmatch(name)
        frames.setdefault(m["clip"] if m else name.split(".")[0], set()).add(name)
    for name in row["index_aclip"] or []:
        clip = name.split(".")[0]
        c = checks.get(clip)
        if c is None:
            return f"{clip}_not_extracted"
        if c["status"] != OK:
            return f"{clip}_{c['status']}"
        if c["aclip"] != name:
            return "audio_name_differs"
    for clip, names in frames.items():
        c = checks.get(clip)
        if c is None or c["status"] != OK or not names <= set(c["frames"] or []):
            return "frames_missing"
    if features:
        for key in ("aclip_128", "frame_224"):
            want = row[f"index_{key}"]
            if want is not None and gold[key] != want:
                return "features_missing"
    return None


def _published_rows(clips: str | os.PathLike[str]) -> Iterator[pa.Table]:
    yield from iter_clips(clips, list(COLUMNS), BATCH)


def write_published(clips: str | os.PathLike[str], out: Path, features: bool,
                    published_split_line: int = PUBLISHED_SPLIT_LINE) -> list[Coverage]:
    """Write every published file of ``clips`` into ``out`` (see the module docstring)."""
    checks = read_manifest(out / CHECKS_DIR, CHECKS_SCHEMA).select(CHECK_COLUMNS)
    files: dict[str, Coverage] = {}
    names: dict[str, str] = {}
    with ExitStack() as stack:
        sinks: dict[tuple[str, str], IO[bytes]] = {}

        def sink(origin: str, kind: str) -> IO[bytes]:
            if (origin, kind) not in sinks:
                cov = files[origin]
                path = {"kept": cov.path, "dropped": cov.path.with_name(f"{cov.path.stem}_dropped.csv"),
                        "weights": weights_path_for(cov.path)}[kind]
                if kind == "weights":
                    cov.weights = path
                tmp = stack.enter_context(atomic_path(path))
                sinks[(origin, kind)] = stack.enter_context(open(tmp, "wb"))
            return sinks[(origin, kind)]

        for batch in _published_rows(clips):
            by_id = _checks_for(checks, batch.column("clip_id").combine_chunks())
            for row in batch.to_pylist():
                origin = row["origin_file"]
                if origin not in files:
                    name = Path(origin).name
                    if name in names and names[name] != origin:
                        raise AvdataError(f"two published files are named {name} ({names[name]}, {origin}); "
                                          "index them separately")
                    names[name] = origin
                    files[origin] = Coverage(origin, out / name)
                    if name == COMBINED_FILE:
                        files[origin].published_split_line = published_split_line
                        files[origin].split_line = 0
                    sink(origin, "kept")
                    sink(origin, "dropped")
                cov = files[origin]
                cov.listed += 1
                why = verdict(row, by_id.get(row["clip_id"], {}), features)
                if why is None:
                    cov.kept += 1
                    sink(origin, "kept").write(row["index_line"])
                    if row["index_weight"] is not None:
                        sink(origin, "weights").write(row["index_weight"])
                    if cov.published_split_line is not None and row["origin_line"] <= cov.published_split_line:
                        cov.split_line = (cov.split_line or 0) + 1
                else:
                    cov.dropped[why] += 1
                    sink(origin, "dropped").write(row["index_line"])
    for cov in files.values():
        write_text_atomic(cov.path.with_name(f"{cov.path.stem}_coverage.json"),
                          json.dumps(cov.to_dict(), indent=1) + "\n")
    return list(files.values())
