"""``run_render``: model-ready examples from AudioScope / AudioScopeV2 / MixIT lists or a clip table.

Rows with a second clip (``pair_source``) are mixtures of mixtures; the others single clips
(MixIT rows with an ``offset`` are placed in a 10 s output). Jobs are grouped by clip 1's video
(``render_job.render_video``), run by an executor, and every finished video's rows go to the
render manifest (status and error code per example) at once. A rerun skips examples that are
``ok`` with their files present, redoes failed ones only with ``retry_failed``, and rewrites
``examples.jsonl`` (one JSON object per ``ok`` example, in list order, paths relative to the
output root) from the manifest.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from avdata.atomic import sweep_temp_files, write_text_atomic
from avdata.audioscope.render_job import Clip, RenderJob, RenderMedia, RenderTask, VideoFile, error_row, render_video
from avdata.errors import OptionError, UnsafePathError
from avdata.executors import ExecutorSpec, build_executor
from avdata.extract.run import LOST_ROWS, VideoFinder
from avdata.ingest import IngestOptions, read_lists
from avdata.manifest import STATUS_OK, ManifestWriter, latest, read_manifest
from avdata.paths import safe_join
from avdata.progress import progress
from avdata.sources.problems import Problems
from avdata.table import read_clips

MANIFEST_NAME = "render_manifest.parquet"
EXAMPLES_NAME = "examples.jsonl"
RENDER_MANIFEST_SCHEMA = pa.schema([
    pa.field("id", pa.string()),               # the example id (the clip table's clip_id)
    pa.field("kind", pa.string()),             # clip or mom
    pa.field("split", pa.string()),
    pa.field("source", pa.string()),           # clip 1's video
    pa.field("start", pa.float64()),
    pa.field("end", pa.float64()),
    pa.field("status", pa.string()),           # ok or an error code (as extract's)
    pa.field("message", pa.string()),
    pa.field("files", pa.list_(pa.string())),  # relative to the output root
    pa.field("example", pa.string()),          # the examples.jsonl line (ok rows)
    pa.field("padded", pa.bool_()),            # a source ended early: zeros in its place
    pa.field("headroom_scale", pa.float64()),  # MoM: factor applied to both sources (1.0: none)
    pa.field("clipped", pa.bool_()),           # MoM: the written mixture clips (no --headroom)
    pa.field("seconds", pa.float64()),
])


@dataclass(frozen=True)
class RenderOptions:
    """Options of ``run_render`` (the CLI's, one to one). ``list_format``: ``auto`` (clip table
    for ``.parquet``, else MixIT when rows have offsets, else AudioScope), ``audioscope`` or
    ``mixit``."""

    videos: str
    out: str
    media: RenderMedia = field(default_factory=RenderMedia)
    list_format: str = "auto"
    split: str | None = None
    fetch_manifest: str | None = None
    manifest: str | None = None              # default: {out}/render_manifest.parquet
    workers: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    video_timeout: float | None = 600.0
    retry_failed: bool = False
    show_progress: bool | None = None

    def __post_init__(self) -> None:
        if self.list_format not in ("auto", "audioscope", "mixit", "clips"):
            raise OptionError(f"list format must be auto, audioscope, mixit or clips; got {self.list_format!r}")
        if self.video_timeout is not None and self.video_timeout <= 0:
            raise OptionError(f"time limit must be > 0 s; got {self.video_timeout}")

    def manifest_path(self) -> Path:
        return Path(self.manifest) if self.manifest else Path(self.out) / MANIFEST_NAME


@dataclass
class RenderSummary:
    """Totals of one run."""

    manifest: str
    examples: str
    rows: int = 0
    videos: int = 0
    done: int = 0
    skipped: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    failed_before: int = 0
    padded: int = 0
    headroom: int = 0
    clipped: int = 0
    list_problems: int = 0
    seconds: float = 0.0

    @property
    def any_failed(self) -> bool:
        return bool(self.failed) or self.failed_before > 0 or self.list_problems > 0

    def lines(self) -> list[str]:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        out = [f"render: {self.rows} examples from {self.videos} videos in {self.seconds:.1f} s ({rate:.1f}"
               f" examples/s)",
               f"  done {self.done}, skipped (already complete) {self.skipped}, failed {sum(self.failed.values())}"]
        out += [f"    {code}: {n}" for code, n in sorted(self.failed.items(), key=lambda x: (-x[1], x[0]))]
        if self.failed_before:
            out.append(f"  failed earlier, not retried (use --retry-failed): {self.failed_before}")
        if self.padded:
            out.append(f"  padded with zeros (source ended early): {self.padded}")
        if self.headroom:
            out.append(f"  mixtures scaled down for headroom: {self.headroom}")
        if self.clipped:
            out.append(f"  mixtures that clip (use --headroom): {self.clipped}")
        out += [f"  examples: {self.examples}", f"  manifest: {self.manifest}"]
        return out


def read_render_input(path: str | os.PathLike[str], options: RenderOptions, problems: Problems) -> pa.Table:
    """A clip table (``.parquet``) or a published list (AudioScope / MixIT; rows it cannot read
    are reported in ``problems`` and skipped)."""
    fmt = options.list_format
    if fmt == "clips" or (fmt == "auto" and str(path).endswith(".parquet")):
        return read_clips(path)
    if fmt == "auto":
        fmt = _guess_format(path)
    return read_lists(IngestOptions(format=fmt, files=(str(path),), output="", split=options.split), problems)


def _guess_format(path: str | os.PathLike[str]) -> str:
    """MixIT when the first data row has 4 or 8 fields, else AudioScope."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.strip().split(",")
                if len(fields) > 1 and fields[1].strip().replace(".", "", 1).isdigit():
                    return "mixit" if len(fields) in (4, 8) else "audioscope"
    except OSError:
        pass
    return "audioscope"


