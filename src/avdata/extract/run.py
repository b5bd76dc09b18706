"""``run_extract``: plan the per-video jobs for a clip table, run them, keep the manifest, resume.

Resuming: the manifest's latest row per (clip_id, clip) says what is done. A segment whose clips
are all ``ok`` with their files present is skipped; a clip whose row failed is redone only with
``retry_failed``; a clip without a row (the run was killed before its video's rows were written)
is redone, its files overwritten atomically. All rows of one video are flushed as one durable
manifest record as soon as the video finishes, so a segment's clips are recorded together or not at
all, and a kill loses at most the videos in flight.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.atomic import sweep_temp_files
from avdata.errors import AvdataError, UnsafePathError
from avdata.executors import ExecutorSpec, build_executor
from avdata.extract.bulk_plan import INDEX_PLAN_COLUMNS, PLAN_COLUMNS, ROW_COLUMN, bulk_plan
from avdata.extract.job import MediaOptions, Row, SegmentTask, VideoJob, error_row, extract_video
from avdata.extract.plan import chunk_dir
from avdata.extract.published import published_segment
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.fetch.scan import check_clips
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import SEQ_COLUMN, STATUS_OK, ManifestWriter, latest, manifest_columns, read_latest, read_manifest
from avdata.paths import safe_join, safe_name
from avdata.progress import progress

VIDEO_EXTENSIONS = ("mp4", "mkv", "webm", "mov", "m4a", "avi", "flv", "3gp", "ts", "ogg", "ogv",
                    "opus", "mp3", "wav", "flac", "aac")
MANIFEST_NAME = "extract_manifest.parquet"
# what resuming reads of earlier rows (plan_segments, _complete, the bulk plan)
PREVIOUS_COLUMNS = ("clip_id", "clip", "status", "audio_file", "frame_files")


@dataclass(frozen=True)
class ExtractOptions:
    """Options of ``run_extract`` (the CLI's options, one to one)."""

    videos: str
    out: str
    manifest: str | None = None            # default: {out}/extract_manifest.parquet
    fetch_manifest: str | None = None
    media: MediaOptions = field(default_factory=MediaOptions)
    chunk_prefix: str = "all"
    chunk_size: int = 35_000
    workers: int | None = None             # default: all cores
    executor: str = "local"               # inline | local | ray | any registered executor
    ray_address: str | None = None         # with executor "ray": "auto", HOST:PORT, or None (start one)
    video_timeout: float | None = 600.0    # seconds per video (hard limit with the local executor)
    retry_failed: bool = False
    show_progress: bool | None = None      # None: only on a terminal

    def manifest_path(self) -> Path:
        return Path(self.manifest) if self.manifest else Path(self.out) / MANIFEST_NAME


@dataclass
class ExtractSummary:
    """Totals of one run: clips written, clips already complete, clips failed by reason."""

    manifest: str
    segments: int = 0
    videos: int = 0
    clips_ok: int = 0
    clips_skipped: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    failed_before: int = 0                 # failed in an earlier run and not retried
    seconds: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)   # written, with a change the user should know

    @property
    def any_failed(self) -> bool:
        return bool(self.failed) or self.failed_before > 0

    def lines(self) -> list[str]:
        rate = self.clips_ok / self.seconds if self.seconds > 0 else 0.0
        out = [f"extract: {self.segments} segments from {self.videos} videos in {self.seconds:.1f} s "
               f"({rate:.1f} clips/s)",
               f"  done {self.clips_ok}, skipped (already complete) {self.clips_skipped}, "
               f"failed {sum(self.failed.values())}"]
        out += [f"    {code}: {n}" for code, n in sorted(self.failed.items(), key=lambda x: (-x[1], x[0]))]
        if self.failed_before:
            out.append(f"  failed earlier, not retried (use --retry-failed): {self.failed_before}")
        out += [f"  note: {n} clip(s): {text}" for text, n in sorted(self.notes.items(), key=lambda x: -x[1])[:5]]
        out.append(f"  manifest: {self.manifest}")
        return out


