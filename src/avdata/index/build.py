"""The index stage: clip table + extraction manifest -> VIP-ANT split files, combined list, sidecars.

``build_index(IndexOptions(...))`` writes into ``out``:

- one split file per (dataset, split) of the clip table, published names (``src_eval_segments.csv``,
  ``src_audiocaps_val.csv``, ...; see ``avdata.index.entry``), lines in clip-table order;
- ``src_train_segments.csv`` + ``src_train_segments.json`` (unbalanced, then balanced; see
  ``avdata.index.combined``) when the table has AudioSet training splits;
- ``index_checks.parquet/``: one row per checked clip (status or exclusion reason, audio seconds,
  rate, channels, frames decoded, and the size and mtime_ns of every file read or written) -- what
  the report reads instead of decoding again, and what a rerun reuses;
- ``index_summary.json``: segments listed per split and exclusions by reason.

Segments are checked by ``avdata.index.validate.check_segment`` on an executor (``local`` process
pool by default); without media checks and features, no file is opened and it runs inline.

Resuming: a rerun reads the previous ``index_checks.parquet`` (and the checks a killed run left in
``.tmp-*-index_checks.parquet``) and hands each segment its previous results; a clip whose inputs
and files are unchanged is not decoded again and its features are not remade. The outputs are the
same bytes as a fresh run's. Checks are flushed every ``CHECKS_FLUSH_ROWS`` rows so that a killed
run keeps most of its work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

from avdata.atomic import atomic_path, write_text_atomic
from avdata.errors import SchemaError
from avdata.executors import get_executor
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA, MANIFEST_KEYS
from avdata.index.combined import CombinedResult, write_combined
from avdata.index.entry import CAPTION_DATASETS, IndexEntry, format_time, split_file_name
from avdata.index.validate import (
    GOLD_CLIP, LABEL_EXCLUDED, LABEL_NOT_KEPT, ClipFiles, ClipResult, SegmentResult,
    SegmentTask, check_segment,
)
from avdata.manifest import SEQ_COLUMN, ManifestWriter, latest, manifest_parts, read_manifest
from avdata.progress import progress
from avdata.sources.ontology import Ontology
from avdata.table import read_clips

CHECKS_DIR = "index_checks.parquet"
CHECKS_TMP_GLOB = f".tmp-*-{CHECKS_DIR}"
CHECKS_FLUSH_ROWS = 10_000
SUMMARY_FILE = "index_summary.json"
LABEL_REASONS = frozenset({LABEL_EXCLUDED, LABEL_NOT_KEPT})

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


@dataclass(frozen=True)
class IndexOptions:
    """Options of ``build_index`` (mirrors ``avdata index``)."""

    clips: str | os.PathLike[str]
    manifest: str | os.PathLike[str]
    media: str | os.PathLike[str]
    out: str | os.PathLike[str]
    with_negatives: bool = False
    features: bool = False
    check_media: bool = True
    min_audio_seconds: float = 2.0
    exclude_labels: tuple[str, ...] = ()
    keep_labels: tuple[str, ...] = ()
    ontology: str | os.PathLike[str] | None = None
    executor: str = "local"
    workers: int | None = None
    progress: bool | None = None
    batch_rows: int = 65536


@dataclass
class IndexResult:
    """What ``build_index`` wrote and counted."""

    out: Path
    split_files: dict[str, Path] = field(default_factory=dict)
    listed: Counter = field(default_factory=Counter)             # split file -> segments listed
    excluded: Counter = field(default_factory=Counter)           # reason -> segments
    excluded_by_split: dict[str, Counter] = field(default_factory=dict)
    negatives_listed: int = 0
    negatives_dropped: Counter = field(default_factory=Counter)  # reason -> negative clips
    features_made: int = 0
    feature_errors: Counter = field(default_factory=Counter)
    combined: CombinedResult | None = None

    @property
    def error_exclusions(self) -> int:
        """Segments excluded for a media or extraction problem (label filters are not errors)."""
        return sum(n for reason, n in self.excluded.items() if reason not in LABEL_REASONS)

    def summary_text(self) -> str:
        lines = [f"index written to {self.out}"]
        for name in sorted(self.split_files):
            exc = sum(self.excluded_by_split.get(name, Counter()).values())
            lines.append(f"  {name}: {self.listed[name]} listed, {exc} excluded")
        for reason, n in self.excluded.most_common():
            lines.append(f"  excluded {reason}: {n}")
        if self.negatives_listed or self.negatives_dropped:
            lines.append(f"  negative clips listed: {self.negatives_listed}, dropped: "
                         f"{sum(self.negatives_dropped.values())}")
        if self.features_made or self.feature_errors:
            lines.append(f"  features made: {self.features_made}, errors: {dict(self.feature_errors)}")
        if self.combined is not None:
            lines.append(f"  {self.combined.path.name}: balanced part starts after line "
                         f"{self.combined.split_line} ({self.combined.unbalanced_lines} unbalanced + "
                         f"{self.combined.balanced_lines} balanced)")
        return "\n".join(lines)


def _label_sets(opts: IndexOptions) -> tuple[frozenset[str], frozenset[str]]:
    if not opts.exclude_labels and not opts.keep_labels:
        return frozenset(), frozenset()
    ontology = Ontology.load(opts.ontology)
    unknown = ontology.unknown([*opts.exclude_labels, *opts.keep_labels])
    if unknown:
        raise SchemaError(f"label filter names unknown ontology id(s): {', '.join(sorted(unknown))}")
    return (frozenset(ontology.descendants(opts.exclude_labels)) if opts.exclude_labels else frozenset(),
            frozenset(ontology.descendants(opts.keep_labels)) if opts.keep_labels else frozenset())


def _label_verdict(labels: list[str], exclude: frozenset[str], keep: frozenset[str]) -> str | None:
    if exclude and any(lab in exclude for lab in labels):
        return LABEL_EXCLUDED
    if keep and not any(lab in keep for lab in labels):
        return LABEL_NOT_KEPT
    return None


def _positions(clips: pa.Table, manifest: pa.Table, kind: str) -> tuple[pa.Table, pa.Array]:
    """Manifest rows of clip ``kind`` and, per clip-table row, the position of its row (null if none)."""
    sub = manifest.filter(pc.equal(manifest.column("clip"), kind))
    return sub, pc.index_in(clips.column("clip_id"), value_set=sub.column("clip_id"))


def _negative_kinds(manifest: pa.Table) -> list[str]:
    kinds = {k for k in pc.unique(manifest.column("clip")).to_pylist() if k and k != GOLD_CLIP}
    return sorted(kinds, key=lambda k: (k[:1], int(k[1:]) if k[1:].isdigit() else 0, k))


def _clip_files(row: dict | None) -> ClipFiles | None:
    if row is None or row.get("clip_id") is None:
        return None
    return ClipFiles(
        clip=row["clip"], status=row["status"] or "unknown", audio_file=row["audio_file"],
        frame_files=tuple(row["frame_files"] or ()), audio_samples=row["audio_samples"],
        sample_rate=row["sample_rate"], channels=row["channels"],
    )


_MANIFEST_COLUMNS = ["clip_id", "clip", "dir", "audio_file", "frame_files", "audio_samples",
                     "sample_rate", "channels", "status"]


@dataclass(frozen=True)
class _RowInfo:
    split_file: str
    id: str
    bos: str
    eos: str
    labels: list[str]
    captions: list[str] | None


def _previous_checks(out: Path) -> tuple[pa.Table, list[Path]]:
    """Latest check row per (clip_id, clip) from the last index and from killed runs' leftovers
    (newer, so they win), and the leftover folders."""
    leftovers = sorted((d for d in out.glob(CHECKS_TMP_GLOB) if d.is_dir()),
                       key=lambda d: min((p.name for p in manifest_parts(d)), default=""))
    tables = [read_manifest(d, CHECKS_SCHEMA).drop_columns([SEQ_COLUMN]) for d in [out / CHECKS_DIR, *leftovers]]
    return latest(pa.concat_tables(tables), CHECKS_KEYS), leftovers


def _previous_result(row: dict | None) -> ClipResult | None:
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


def _plan(opts: IndexOptions, result: IndexResult, checks: ManifestWriter, previous: pa.Table
          ) -> Iterator[tuple[SegmentTask, _RowInfo]]:
    """Tasks in clip-table order; rows dropped by the label filter are counted here, not checked."""
    table = read_clips(opts.clips)
    manifest = read_manifest(opts.manifest, EXTRACT_MANIFEST_SCHEMA).select([*_MANIFEST_COLUMNS, SEQ_COLUMN])
    manifest = latest(manifest, MANIFEST_KEYS).select(_MANIFEST_COLUMNS)
    kinds = [GOLD_CLIP] + (_negative_kinds(manifest) if opts.with_negatives else [])
    exclude, keep = _label_sets(opts)
    media_root = str(Path(opts.media).resolve())
    cols = ["clip_id", "start", "end", "labels", "captions", "dataset", "split"]
    positions = [_positions(table, manifest, k) for k in kinds]   # one hash join per clip kind
    prev_positions = [_positions(table, previous, k) for k in kinds]
    del manifest, previous
    table = table.select(cols)
    for offset in range(0, table.num_rows, opts.batch_rows):
        rows = table.slice(offset, opts.batch_rows).to_pylist()
        aligned = [sub.take(pos.slice(offset, opts.batch_rows)).to_pylist() for sub, pos in positions]
        prev = [sub.take(pos.slice(offset, opts.batch_rows)).to_pylist() for sub, pos in prev_positions]
        for i, row in enumerate(rows):
            split_file = split_file_name(row["dataset"], row["split"])
            if split_file not in result.split_files:
                result.split_files[split_file] = Path(opts.out) / split_file
            verdict = _label_verdict(row["labels"], exclude, keep)
            if verdict is not None:
                _count_segment(result, split_file, SegmentResult(offset + i, row["clip_id"],
                               (ClipResult(GOLD_CLIP, verdict),)), checks)
                continue
            files, previous_results = [], []
            for a, b in zip(aligned, prev):
                f = _clip_files(a[i])
                if f is not None:
                    files.append(f)
                    previous_results.append(_previous_result(b[i]))
            gold_dir = aligned[0][i]["dir"] if aligned[0][i] is not None else None
            captions = (row["captions"] if (row["dataset"] in CAPTION_DATASETS or row["captions"])
                        else None)
            info = _RowInfo(split_file, row["clip_id"], format_time(row["start"]),
                            format_time(row["end"]), row["labels"], captions)
            task = SegmentTask(
                row=offset + i, clip_id=row["clip_id"], dir=gold_dir or "", clips=tuple(files),
                media_root=media_root, min_audio_seconds=opts.min_audio_seconds,
                check_media=opts.check_media, features=opts.features, previous=tuple(previous_results),
            )
            yield task, info


def _count_segment(result: IndexResult, split_file: str, seg: SegmentResult, checks: ManifestWriter) -> None:
    for clip in seg.clips:
        checks.write({
            "clip_id": seg.clip_id, "clip": clip.clip, "split_file": split_file, "status": clip.status,
            "message": clip.message, "audio_seconds": clip.audio_seconds, "sample_rate": clip.sample_rate,
            "channels": clip.channels, "frames_ok": len(clip.frames), "frames_total": clip.frames_total,
            "aclip_128": clip.aclip_128, "frame_224": clip.frame_224, "feature_error": clip.feature_error,
            "aclip": clip.aclip, "frames": list(clip.frames), "fingerprint": clip.fingerprint or None,
            "files": [st[0] for st in clip.stamps], "sizes": [st[1] for st in clip.stamps],
            "mtimes_ns": [st[2] for st in clip.stamps],
        })
    if not seg.ok:
        result.excluded[seg.status] += 1
        result.excluded_by_split.setdefault(split_file, Counter())[seg.status] += 1
        return
    result.listed[split_file] += 1
    for clip in seg.clips[1:]:
        if clip.ok:
            result.negatives_listed += 1
        else:
            result.negatives_dropped[clip.status] += 1
    gold = seg.clips[0]
    if gold.aclip_128 is not None or gold.frame_224 is not None:
        result.features_made += 1
    for err in filter(None, gold.feature_error.split(",")):
        result.feature_errors[err] += 1


def _entry(seg: SegmentResult, task: SegmentTask, info: _RowInfo) -> IndexEntry:
    good = [c for c in seg.clips if c.ok]
    gold = good[0]
    return IndexEntry(
        dir=task.dir, aclip=[c.aclip for c in good], frame=[f for c in good for f in c.frames],
        aclip_128=gold.aclip_128, frame_224=gold.frame_224, id=info.id, bos=info.bos, eos=info.eos,
        labels=info.labels, captions=info.captions,
    )


def build_index(opts: IndexOptions) -> IndexResult:
    """Write the split files, the combined training list and the sidecars (see module docstring)."""
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    result = IndexResult(out=out)
    previous, leftovers = _previous_checks(out)
    checks_tmp = out / f".tmp-{os.getpid()}-{CHECKS_DIR}"
    shutil.rmtree(checks_tmp, ignore_errors=True)
    run_inline = not (opts.check_media or opts.features)
    executor = get_executor("inline" if run_inline else opts.executor,
                            **({} if run_inline or opts.executor == "inline" else {"workers": opts.workers}))
    with contextlib.ExitStack() as stack:
        checks = stack.enter_context(ManifestWriter(checks_tmp, CHECKS_SCHEMA, flush_rows=CHECKS_FLUSH_ROWS,
                                                    flush_seconds=300))
        handles: dict[str, IO[str]] = {}

        def handle(split_file: str) -> IO[str]:
            if split_file not in handles:
                tmp = stack.enter_context(atomic_path(out / split_file))
                handles[split_file] = stack.enter_context(open(tmp, "w", encoding="utf-8", newline="\n"))
            return handles[split_file]

        total = read_clips_rows(opts.clips)
        bar = stack.enter_context(progress(total, "index", "seg", enabled=opts.progress))
        pending: deque[tuple[SegmentTask, _RowInfo]] = deque()

        def tasks() -> Iterator[SegmentTask]:
            for task, info in _plan(opts, result, checks, previous):
                pending.append((task, info))
                yield task

        for seg, task, info in _ordered(executor.map_unordered(check_segment, tasks()), pending):
            _count_segment(result, info.split_file, seg, checks)
            if seg.ok:
                handle(info.split_file).write(_entry(seg, task, info).to_line())
            bar.update(1)
        for split_file in result.split_files:
            handle(split_file)  # every split of the table gets its file, even when empty
        bar.update(total - bar.n)
    final_checks = out / CHECKS_DIR
    shutil.rmtree(final_checks, ignore_errors=True)
    os.replace(checks_tmp, final_checks)
    for d in leftovers:  # their results live on in the new checks
        if d != checks_tmp:
            shutil.rmtree(d, ignore_errors=True)
    result.combined = write_combined(out)
    _write_summary(opts, result)
    return result


def _ordered(results: Iterator[SegmentResult], pending: deque[tuple[SegmentTask, _RowInfo]]
             ) -> Iterator[tuple[SegmentResult, SegmentTask, _RowInfo]]:
    """Yield results in task order. ``pending`` is filled (in order) as tasks are handed out; the
    executor's bounded window keeps the number of results waiting here small."""
    waiting: dict[int, SegmentResult] = {}
    for res in results:
        waiting[res.row] = res
        while pending and pending[0][0].row in waiting:
            task, info = pending.popleft()
            yield waiting.pop(task.row), task, info


def read_clips_rows(path: str | os.PathLike[str]) -> int:
    """Rows of a clip table, from the Parquet footer."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowInvalid) as e:
        raise SchemaError(f"{path}: not a readable Parquet clip table ({e})") from e


def _write_summary(opts: IndexOptions, result: IndexResult) -> None:
    summary = {
        "options": {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in asdict(opts).items()},
        "splits": {name: {"listed": result.listed[name],
                          "excluded": dict(result.excluded_by_split.get(name, Counter()))}
                   for name in sorted(result.split_files)},
        "excluded_by_reason": dict(result.excluded.most_common()),
        "negatives_listed": result.negatives_listed,
        "negatives_dropped": dict(result.negatives_dropped),
        "features_made": result.features_made,
        "feature_errors": dict(result.feature_errors),
        "combined": None if result.combined is None else result.combined.to_dict(),
    }
    write_text_atomic(result.out / SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n")


def read_summary(index_dir: str | os.PathLike[str]) -> dict | None:
    """The ``index_summary.json`` beside an index, or None."""
    path = Path(index_dir) / SUMMARY_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text("utf-8"))
