"""Windows from a user's own videos: every video cut into fixed windows, one clip-table row each.

Input is a folder of videos (searched recursively) or a fetch manifest (its ``ok`` rows). Each
video is probed once (``avdata.media.probe``) on an executor; a manifest row per video records its
duration or why it was skipped (``no_audio``, ``unreadable``, ...), so a rerun probes only new or
changed files (and failed ones with ``retry_failed``). Windows start every ``hop`` seconds; a window
runs ``length`` seconds or to the video's end, and one shorter than ``min_length`` is dropped.

Splits are per video, never per window: a video named in a published list (``split_lists``) keeps
that list's split; any other video goes by a stable hash of its path (SHA-256 of the relative
POSIX path, salted by ``salt``), mapped onto the cumulative ``fractions``: the same path gets the
same split on every run and machine, whatever else is in the folder.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from avdata.errors import AvdataError, InputError, MediaError, UnsafePathError
from avdata.executors import ExecutorSpec, build_executor
from avdata.manifest import STATUS_OK, ManifestWriter, latest, read_manifest
from avdata.pathcheck import DIR, FILE, Output, check_outputs
from avdata.paths import check_relative, safe_join
from avdata.progress import progress
from avdata.sources.build import build_clips
from avdata.sources.cliplists import clip_id_for
from avdata.sources.ids import make_unique
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions, get_reader
from avdata.table import write_clips

VIDEO_EXTENSIONS = ("mp4", "mkv", "webm", "mov", "m4v", "avi", "flv", "3gp", "ts", "ogv", "mpg", "mpeg")
SPLIT_NAMES = ("train", "validate", "test")
STATUS_NO_AUDIO = "no_audio"
WINDOWS_MANIFEST_SCHEMA = pa.schema([
    pa.field("source", pa.string()),        # relative video path (the clip table's ``source``)
    pa.field("file", pa.string()),          # the file probed
    pa.field("bytes", pa.int64()),          # its size and mtime when probed (a change: probe again)
    pa.field("mtime_ns", pa.int64()),
    pa.field("status", pa.string()),        # ok | no_audio | the media error code
    pa.field("error_code", pa.string()),    # null when ok
    pa.field("duration", pa.float64()),
    pa.field("has_video", pa.bool_()),
    pa.field("message", pa.string()),
    pa.field("finished_at", pa.float64()),
])
MANIFEST_KEYS = ("source",)


@dataclass(frozen=True)
class WindowsOptions:
    """Options of ``make_windows`` (the CLI's flags one to one)."""

    inputs: str                                   # a folder of videos or a fetch manifest
    output: str                                   # the clip table to write
    length: float = 5.0
    hop: float = 5.0
    min_length: float | None = None               # default: ``length`` (only full windows)
    fractions: tuple[float, ...] = (0.8, 0.1, 0.1)
    split_names: tuple[str, ...] = SPLIT_NAMES
    split_lists: tuple[str, ...] = ()             # published lists whose splits are kept
    split_lists_format: str = "audioscope"
    salt: str = ""
    dataset: str = "audioscope_v2"
    manifest: str | None = None                   # default: next to the output
    executor: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    retry_failed: bool = False
    show_progress: bool | None = None

    def manifest_path(self) -> Path:
        if self.manifest:
            return Path(self.manifest)
        out = Path(self.output)
        return out.with_name(out.name.split(".")[0] + "_windows_manifest.parquet")


@dataclass
class WindowsSummary:
    """What a run did: windows written, videos by status, videos whose probe was reused."""

    output: Path
    windows: int = 0
    videos: Counter = field(default_factory=Counter)
    reused: int = 0
    problems: Problems = field(default_factory=Problems)
    messages: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return sum(n for s, n in self.videos.items() if s != STATUS_OK)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.videos.items())) or "no videos"
        return [f"windows: {self.windows} window(s) from videos ({counts}); probes reused: {self.reused}; "
                f"wrote {self.output}"]


@dataclass(frozen=True)
class ProbeTask:
    """One video to probe (picklable for any executor)."""

    source: str
    file: str