class VideoFinder:
    """Finds a source's local file: ``{videos}/{id}.{ext}`` for YouTube ids, ``safe_join(videos,
    path)`` for path sources, or the fetch manifest's ``path`` and ``offset`` when given."""

    def __init__(self, videos: str | os.PathLike[str], fetch_manifest: str | None = None,
                 sources: pa.Array | None = None) -> None:
        self.videos = Path(videos)
        self._by_stem: dict[str, str] | None = None
        self._fetched: dict[str, tuple[str, str | None, float]] = {}
        if fetch_manifest:
            wanted = ("source", "status", "path", "offset")
            if sources is not None and {"source", "status", "path"} <= manifest_columns(fetch_manifest):
                table = read_latest(fetch_manifest, FETCH_MANIFEST_SCHEMA, ["source"],      # only the sources
                                    [c for c in wanted if c in manifest_columns(fetch_manifest)],  # asked about
                                    only=sources).drop_columns([SEQ_COLUMN])
            else:
                table = latest(read_manifest(fetch_manifest, columns=wanted), ["source"])
            missing = {"source", "status", "path"} - set(table.column_names)
            if table.num_rows and missing:
                raise AvdataError(f"{fetch_manifest}: fetch manifest lacks column(s) {', '.join(sorted(missing))}")
            if missing:
                return      # an empty manifest (nothing fetched yet): no rows, maybe no columns
            offsets = table.column("offset").to_pylist() if "offset" in table.column_names else [0.0] * table.num_rows
            for src, status, path, off in zip(table.column("source").to_pylist(), table.column("status").to_pylist(),
                                              table.column("path").to_pylist() if table.num_rows else [], offsets):
                self._fetched[src] = (status, path, float(off or 0.0))

    def _index(self) -> dict[str, str]:
        if self._by_stem is None:
            rank = {ext: i for i, ext in enumerate(VIDEO_EXTENSIONS)}
            best: dict[str, tuple[int, str]] = {}
            if self.videos.is_dir():
                with os.scandir(self.videos) as entries:
                    for e in entries:
                        stem, dot, ext = e.name.rpartition(".")
                        if dot and ext.lower() in rank and e.is_file() and not e.name.startswith("."):
                            r = rank[ext.lower()]
                            if stem not in best or r < best[stem][0]:
                                best[stem] = (r, e.name)
            self._by_stem = {stem: name for stem, (_, name) in best.items()}
        return self._by_stem

    def stems(self) -> list[str]:
        """The stems of the ``{stem}.{ext}`` videos at the top of the folder."""
        return list(self._index())

    def find(self, source: str, kind: str) -> tuple[str | None, float, tuple[str, str] | None]:
        """(path, offset, error): the file and the source second it starts at, or an error.

        Videos are read from the user's tree, so symlinks in it are followed (``follow_links``);
        a data-derived path still cannot use ``..`` or be absolute. A fetch manifest's absolute
        ``path`` (a ``dir:`` fetch points into the user's own tree) is taken as written.
        """
        try:
            if source in self._fetched:
                status, rel, offset = self._fetched[source]
                if status != STATUS_OK or not rel:
                    return None, 0.0, ("missing_video", f"{source}: fetch status {status!r}")
                path = Path(rel) if os.path.isabs(rel) else safe_join(self.videos, rel, follow_links=True)
                if not path.is_file():
                    return None, 0.0, ("missing_video", f"{source}: fetched file {rel} not found under {self.videos}")
                return str(path), offset, None
            if kind == "youtube":
                name = self._index().get(safe_name(source))
                if name is None:
                    return None, 0.0, ("missing_video", f"{source}: no {{videos}}/{source}.{{mp4,mkv,webm,...}} "
                                                        f"under {self.videos}")
                return str(self.videos / name), 0.0, None
            path = safe_join(self.videos, source, follow_links=True)
            if not path.is_file():
                return None, 0.0, ("missing_video", f"{source}: not found under {self.videos}")
            return str(path), 0.0, None
        except UnsafePathError as e:
            return None, 0.0, ("missing_video", f"{source}: refused: {e}")


def _complete(row: dict[str, Any], out: Path) -> bool:
    """True when a row's files all exist (they were renamed into place only when complete)."""
    files = ([row["audio_file"]] if row.get("audio_file") else []) + list(row.get("frame_files") or [])
    try:
        return all(safe_join(out, f).is_file() for f in files)
    except UnsafePathError:
        return False


