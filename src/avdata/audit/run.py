"""``avdata audit``: still, silent and short clips, duplicate groups across ids, and leaks.

Each index file's clips are measured once through the embed stage (``measure.AuditEmbedder``: one
row per line, chunked, resumable, any executor) under ``OUT/measures/``; the flags are thresholds on
those measures; duplicates are ``dupes``' groups; the outputs are ``clips.parquet`` (one row per
index line), ``summary.json`` and ``groups.html``; ``--clean DIR`` writes the index files again
without the flagged clips (``clean.py``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from avdata.atomic import atomic_path, write_text_atomic
from avdata.audit.dupes import DEFAULT_THRESHOLD, DupeOptions, allowed, components, digest_edges, vector_edges
from avdata.audit.measure import DIGEST_PARTS, FACTORY, HEAD, MEASURES
from avdata.embed.fingerprint import AUDIO_DIM
from avdata.embed.run import EmbedOptions, run_embed
from avdata.errors import InputFormatError, OptionError
from avdata.index.lines import field_seconds, iter_records
from avdata.progress import progress
from avdata.sources.vipant import split_of

CLIPS_FILE = "clips.parquet"
SUMMARY_FILE = "summary.json"
PAGE_FILE = "groups.html"
FLAGS = ("still", "silent", "short")
ANN_CHOICES = ("auto", "exact", "flat", "ivf")

AUDIT_SCHEMA = pa.schema([
    pa.field("index_file", pa.string()), pa.field("line", pa.int64()), pa.field("id", pa.string()),
    pa.field("split", pa.string()), pa.field("status", pa.string()),
    pa.field("still", pa.bool_()), pa.field("silent", pa.bool_()), pa.field("short", pa.bool_()),
    pa.field("dup_group", pa.int64()), pa.field("leak", pa.bool_()), pa.field("leak_with", pa.string()),
    pa.field("listed_seconds", pa.float64()), pa.field("audio_seconds", pa.float64()),
    pa.field("silent_fraction", pa.float64()), pa.field("motion", pa.float64()),
])


@dataclass(frozen=True)
class AuditOptions:
    """Options of ``run_audit`` (mirrors ``avdata audit``)."""

    index: tuple[str, ...]
    media: str | os.PathLike[str]
    out: str | os.PathLike[str]
    embedder: str = "fingerprint"
    weights: tuple[str, ...] = ()
    threshold: float = DEFAULT_THRESHOLD
    k: int = 8
    ann: str = "auto"
    still_motion: float = 1.0             # grey levels: a clip whose frames change less is still
    silent_fraction: float = 0.9          # share of 100 ms windows below -60 dBFS that makes a clip silent
    short_tolerance: float = 0.5          # seconds the audio may fall short of the listed span
    clean: str | os.PathLike[str] | None = None
    weights_scheme: str | None = None     # --clean: the weights scheme (default: the index stage's)
    executor: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    chunk_rows: int = 256
    progress: bool | None = None

    def __post_init__(self) -> None:
        checks = [(bool(self.index), "give at least one index file"),
                  (-1.0 <= self.threshold <= 1.0, f"--threshold must be a cosine in [-1, 1] (got {self.threshold})"),
                  (self.k >= 1, f"--k must be at least 1 (got {self.k})"),
                  (0.0 < self.silent_fraction <= 1.0,
                   f"--silent-fraction must be in (0, 1] (got {self.silent_fraction})"),
                  (self.still_motion >= 0 and self.short_tolerance >= 0, "thresholds must be 0 or more"),
                  (self.ann in ANN_CHOICES, f"--ann must be one of {', '.join(ANN_CHOICES)} (got {self.ann})")]
        for ok, message in checks:
            if not ok:
                raise OptionError(message)


@dataclass
class AuditResult:
    out: Path
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    leaks: list[tuple[str, str]] = field(default_factory=list)     # (training side, evaluation side) "split:id"
    problems: list[str] = field(default_factory=list)              # one line per clip not measured
    clean: dict[str, int] = field(default_factory=dict)            # written file -> lines kept
    reused: int = 0                                                 # clips measured by an earlier run

    def summary_text(self) -> str:
        flags = ", ".join(f"{k} {self.counts.get(k, 0)}" for k in (*FLAGS, "duplicate", "leak"))
        return (f"audit: {self.rows} clips; {flags}; {self.groups} duplicate group(s); "
                f"{self.counts.get('unmeasured', 0)} not measured -> {self.out}")


def is_training(split: str) -> bool:
    """The training side of a leak: splits named ``*train*`` (the others are evaluation splits)."""
    return "train" in split


@dataclass
class _Lines:
    """The ids and listed spans of every index line, in input order."""

    files: list[str] = field(default_factory=list)
    file_of: list[np.ndarray] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    listed: list[float] = field(default_factory=list)


def _read_lines(paths: list[Path]) -> _Lines:
    out = _Lines()
    for k, path in enumerate(paths):
        out.files.append(str(path))
        n = 0
        for lineno, rec, _ in iter_records(path):     # a bad line is reported by the measuring pass
            n += 1
            if rec is None:
                out.ids.append("")
                out.listed.append(math.nan)
                continue
            out.ids.append(str(rec.get("id") or ""))
            try:
                out.listed.append(field_seconds(rec, "eos", path, lineno) - field_seconds(rec, "bos", path, lineno))
            except InputFormatError:
                out.listed.append(math.nan)
        out.file_of.append(np.full(n, k, dtype=np.int32))
    return out


def _measure(opts: AuditOptions, paths: list[Path], out: Path
             ) -> tuple[list[np.ndarray], list[str], list[dict], int]:
    """Run the measuring embed pass of every index file: its matrices, one line per failure, the
    failed lines' codes per file and how many clips an earlier run had measured already."""
    mats, problems, statuses, reused = [], [], [], 0
    for k, path in enumerate(paths):
        folder = out / "measures" / f"{k:02d}_{path.stem}"
        res = run_embed(EmbedOptions(index=path, media=opts.media, out=folder, embedder="audit", factory=FACTORY,
                                     params=(("embedder", opts.embedder),), weights=opts.weights, dtype="float32",
                                     executor=opts.executor, workers=opts.workers, ray_address=opts.ray_address,
                                     chunk_rows=opts.chunk_rows, progress=opts.progress, retry_failed=True))
        mats.append(np.load(res.embeddings, mmap_mode="r"))
        reused += res.already_done
        failed = {}
        for line, cid, code, message in res.failures:
            problems.append(f"{path}:{line + 1}: {cid or '-'}: {code}: {message}")
            failed[line] = code
        statuses.append(failed)
    return mats, problems, statuses, reused


