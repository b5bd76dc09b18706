"""``avdata lock INDEX... --media ROOT -o FILE.lock``: an exact, checkable record of a build.

Index lines are streamed a block at a time; every file a line names (all ``aclip`` names, the
frames, ``aclip_128``, ``frame_224``) is hashed by a pool of threads (SHA-256 releases the GIL),
in order, with a bounded number in flight; the lock is written as it goes (atomically: a killed run
leaves no lock). Memory: the in-flight window, plus, with ``--clips``, the clip table's id -> list
row map (about 150 bytes per clip: ~0.3 GB at 2M) and each list file's line offsets (8 bytes a line).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

import avdata
from avdata.atomic import atomic_path
from avdata.embed.base import file_sha256
from avdata.errors import AvdataError, InputFormatError
from avdata.index.lines import iter_raw_lines, parse_line
from avdata.lock.format import FORMAT, HEADER_KEY, clip_digest, dumps, trailer
from avdata.manifest import read_manifest
from avdata.paths import join_checked
from avdata.progress import progress
from avdata.sources.vipant import split_of

KEEP = 1000            # problem lines kept (all are counted)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class LockOptions:
    """Options of ``run_lock`` (mirrors ``avdata lock``)."""

    index: tuple[str, ...]
    media: str | os.PathLike[str]
    out: str | os.PathLike[str]
    clips: str | os.PathLike[str] | None = None             # the clip table: each clip's list row, lists' hashes
    fetch_manifest: str | os.PathLike[str] | None = None    # coverage: videos fetched per split (with clips)
    extract_manifest: str | os.PathLike[str] | None = None  # coverage: clips extracted per split (with clips)
    threads: int = 4
    progress: bool | None = None


@dataclass
class LockResult:
    out: Path
    clips: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)       # first KEEP lines: a clip missing a file, a bad line
    problem_count: int = 0

    def summary_text(self) -> str:
        return (f"lock: {self.clips} clips, {self.files} files ({self.bytes / 1e6:.1f} MB) -> {self.out}; "
                f"{self.problem_count} clip(s) with a problem")


def line_files(rec: dict[str, Any], root: Path) -> list[tuple[str, Path]]:
    """(path relative to the media root, absolute path) of every file an index line names; ``root``
    resolved by the caller. Paths are checked lexically (``paths.join_checked``): none leaves the root."""
    d, cid = str(rec.get("dir") or ""), str(rec.get("id") or "")
    if not d or not cid:
        raise AvdataError("index line has no 'dir' or 'id'")
    out = []

    def names(value: Any) -> list[str]:
        return [] if value is None else [value] if isinstance(value, str) else [str(v) for v in value]

    for key in ("aclip", "frame", "aclip_128", "frame_224"):
        for name in names(rec.get(key)):
            out.append(join_checked(root, f"{d}/{key}/{cid}.{name}"))
    return out


@dataclass(frozen=True)
class ClipTask:
    index_file: str
    split: str
    line: int
    raw: bytes
    root: Path


@dataclass
class ClipHashes:
    task: ClipTask
    record: dict[str, Any] | None
    problem: str | None
    bytes: int = 0


def hash_clip(task: ClipTask) -> ClipHashes:
    """Size and SHA-256 of every file of one index line (pure: any thread)."""
    where = f"{task.index_file}:{task.line}"
    try:
        rec = parse_line(task.raw, task.index_file, task.line)
        files = line_files(rec, task.root)
    except (InputFormatError, AvdataError) as e:
        return ClipHashes(task, None, f"{where}: {getattr(e, 'reason', e)}")
    entries, missing, total = [], [], 0
    for rel, path in files:
        try:
            size = path.stat().st_size
            entries.append([rel, size, file_sha256(path)])
            total += size
        except OSError:
            missing.append(rel)
    record = {"split": task.split, "id": str(rec.get("id")), "index_file": Path(task.index_file).name,
              "line": task.line, "files": entries, "digest": clip_digest(entries)}
    if missing:
        record["missing"] = missing
        return ClipHashes(task, record, f"{where}: {record['id']}: missing {', '.join(missing)}", total)
    return ClipHashes(task, record, None, total)


def ordered_map(pool: ThreadPoolExecutor, fn: Any, items: Iterable[T], limit: int) -> Iterator[Any]:
    """``fn(item)`` in the items' order, at most ``limit`` in flight."""
    window: deque[Future[Any]] = deque()
    for item in items:
        window.append(pool.submit(fn, item))
        if len(window) >= limit:
            yield window.popleft().result()
    while window:
        yield window.popleft().result()