def probe_video(task: ProbeTask) -> dict:
    """The per-video job: a manifest row with the duration, or the reason the video is skipped."""
    from avdata.media.probe import probe_media

    row = {"source": task.source, "file": task.file, "bytes": None, "mtime_ns": None, "status": STATUS_OK,
           "error_code": None, "duration": None, "has_video": None, "message": "", "finished_at": 0.0}
    try:
        st = os.stat(task.file)
        row["bytes"], row["mtime_ns"] = st.st_size, st.st_mtime_ns
        info = probe_media(task.file)
        row["duration"], row["has_video"] = info.duration, info.has_video
        if not info.has_audio:
            row.update(status=STATUS_NO_AUDIO, error_code=STATUS_NO_AUDIO, message=f"{task.source}: no audio stream")
    except MediaError as e:
        row.update(status=e.code, error_code=e.code,
                   message=f"{task.source}: {e.message.removeprefix(task.file + ': ')}")
    except OSError as e:
        row.update(status="unreadable", error_code="unreadable", message=f"{task.source}: {e}")
    row["finished_at"] = time.time()
    return row


def window_spans(duration: float, length: float, hop: float,
                 min_length: float | None = None) -> list[tuple[float, float]]:
    """``(start, end)`` of every window of a ``duration``-second video (milliseconds exact: bounds
    are rounded to 1 ms so that list files show them as written)."""
    check_window(length, hop, min_length)
    need = length if min_length is None else min_length
    out = []
    k = 0
    while True:
        start = round(k * hop, 3)
        end = round(min(start + length, math.floor(duration * 1000 + 1e-6) / 1000), 3)
        if end - start < need - 1e-9:
            break
        out.append((start, end))
        k += 1
    return out


def check_window(length: float, hop: float, min_length: float | None) -> None:
    """Raise AvdataError for window settings that make no windows or never end."""
    if length <= 0 or hop <= 0:
        raise AvdataError(f"window length and hop must be positive (got {length}, {hop})")
    if min_length is not None and not 0 < min_length <= length:
        raise AvdataError(f"--min-length must be in (0, length]; got {min_length}")


def hash_split(source: str, fractions: Sequence[float], names: Sequence[str] = SPLIT_NAMES, salt: str = "") -> str:
    """The split of a video by a stable hash of its path: the same on every run and machine."""
    digest = hashlib.sha256((salt + source).encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    acc = 0.0
    for name, f in zip(names, fractions):
        acc += f
        if u < acc:
            return name
    return names[len(fractions) - 1]


def check_fractions(fractions: Sequence[float], names: Sequence[str]) -> None:
    if len(fractions) != len(names):
        raise AvdataError(f"{len(fractions)} split fraction(s) for {len(names)} split name(s)")
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise AvdataError(f"split fractions must be >= 0 and sum to 1; got {list(fractions)}")


def published_splits(lists: Sequence[str], fmt: str, problems: Problems) -> dict[str, str]:
    """Video path -> split as told by published lists (first list wins; a conflict is reported)."""
    if not lists:
        return {}
    table = get_reader(fmt)(list(lists), ReadOptions(), problems)
    cols = table.select(["source", "pair_source", "split", "origin_file", "origin_line"]).to_pydict()
    out: dict[str, str] = {}
    for src, pair, split, file, line in zip(cols["source"], cols["pair_source"], cols["split"],
                                            cols["origin_file"], cols["origin_line"]):
        for s in (src, pair):
            if s is None:
                continue
            if s in out and out[s] != split:
                problems.warn(file, line, f"{s}: split {split!r} conflicts with {out[s]!r} from an earlier "
                                          f"row; keeping {out[s]!r}")
                continue
            out.setdefault(s, split)
    return out


def _is_manifest(path: Path) -> bool:
    return path.suffix == ".parquet" or (path.is_dir() and any(path.glob("part-*.parquet")))


def find_videos(inputs: str) -> Iterator[ProbeTask]:
    """Videos of a folder (recursively, sorted) or of a fetch manifest's ``ok`` rows."""
    root = Path(inputs)
    if not root.exists():
        raise AvdataError(f"{inputs}: no such folder or fetch manifest")
    if _is_manifest(root):
        from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
        from avdata.fetch.schema import MANIFEST_KEYS as FETCH_KEYS

        rows = latest(read_manifest(root, FETCH_MANIFEST_SCHEMA), FETCH_KEYS).to_pylist()
        base = root.parent
        for r in sorted(rows, key=lambda r: r["source"]):
            if r["status"] == STATUS_OK and r["path"] and not r["deleted"] and r["source_kind"] == "path":
                yield ProbeTask(r["source"], str(base / r["path"]))
        return
    if not root.is_dir():
        raise AvdataError(f"{inputs}: expected a folder of videos or a fetch manifest")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.endswith(".parquet"))
        for name in sorted(filenames):
            if name.rsplit(".", 1)[-1].lower() in VIDEO_EXTENSIONS and not name.startswith(".tmp-"):
                rel = Path(dirpath, name).relative_to(root).as_posix()
                try:
                    check_relative(rel)
                    file = safe_join(root, rel, follow_links=True)
                except UnsafePathError:
                    continue
                yield ProbeTask(rel, str(file))