def plan_segments(clips: pa.Table, options: ExtractOptions, previous: pa.Table,
                  summary: ExtractSummary) -> dict[tuple[str, str], list[SegmentTask]]:
    """Group the clip table's segments by (source_kind, source), leaving out what the manifest
    says is done. Chunk folders follow the clip table's order."""
    out = Path(options.out)
    prev: dict[str, list[dict[str, Any]]] = {}
    for row in previous.to_pylist():
        prev.setdefault(row["clip_id"], []).append(row)
    groups: dict[tuple[str, str], list[SegmentTask]] = {}
    cols = {name: clips.column(name).to_pylist() for name in ("clip_id", "source", "source_kind", "start", "end")}
    published = {name: clips.column(name).to_pylist() for name in INDEX_PLAN_COLUMNS if name in clips.column_names}
    # rows left over by the bulk plan carry their position in the whole table (chunk folders)
    positions = clips.column(ROW_COLUMN).to_pylist() if ROW_COLUMN in clips.column_names else range(clips.num_rows)
    seen: set[str] = set()
    for i, clip_id in enumerate(cols["clip_id"]):
        summary.segments += 1
        rows = prev.get(clip_id, [])
        if clip_id in seen:
            continue                                   # a repeated id would overwrite the first
        seen.add(clip_id)
        done = frozenset(r["clip"] for r in rows if r["status"] == STATUS_OK and _complete(r, out))
        failed = [r for r in rows if r["status"] != STATUS_OK]
        incomplete = [r for r in rows if r["status"] == STATUS_OK and r["clip"] not in done]
        if rows and not incomplete and (not failed or not options.retry_failed):
            summary.clips_skipped += len(done)
            summary.failed_before += len(failed)
            continue
        summary.clips_skipped += len(done)
        chunk = chunk_dir(positions[i], options.chunk_prefix, options.chunk_size)
        seg = SegmentTask(clip_id, cols["source"][i], float(cols["start"][i]), float(cols["end"][i]), chunk, done)
        if published and published["index_dir"][i] is not None:
            seg = published_segment(seg, published["index_dir"][i], published["index_name"][i],
                                    published.get("index_aclip", [None] * (i + 1))[i] or [],
                                    published.get("index_frame", [None] * (i + 1))[i] or [])
        groups.setdefault((cols["source_kind"][i], cols["source"][i]), []).append(seg)
    return groups


def plan_jobs(clips: pa.Table, options: ExtractOptions, previous: pa.Table,
              summary: ExtractSummary) -> list[VideoJob]:
    """One job per video: its segments still to do and where its file is."""
    return list(iter_jobs(clips, options, previous, summary))


JOB_ROWS = 1 << 16


def iter_jobs(clips: pa.Table, options: ExtractOptions, previous: pa.Table, summary: ExtractSummary,
              *, batch_rows: int | None = None, on_planned: Callable[[int], None] | None = None) -> Iterator[VideoJob]:
    """``plan_jobs`` made lazily, about ``batch_rows`` clip rows at a time: the executor takes jobs
    as they are made, so millions of segments with work never become millions of job objects at
    once. Rows are grouped by video first (in order of first appearance, as ``plan_segments``
    groups them), so a video still gets one job. ``on_planned(n)``: n more segments need no job."""
    if clips.num_rows == 0:
        return
    batch_rows = batch_rows or JOB_ROWS
    n = clips.num_rows
    firsts = clips.select(["clip_id"]).append_column("_i", pa.array(np.arange(n))).group_by(
        ["clip_id"], use_threads=False).aggregate([("_i", "min")]).column("_i_min").to_numpy()
    if len(firsts) < n:             # a repeated id would overwrite the first: the first row wins
        summary.segments += n - len(firsts)
        clips = clips.take(pa.array(np.sort(firsts)))
        if on_planned is not None:
            on_planned(n - len(firsts))
    finder = VideoFinder(options.videos, options.fetch_manifest, pc.unique(clips.column("source").combine_chunks()))
    video = pc.binary_join_element_wise(clips.column("source_kind").combine_chunks(),
                                        clips.column("source").combine_chunks(), "\x00")
    group = video.dictionary_encode().indices.to_numpy()     # indices in order of first appearance
    del video
    order = np.argsort(group, kind="stable")
    group = group[order]
    start = 0
    while start < len(order):
        end = min(len(order), start + batch_rows)
        while end < len(order) and group[end] == group[end - 1]:
            end += 1                                          # a video's rows stay together
        chunk = clips.take(pa.array(order[start:end]))
        prev = previous.filter(pc.is_in(previous.column("clip_id"), value_set=chunk.column("clip_id")))
        start = end
        groups = plan_segments(chunk, options, prev, summary)
        if on_planned is not None:
            on_planned(chunk.num_rows - sum(len(segs) for segs in groups.values()))
        for (kind, source), segs in groups.items():
            path, offset, error = finder.find(source, kind)
            summary.videos += 1
            yield VideoJob(out=str(options.out), video=path, segments=tuple(segs), options=options.media,
                           offset=offset, time_limit=options.video_timeout, error=error)