class SourceRows:
    """Each clip's row of its source list, from the clip table's ``origin_file`` / ``origin_line``."""

    def __init__(self, clips: str | os.PathLike[str]) -> None:
        t = pq.read_table(clips, columns=["clip_id", "source", "split", "origin_file", "origin_line"])
        self.table = t
        self.where = {(s, c): (f, n) for c, s, f, n in zip(*(t.column(k).to_pylist() for k in
                                                             ("clip_id", "split", "origin_file", "origin_line")))}
        self.any = {c: v for (_, c), v in self.where.items()}
        self.offsets: dict[str, np.ndarray] = {}

    def files(self) -> list[str]:
        return sorted(set(self.table.column("origin_file").to_pylist()))

    def row(self, split: str, cid: str) -> str | None:
        hit = self.where.get((split, cid)) or self.any.get(cid)
        if hit is None:
            return None
        path, line = hit
        if path not in self.offsets:
            try:
                data = np.fromfile(path, dtype=np.uint8)
            except OSError:
                self.offsets[path] = np.zeros(0, np.int64)
                return None
            self.offsets[path] = np.r_[0, np.flatnonzero(data == 10) + 1].astype(np.int64)
        starts = self.offsets[path]
        if not 1 <= line <= len(starts):
            return None
        with open(path, "rb") as fh:
            fh.seek(int(starts[line - 1]))
            return fh.readline().rstrip(b"\r\n").decode("utf-8", "replace")


def _coverage(opts: LockOptions, paths: list[Path], lines: dict[str, int], rows: SourceRows | None
              ) -> dict[str, dict[str, Any]]:
    cov: dict[str, dict[str, Any]] = {}
    listed_by_split: Counter = Counter(rows.table.column("split").to_pylist()) if rows is not None else Counter()
    for p in paths:
        split = split_of(p)[1]
        c = cov.setdefault(split, {"obtained": 0})
        c["obtained"] += lines[str(p)]
        summary = p.parent / "index_summary.json"
        try:
            listed = json.loads(summary.read_text())["splits"][p.name]["listed"]
        except (OSError, ValueError, KeyError, TypeError):
            listed = listed_by_split.get(split)
        if listed is not None:
            c["listed"] = c.get("listed", 0) + int(listed)
    if rows is not None:
        for name, path, column in (("fetched", opts.fetch_manifest, "source"),
                                   ("extracted", opts.extract_manifest, "clip_id")):
            if path is None:
                continue
            m = read_manifest(path)
            if "clip" in m.column_names:
                m = m.filter(pc.equal(m.column("clip"), "p0"))
            ok = set(m.filter(pc.equal(m.column("status"), "ok")).column(column).to_pylist())
            for split, value in zip(rows.table.column("split").to_pylist(), rows.table.column(column).to_pylist()):
                if split in cov:
                    cov[split][name] = cov[split].get(name, 0) + (value in ok)
    for c in cov.values():
        if c.get("listed"):
            c["coverage"] = round(c["obtained"] / c["listed"], 6)
    return cov


def run_lock(opts: LockOptions) -> LockResult:
    """Write the lock of the index files' clips (see the module docstring)."""
    paths = [Path(p) for p in opts.index]
    root = Path(opts.media).resolve()
    rows = SourceRows(opts.clips) if opts.clips is not None else None
    shas, lines = {}, {}
    for p in paths:
        shas[str(p)], lines[str(p)] = file_sha256(p), sum(1 for _ in iter_raw_lines(p))
    header = {HEADER_KEY: FORMAT, "avdata_version": avdata.__version__, "media": str(root),
              "index": [{"file": p.name, "split": split_of(p)[1], "lines": lines[str(p)], "sha256": shas[str(p)]}
                        for p in paths],
              "lists": [{"file": Path(f).name, "sha256": file_sha256(f)} for f in rows.files() if Path(f).is_file()]
              if rows is not None else [],
              "coverage": _coverage(opts, paths, lines, rows)}
    res = LockResult(Path(opts.out))
    tasks = (ClipTask(str(p), split_of(p)[1], n, raw, root) for p in paths
             for n, raw in enumerate(iter_raw_lines(p), 1))
    bar = progress(sum(lines.values()), "lock", "clip", enabled=opts.progress)
    digest = hashlib.sha256()
    with atomic_path(res.out) as tmp, open(tmp, "wb") as fh, ThreadPoolExecutor(max(1, opts.threads)) as pool:
        first = dumps(header)
        fh.write(first)
        digest.update(first)
        for done in ordered_map(pool, hash_clip, tasks, 4 * max(1, opts.threads)):
            bar.update(1)
            if done.problem:
                res.problem_count += 1
                if len(res.problems) < KEEP:
                    res.problems.append(done.problem)
            if done.record is None:
                continue
            if rows is not None:
                done.record["row"] = rows.row(done.task.split, done.record["id"])
            line = dumps(done.record)
            fh.write(line)
            digest.update(line)
            res.clips += 1
            res.files += len(done.record["files"])
            res.bytes += done.bytes
        fh.write(dumps(trailer(res.clips, digest.hexdigest())))
    bar.close()
    return res