def _tasks(table: pa.Table) -> list[RenderTask]:
    names = ("clip_id", "source", "source_kind", "start", "end", "offset", "pair_source", "pair_start", "pair_end",
             "pair_offset", "split", "annotation", "filtered")
    cols: dict[str, list[Any]] = {
        name: table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows
        for name in names}
    tasks = []
    for i, cid in enumerate(cols["clip_id"]):
        split = cols["split"][i] or "all"
        clip1 = Clip(cols["source"][i], float(cols["start"][i]), float(cols["end"][i]), cols["offset"][i],
                     cols["source_kind"][i] or "path")
        clip2 = None
        if cols["pair_source"][i] is not None:
            clip2 = Clip(cols["pair_source"][i], float(cols["pair_start"][i]), float(cols["pair_end"][i]),
                         cols["pair_offset"][i], clip1.kind)
        tasks.append(RenderTask(cid, f"{split}/{cid}", clip1, clip2, split, cols["annotation"][i], cols["filtered"][i]))
    return tasks


def _complete(row: dict[str, Any], out: Path) -> bool:
    try:
        return all(safe_join(out, f).is_file() for f in row.get("files") or [])
    except UnsafePathError:
        return False


def _lost_rows(job: RenderJob, reason: str) -> list[dict[str, Any]]:
    """Rows for a job the executor could not finish (the same codes as extract's)."""
    code, message = LOST_ROWS.get(reason, LOST_ROWS["error"])
    return [error_row(t, code, f"{job.video.path}: {message.format(limit=job.time_limit)}") for t in job.tasks]