def run_audit(opts: AuditOptions) -> AuditResult:
    """Measure, flag and group the clips of ``opts.index``; write clips.parquet, summary.json and
    groups.html under ``opts.out`` (and the clean index files under ``opts.clean``)."""
    paths = [Path(p) for p in opts.index]
    out = Path(opts.out)
    if opts.clean is not None:
        from avdata.audit.clean import check_clean_folder
        check_clean_folder(paths, Path(opts.clean))
    out.mkdir(parents=True, exist_ok=True)
    lines = _read_lines(paths)
    mats, problems, statuses, reused = _measure(opts, paths, out)
    n = len(lines.ids)
    head = np.vstack([np.asarray(m[:, :HEAD]) for m in mats]) if n else np.zeros((0, HEAD), np.float32)
    file_of = np.concatenate(lines.file_of) if n else np.zeros(0, np.int32)
    status = np.array(["ok"] * n, dtype=object)
    base = 0
    for m, failed in zip(mats, statuses):
        for line, code in failed.items():
            status[base + line] = code
        base += len(m)
    ok = status == "ok"
    col = {name: head[:, i].astype(np.float64) for i, name in enumerate(MEASURES)}
    listed = np.asarray(lines.listed, dtype=np.float64)
    still = ok & (col["motion"] >= 0) & (col["motion"] < opts.still_motion)
    silent = ok & (col["silent_fraction"] >= opts.silent_fraction)
    short = ok & ((col["audio_seconds"] < listed - opts.short_tolerance) | (col["frames"] < col["frames_listed"]))
    splits = [split_of(p)[1] for p in paths]
    train_side = np.array([is_training(splits[k]) for k in file_of.tolist()], dtype=bool)
    ids = np.array(lines.ids, dtype=object)

    bar = progress(2 * n, "audit: duplicates", "clip", enabled=opts.progress)
    da, db = digest_edges(head[:, len(MEASURES):len(MEASURES) + DIGEST_PARTS], ok)
    # one index file: its memory map, read a block at a time by the search; several: one matrix
    vectors = (mats[0][:, HEAD:] if len(mats) == 1 else
               np.vstack([m[:, HEAD:] for m in mats]).astype(np.float32) if n else np.zeros((0, 1), np.float32))
    split = AUDIO_DIM if opts.embedder == "fingerprint" else None
    va, vb, _ = vector_edges(vectors, ok, DupeOptions(threshold=opts.threshold, k=opts.k, ann=opts.ann),
                             on_block=bar.update, split=split)
    del vectors
    a, b = np.concatenate([da, va]), np.concatenate([db, vb])
    same = ids[a] == ids[b] if len(a) else np.zeros(0, dtype=bool)
    keep = allowed(a, b, same, train_side)
    root = components(n, a[keep], b[keep])
    bar.update(n)
    bar.close()
    group, leak, leak_with, n_groups, leaks = _groups(root, ids, np.array(splits, dtype=object)[file_of], train_side)
    columns = {
        "index_file": [lines.files[k] for k in file_of.tolist()], "line": np.arange(n) - _starts(lines)[file_of] + 1,
        "id": lines.ids, "split": [splits[k] for k in file_of.tolist()], "status": status.tolist(),
        "still": _masked(still, ok), "silent": _masked(silent, ok), "short": _masked(short, ok),
        "dup_group": pa.array(group, mask=group < 0), "leak": leak, "leak_with": leak_with,
        "listed_seconds": listed, "audio_seconds": _masked(col["audio_seconds"], ok),
        "silent_fraction": _masked(col["silent_fraction"], ok),
        "motion": pa.array(col["motion"], mask=~ok | (col["motion"] < 0)),
    }
    table = pa.table(columns, schema=AUDIT_SCHEMA)
    with atomic_path(out / CLIPS_FILE) as tmp:
        pq.write_table(table, tmp)
    res = AuditResult(out, n, problems=problems, groups=n_groups, leaks=leaks, reused=reused)
    res.counts = {"still": int(still.sum()), "silent": int(silent.sum()), "short": int(short.sum()),
                  "duplicate": int((group >= 0).sum()), "leak": int(leak.sum()), "unmeasured": int((~ok).sum())}
    if opts.clean is not None:
        from avdata.audit.clean import write_clean
        res.clean = write_clean(opts, paths, table, Path(opts.clean))
    per_split = _per_split(table)
    _write_summary(opts, res, per_split)
    from avdata.audit.page import write_page
    write_page(out / PAGE_FILE, table, Path(opts.media), opts, per_split, res.groups, len(res.leaks))
    return res