def _still_valid(row: dict, task: ProbeTask, retry_failed: bool) -> bool:
    """A manifest row that can stand for this video: same file, same size and time, and ok (or a
    failure not to be retried)."""
    try:
        st = os.stat(task.file)
    except OSError:
        return False
    same = row["file"] == task.file and row["bytes"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns
    return same and (row["status"] in (STATUS_OK, STATUS_NO_AUDIO) or not retry_failed)


def make_windows(options: WindowsOptions) -> WindowsSummary:
    """Probe every video (resuming), cut windows, assign splits, write the clip table."""
    check_fractions(options.fractions, options.split_names)
    check_window(options.length, options.hop, options.min_length)
    check_outputs([Output(options.output, FILE, "-o"), Output(options.manifest_path(), DIR, "--manifest")],
                  [options.inputs, *options.split_lists])
    summary = WindowsSummary(output=Path(options.output))
    kept = published_splits(options.split_lists, options.split_lists_format, summary.problems)
    tasks = list(find_videos(options.inputs))
    manifest = options.manifest_path()
    done = {r["source"]: r for r in latest(read_manifest(manifest, WINDOWS_MANIFEST_SCHEMA), MANIFEST_KEYS).to_pylist()}
    if not tasks:       # an empty folder or manifest: nothing to cut, and an existing table stays
        raise InputError(f"{options.inputs}: no video found (a folder of videos or a fetch manifest); "
                         "nothing written")
    rows: dict[str, dict] = {}
    todo = []
    for t in tasks:
        old = done.get(t.source)
        if old is not None and _still_valid(old, t, options.retry_failed):
            rows[t.source] = old
            summary.reused += 1
        else:
            todo.append(t)
    executor = build_executor(ExecutorSpec(options.executor, options.workers, options.ray_address))
    with ManifestWriter(manifest, WINDOWS_MANIFEST_SCHEMA) as writer, \
            progress(len(todo), "windows: probing", "video", enabled=options.show_progress) as bar:
        for row in executor.map_unordered(probe_video, todo):
            writer.write_many([row])
            writer.flush()
            rows[row["source"]] = row
            bar.update(1)
    table = _window_table(tasks, rows, kept, options, summary)
    write_clips(table, options.output)
    summary.windows = table.num_rows
    return summary


def _window_table(tasks: list[ProbeTask], rows: dict[str, dict], kept: dict[str, str],
                  options: WindowsOptions, summary: WindowsSummary) -> pa.Table:
    cols: dict[str, list] = {k: [] for k in ("clip_id", "source", "start", "end", "split", "origin_line")}
    for ordinal, t in enumerate(tasks, 1):
        r = rows[t.source]
        summary.videos[r["status"]] += 1
        if r["status"] != STATUS_OK:
            summary.messages.append(f"{r['message'] or t.source} ({r['status']})")
            continue
        split = kept.get(t.source) or hash_split(t.source, options.fractions, options.split_names, options.salt)
        for start, end in window_spans(r["duration"], options.length, options.hop, options.min_length):
            cols["clip_id"].append(clip_id_for(t.source, start, end))
            cols["source"].append(t.source)
            cols["start"].append(start)
            cols["end"].append(end)
            cols["split"].append(split)
            cols["origin_line"].append(ordinal)
    n = len(cols["clip_id"])
    table = build_clips(n, {**cols, "source_kind": "path", "dataset": options.dataset,
                            "origin_file": options.inputs})
    return make_unique(table)