def plan_render(tasks: list[RenderTask], options: RenderOptions, previous: pa.Table,
                summary: RenderSummary, finder: VideoFinder | None = None) -> list[RenderJob]:
    """One job per clip-1 video with its examples still to do."""
    out = Path(options.out)
    prev = {r["id"]: r for r in previous.to_pylist()}
    finder = finder or VideoFinder(options.videos, options.fetch_manifest)
    found: dict[str, VideoFile] = {}

    def locate(source: str, kind: str = "path") -> VideoFile:
        if source not in found:
            path, start, error = finder.find(source, kind)
            found[source] = VideoFile(path, start, error)
        return found[source]

    groups: dict[tuple[str, str], list[RenderTask]] = {}
    for task in tasks:
        row = prev.get(task.id)
        if row is not None and row["status"] == STATUS_OK and _complete(row, out):
            summary.skipped += 1
            continue
        if row is not None and row["status"] != STATUS_OK and not options.retry_failed:
            summary.failed_before += 1
            continue
        groups.setdefault((task.clip1.kind, task.clip1.source), []).append(task)
    jobs = []
    for (kind, source), group in groups.items():
        partners = tuple(sorted({(t.clip2.source, locate(t.clip2.source, t.clip2.kind)) for t in group if t.clip2},
                                key=lambda x: x[0]))
        jobs.append(RenderJob(out=str(out), video=locate(source, kind), tasks=tuple(group), media=options.media,
                              partners=partners, time_limit=options.video_timeout))
    return jobs


def write_examples(tasks: list[RenderTask], manifest: pa.Table, path: Path) -> int:
    """``examples.jsonl``: the ``ok`` examples' lines in list order (atomically)."""
    rows = {r["id"]: r for r in manifest.to_pylist() if r["status"] == STATUS_OK and r["example"]}
    lines = [rows[t.id]["example"] for t in tasks if t.id in rows]
    write_text_atomic(path, "".join(line + "\n" for line in lines))
    return len(lines)


def run_render(source: pa.Table | str | os.PathLike[str], options: RenderOptions,
               problems: Problems | None = None) -> RenderSummary:
    """Render every row of ``source`` (a clip table, its path, or a published list's path)."""
    t0 = time.monotonic()
    problems = problems if problems is not None else Problems()
    table = source if isinstance(source, pa.Table) else read_render_input(source, options, problems)
    finder = VideoFinder(options.videos, options.fetch_manifest)    # a bad fetch manifest: nothing written
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = options.manifest_path()
    summary = RenderSummary(manifest=str(manifest), examples=str(out / EXAMPLES_NAME),
                            list_problems=problems.n_errors)
    sweep_temp_files(out)
    tasks = _tasks(table)
    summary.rows = len(tasks)
    previous = latest(read_manifest(manifest, RENDER_MANIFEST_SCHEMA), ["id"])
    jobs = plan_render(tasks, options, previous, summary, finder)
    summary.videos = len(jobs)
    executor = build_executor(ExecutorSpec(options.executor, options.workers, options.ray_address),
                              item_timeout=options.video_timeout * 1.5 + 5 if options.video_timeout else None,
                              on_lost=_lost_rows, shared_paths=[str(out)])
    failed: Counter[str] = Counter()
    with ManifestWriter(manifest, RENDER_MANIFEST_SCHEMA) as writer, \
            progress(sum(len(j.tasks) for j in jobs), "render", unit="ex", enabled=options.show_progress) as bar:
        for rows in executor.map_unordered(render_video, jobs):
            writer.write_many(rows)
            writer.flush()                         # each finished video is recorded durably
            for r in rows:
                if r["status"] == STATUS_OK:
                    summary.done += 1
                    summary.padded += bool(r["padded"])
                    summary.headroom += (r["headroom_scale"] or 1.0) < 1.0
                    summary.clipped += bool(r["clipped"])
                else:
                    failed[r["status"]] += 1
            bar.update(len(rows))
    summary.failed = dict(failed)
    sweep_temp_files(out)      # again: a killed run's workers may have still been ending at the start
    write_examples(tasks, latest(read_manifest(manifest, RENDER_MANIFEST_SCHEMA), ["id"]), out / EXAMPLES_NAME)
    summary.seconds = time.monotonic() - t0
    return summary


def read_examples(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The lines of an ``examples.jsonl``."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