def _starts(lines: _Lines) -> np.ndarray:
    sizes = [len(f) for f in lines.file_of]
    return np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64) if sizes else np.zeros(0, np.int64)


def _masked(values: np.ndarray, ok: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~ok)


def _groups(root: np.ndarray, ids: np.ndarray, split: np.ndarray, train_side: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, list[str | None], int, list[tuple[str, str]]]:
    """Group numbers (-1 when unique), the leak flag, the other side of each leaking clip, the number
    of groups and the leaks as (training side, evaluation side)."""
    n = len(root)
    group = np.full(n, -1, dtype=np.int64)
    leak = np.zeros(n, dtype=bool)
    leak_with: list[str | None] = [None] * n
    leaks: list[tuple[str, str]] = []
    members = np.flatnonzero(root != np.arange(n))
    heads = np.unique(root[members])
    order = {int(h): g for g, h in enumerate(heads.tolist())}
    by_group: dict[int, list[int]] = {}
    for i in np.r_[heads, members].tolist():
        by_group.setdefault(order[int(root[i])], []).append(int(i))
    for g, rows in by_group.items():
        rows.sort()
        group[rows] = g
        train = " ".join(f"{split[i]}:{ids[i]}" for i in rows if train_side[i])
        held = " ".join(f"{split[i]}:{ids[i]}" for i in rows if not train_side[i])
        if train and held:
            leak[rows] = True
            for i in rows:
                leak_with[i] = held if train_side[i] else train
            leaks.append((train, held))
    return group, leak, leak_with, len(by_group), leaks


def _per_split(table: pa.Table) -> dict[str, dict[str, int]]:
    """Counts per split of clips, unmeasured clips and each flag (Arrow group-by: no row objects)."""
    counts = pa.table({
        "split": table.column("split"),
        "clips": pa.array(np.ones(table.num_rows, dtype=np.int64)),
        "unmeasured": pc.cast(pc.not_equal(table.column("status"), "ok"), pa.int64()),
        **{f: pc.cast(table.column(f).fill_null(False), pa.int64()) for f in FLAGS},
        "duplicate": pc.cast(pc.is_valid(table.column("dup_group")), pa.int64()),
        "leak": pc.cast(table.column("leak"), pa.int64())})
    names = ["clips", "unmeasured", *FLAGS, "duplicate", "leak"]
    grouped = counts.group_by("split").aggregate([(k, "sum") for k in names]).to_pylist()
    return {g["split"]: {k: int(g[f"{k}_sum"]) for k in names} for g in sorted(grouped, key=lambda g: g["split"])}


def _write_summary(opts: AuditOptions, res: AuditResult, per_split: dict[str, dict[str, int]]) -> None:
    options = {k: (list(v) if isinstance(v, tuple) else (str(v) if isinstance(v, Path) else v))
               for k, v in asdict(opts).items()}
    summary: dict[str, Any] = {
        "options": options, "clips": res.rows, "counts": res.counts, "groups": res.groups,
        "per_split": per_split,
        "leaks": [{"train": t, "held_out": h} for t, h in res.leaks[:10000]],
        "not_measured": res.problems[:1000], "clean": res.clean,
    }
    write_text_atomic(res.out / SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n")