LOST_ROWS = {   # executor's reason -> (error code, message)
    "timeout": ("timeout", "gave up after {limit} s"),
    "worker_died": ("decode_error", "the worker process died while decoding"),
    "error": ("job_error", "the job failed unexpectedly (a bug: please report it)"),
}


def timeout_rows(job: VideoJob, reason: str) -> list[Row]:
    """Rows for a job the executor could not finish: killed at its time limit (``timeout``), its
    worker died (``decode_error``), or it raised (``job_error``)."""
    code, message = LOST_ROWS.get(reason, LOST_ROWS["error"])
    return [error_row(s, "p0", code, f"{job.video}: {message.format(limit=job.time_limit)}") for s in job.segments]


def run_extract(clips: pa.Table | str | os.PathLike[str], options: ExtractOptions) -> ExtractSummary:
    """Extract audio clips and frames for every segment of ``clips`` (a clip table or its path).

    The clip table is streamed a batch at a time by the bulk plan (missing videos recorded as it
    goes); only segments with real work are kept, and their jobs are made lazily."""
    t0 = time.monotonic()
    check_clips(clips, PLAN_COLUMNS)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = options.manifest_path()
    summary = ExtractSummary(manifest=str(manifest))
    sweep_temp_files(out)
    if options.fetch_manifest and not {"source", "status", "path"} <= manifest_columns(options.fetch_manifest):
        VideoFinder(options.videos, options.fetch_manifest)   # not a fetch manifest: said before anything is written
    failed: Counter[str] = Counter()
    # each finished video's rows are made durable together (one journal record): a kill loses at
    # most the videos in flight
    with ManifestWriter(manifest, EXTRACT_MANIFEST_SCHEMA, keys=MANIFEST_KEYS, flush_rows=1 << 62,
                        flush_seconds=float("inf")) as writer:
        bulk = bulk_plan(clips, Path(options.videos), VideoFinder(options.videos).stems(), manifest,
                         writer.write_table, prefix=options.chunk_prefix, size=options.chunk_size,
                         retry_failed=options.retry_failed, fetch_manifest=options.fetch_manifest)
        summary.segments += bulk.segments
        summary.failed_before += bulk.failed_before
        summary.videos += bulk.videos_missing
        if bulk.missing:
            failed["missing_video"] += bulk.missing
        remaining = bulk.remaining
        del bulk
        previous = read_latest(manifest, EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS, PREVIOUS_COLUMNS,
                               only=remaining.column("clip_id"))
        pa.default_memory_pool().release_unused()     # workers start small: planning buffers are gone
        with progress(remaining.num_rows, "extract", unit="seg", enabled=options.show_progress) as bar:
            # segments found complete (or failed before) need no job: counted as they are planned
            jobs = iter_jobs(remaining, options, previous, summary, on_planned=bar.update)
            # the job stops itself at the time limit; the executor kills it if it cannot
            executor = build_executor(ExecutorSpec(options.executor, options.workers, options.ray_address),
                                      item_timeout=options.video_timeout * 1.5 + 5 if options.video_timeout else None,
                                      on_lost=timeout_rows, shared_paths=[str(out)])
            for rows in executor.map_unordered(extract_video, jobs):
                writer.write_many(rows)
                writer.flush()
                for r in rows:
                    if r["status"] == STATUS_OK:
                        summary.clips_ok += 1
                        if r.get("message"):
                            summary.notes[r["message"]] = summary.notes.get(r["message"], 0) + 1
                    else:
                        failed[r["status"]] += 1
                bar.update(len({r["clip_id"] for r in rows}))
                elapsed = time.monotonic() - t0
                bar.set_postfix_str(f"{summary.clips_ok / elapsed:.1f} clips/s, failed {sum(failed.values())}",
                                    refresh=False)
    summary.failed = dict(failed)
    summary.seconds = time.monotonic() - t0
    return summary
