"""``avdata shards``: an index file and its media as WebDataset tar shards plus a shard list.

Each index line becomes one sample whose members share a key (``{id}_{clip}``, dots replaced,
``_{line}`` appended when an id repeats):

    KEY.json            {"id", "labels", "line": 0-based index line, "weight": float or null,
                         "index": the line}
    KEY.mp3             the first ``aclip`` (its own extension)
    KEY.f01.jpg ...     the frames in the line's order
    KEY.aclip_128.npz   KEY.frame_224.npz   (when the line names features and ``features`` is on)

Shards ``{name}-000000.tar`` ... close near ``target_size`` bytes. ``{name}.shards.json`` lists them
with sample counts in the ``wids`` shard-index format. The plan (which line goes to which shard)
depends only on the index, the media sizes and (shuffle, seed), so a rerun skips shards whose
manifest row (``shards_manifest.parquet``) is ok for the same plan and whose tar is still there.
Each tar is written under a temporary name and renamed. A line whose media is missing is skipped
with one message naming the index file and line.

``out`` may be an object-store URL (``s3://bucket/prefix``, any fsspec URL; ``storage_options``
for endpoints and the like, credentials from the usual configuration): each worker writes its tar
to a local temporary file and uploads it whole to its final key (a PUT, or a multipart upload
completed at the end: no object ever looks finished before it is), retried on failure; the shard
list and the manifest are uploaded beside the shards at the end. The manifest is kept in a local
state folder meanwhile (``state``; default ``~/.cache/avdata/shards/<hash of the URL>``, fetched
from the store when absent), so a rerun skips the shards already there for the same plan. An
unreachable or unauthorised store is one line before any work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from avdata import storage
from avdata.atomic import TEMP_PREFIX, atomic_path, sweep_temp_files, write_text_atomic
from avdata.errors import AvdataError, InputFormatError
from avdata.executors import ExecutorSpec, build_executor
from avdata.loaders.lazy_index import LazyIndex
from avdata.manifest import STATUS_OK, ManifestWriter, compact, latest, read_manifest
from avdata.paths import safe_join, safe_name
from avdata.progress import progress
from avdata.weights import read_weights, weights_path_for

MANIFEST = "shards_manifest.parquet"
SHARD_MANIFEST_SCHEMA = pa.schema([
    pa.field("shard", pa.string()), pa.field("status", pa.string()), pa.field("error", pa.string()),
    pa.field("message", pa.string()), pa.field("plan", pa.string()), pa.field("samples", pa.int64()),
    pa.field("bytes", pa.int64()), pa.field("seconds", pa.float64()), pa.field("finished_at", pa.float64()),
])
FEATURE_KINDS = ("aclip_128", "frame_224")
TAR_HEADER = 1024  # header + padding allowance per member when sizing shards


@dataclass(frozen=True)
class ShardOptions:
    """Options of ``write_shards`` (mirrors ``avdata shards``)."""

    index: str
    media: str
    out: str
    name: str | None = None               # shard name prefix; default: the index file's stem
    target_size: int = 1 << 30
    shuffle: bool = False
    seed: int = 0
    weights: str | None = None            # default: INDEX_weight.csv beside the index, when present
    features: bool = True                 # include aclip_128 / frame_224 npz when the line names them
    executor: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    retry_failed: bool = False
    show_progress: bool | None = None
    storage_options: tuple[tuple[str, Any], ...] = ()   # fsspec options of a URL ``out`` (e.g. endpoint_url)
    state: str | None = None              # URL ``out``: local folder for the manifest while writing


@dataclass(frozen=True)
class Member:
    name: str          # member name inside the tar
    path: str          # file on disk


@dataclass(frozen=True)
class ShardJob:
    """One tar to write: which index lines, under which keys, in order."""

    path: str
    name: str
    plan: str
    index: str
    media: str
    features: bool
    lines: tuple[int, ...]
    keys: tuple[str, ...]
    weights: tuple[float | None, ...]
    remote: str | None = None                       # the final URL when ``out`` is an object store
    storage_options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ShardResult:
    name: str
    status: str
    samples: int = 0
    bytes: int = 0
    error: str = ""
    message: str = ""
    seconds: float = 0.0


@dataclass
class ShardSummary:
    shard_list: Path | str | None          # a URL when the shards went to an object store
    shards: int = 0
    samples: int = 0
    written: int = 0
    resumed: int = 0
    failed: list[ShardResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)     # one message per index line left out

    def lines(self) -> list[str]:
        return [f"shards: {self.shards} shard(s), {self.samples} sample(s); written {self.written}, "
                f"already complete {self.resumed}, failed {len(self.failed)}, lines skipped {len(self.skipped)}"
                + (f" -> {self.shard_list}" if self.shard_list else "")]


def sample_key(rec: dict, used: set[str], line: int) -> str:
    clip = str((rec.get("aclip") or ["p0"])[0]).split(".", 1)[0]
    key = f"{rec['id']}_{clip}".replace(".", "_")
    if key in used:
        key = f"{key}_{line}"
    used.add(key)
    return key


def sample_members(rec: dict, key: str, media: str, features: bool) -> tuple[list[Member], int]:
    """The members of one line's sample and their total size; raises OSError/AvdataError when a
    file is missing or a name is unsafe."""
    rel_dir = f"{rec['dir']}/" if rec.get("dir") else ""
    cid = safe_name(str(rec["id"]))
    members: list[Member] = []
    aclips = rec.get("aclip") or []
    if not aclips:
        raise AvdataError("the line lists no audio clip")
    ext = str(aclips[0]).split(".", 1)[1] if "." in str(aclips[0]) else "audio"
    members.append(Member(f"{key}.{ext}", str(safe_join(media, f"{rel_dir}aclip/{cid}.{aclips[0]}",
                                                        follow_links=True))))
    for k, frame in enumerate(rec.get("frame") or [], 1):
        fext = str(frame).rsplit(".", 1)[-1]
        members.append(Member(f"{key}.f{k:02d}.{fext}",
                              str(safe_join(media, f"{rel_dir}frame/{cid}.{frame}", follow_links=True))))
    if features:
        for kind in FEATURE_KINDS:
            if rec.get(kind):
                members.append(Member(f"{key}.{kind}.npz",
                                      str(safe_join(media, f"{rel_dir}{kind}/{cid}.{rec[kind]}", follow_links=True))))
    size = sum(os.stat(m.path).st_size + TAR_HEADER for m in members)
    return members, size


def _write_tar(job: ShardJob, target: str | os.PathLike[str]) -> None:
    index = LazyIndex(job.index)
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for line, key, weight in zip(job.lines, job.keys, job.weights):
            rec = index.record(line)
            members, _ = sample_members(rec, key, job.media, job.features)
            text = json.dumps({"id": rec.get("id"), "labels": rec.get("labels") or [], "line": line,
                               "weight": weight, "index": rec}, allow_nan=False)
            _add(tar, f"{key}.json", text.encode("utf-8"))
            for m in members:
                with open(m.path, "rb") as fh:
                    _add(tar, m.name, fh.read())


def write_shard(job: ShardJob) -> ShardResult:
    """Write one tar atomically, on disk or uploaded whole to an object store (pure: a job in, a
    file and a result out; runs on any worker, which uploads it itself)."""
    t0 = time.monotonic()
    where = job.remote or job.path
    try:
        if job.remote is None:
            with atomic_path(job.path) as tmp:
                _write_tar(job, tmp)
            size = os.stat(job.path).st_size
        else:
            fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tar")
            os.close(fd)
            try:
                _write_tar(job, tmp_name)
                size = storage.upload(tmp_name, job.remote, dict(job.storage_options))
            finally:
                os.unlink(tmp_name)
    except (OSError, AvdataError, ValueError) as e:     # ValueError: a NaN in a line (not JSON)
        return ShardResult(job.name, "error", error=type(e).__name__, message=f"{where}: {e}",
                           seconds=time.monotonic() - t0)
    return ShardResult(job.name, STATUS_OK, len(job.lines), size, seconds=time.monotonic() - t0)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o444, 0
    tar.addfile(info, io.BytesIO(data))


def plan_shards(options: ShardOptions, name: str, out: Path) -> tuple[list[ShardJob], list[str]]:
    """Split the index's lines into shard jobs near ``target_size``; return (jobs, skipped lines)."""
    weights_file = options.weights or (str(weights_path_for(options.index))
                                       if weights_path_for(options.index).is_file() else None)
    weights = read_weights(weights_file) if weights_file else None
    index = LazyIndex(options.index)
    n = len(index)
    if weights is not None and len(weights) != n:
        raise AvdataError(f"{weights_file}: {len(weights)} weights for {n} lines of {options.index}")
    order = np.random.default_rng(options.seed).permutation(n) if options.shuffle else np.arange(n)
    jobs: list[ShardJob] = []
    skipped: list[str] = []
    used: set[str] = set()
    lines: list[int] = []
    keys: list[str] = []
    size = 0

    def close() -> None:
        nonlocal lines, keys, size
        if lines:
            shard = f"{name}-{len(jobs):06d}"
            digest = hashlib.sha1(json.dumps([lines, keys, options.features]).encode()).hexdigest()
            ws = tuple(None if weights is None else float(weights[i]) for i in lines)
            jobs.append(ShardJob(str(out / f"{shard}.tar"), shard, digest, str(options.index), str(options.media),
                                 options.features, tuple(lines), tuple(keys), ws))
        lines, keys, size = [], [], 0

    for line in order.tolist():
        try:
            rec = index.record(line)
            key = sample_key(rec, used, line)
            _, nbytes = sample_members(rec, key, options.media, options.features)
        except (OSError, AvdataError, KeyError, TypeError) as e:
            why = e.reason if isinstance(e, InputFormatError) else f"{type(e).__name__}: {e}"
            skipped.append(f"{options.index}:{line + 1}: skipped: {why}")
            continue
        if lines and size + nbytes > options.target_size:
            close()
        lines.append(line)
        keys.append(key)
        size += nbytes
    close()
    return jobs, skipped


def write_shard_list(out: Path, name: str, results: dict[str, ShardResult]) -> Path:
    """``{name}.shards.json`` in the wids shard-index format (shards in order, sample counts)."""
    shardlist = [{"url": f"{r.name}.tar", "nsamples": r.samples, "filesize": r.bytes}
                 for _, r in sorted(results.items())]
    doc = {"__kind__": "wids-shard-index-v1", "wids_version": 1, "name": name, "shardlist": shardlist}
    path = out / f"{name}.shards.json"
    write_text_atomic(path, json.dumps(doc, indent=1) + "\n")
    return path


def state_folder(url: str) -> Path:
    """The default local state folder of a URL ``out`` (its manifest while shards are written)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "avdata" / "shards"
    return base / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


def _remote_state(options: ShardOptions) -> Path:
    """The local state folder of a URL ``out``, with the store's manifest when the folder has none."""
    state = Path(options.state) if options.state else state_folder(str(options.out))
    state.mkdir(parents=True, exist_ok=True)
    if not (state / MANIFEST).exists():
        fs, path = storage.open_fs(storage.join(str(options.out), MANIFEST), dict(options.storage_options))
        if fs.exists(path):
            fs.get(path, str(state / MANIFEST), recursive=True)
    return state


def _remote_size(options: ShardOptions, url: str) -> int | None:
    fs, path = storage.open_fs(url, dict(options.storage_options))
    try:
        return int(fs.info(path)["size"])
    except FileNotFoundError:
        return None


def write_shards(options: ShardOptions) -> ShardSummary:
    """Write the shards of an index (resuming a previous run) and the shard list."""
    remote = storage.is_remote(options.out)
    if remote:
        storage.check_writable(str(options.out), dict(options.storage_options))    # one line before any work
    out = _remote_state(options) if remote else Path(storage.local_path(options.out))
    name = safe_name(options.name or Path(options.index).stem)
    jobs, skipped = plan_shards(options, name, out)     # bad weights stop the run before anything is written
    if remote:
        jobs = [dataclasses.replace(j, remote=storage.join(str(options.out), f"{j.name}.tar"),
                                    storage_options=options.storage_options) for j in jobs]
    out.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(out)
    manifest = out / MANIFEST
    done = {r["shard"]: r for r in latest(read_manifest(manifest, SHARD_MANIFEST_SCHEMA), ["shard"]).to_pylist()}
    results: dict[str, ShardResult] = {}
    todo: list[ShardJob] = []
    summary = ShardSummary(None, len(jobs), sum(len(j.lines) for j in jobs), skipped=skipped)
    for job in jobs:
        row = done.get(job.name)
        on_disk = Path(job.path)
        if row is not None and row["plan"] == job.plan and row["status"] == STATUS_OK and (
                _remote_size(options, job.remote) == row["bytes"] if job.remote else
                on_disk.is_file() and on_disk.stat().st_size == row["bytes"]):
            results[job.name] = ShardResult(job.name, STATUS_OK, row["samples"], row["bytes"])
            summary.resumed += 1
        elif row and row["plan"] == job.plan and row["status"] != STATUS_OK and not options.retry_failed:
            summary.failed.append(ShardResult(job.name, row["status"], error=row["error"], message=row["message"]))
        else:
            todo.append(job)
    executor = build_executor(ExecutorSpec(options.executor, options.workers, options.ray_address),
                              shared_paths=[] if remote else [str(out)])
    with ManifestWriter(manifest, SHARD_MANIFEST_SCHEMA) as writer, \
            progress(len(todo), "shards", unit="shard", enabled=options.show_progress) as bar:
        plans = {j.name: j.plan for j in todo}
        for res in executor.map_unordered(write_shard, todo):
            writer.write_many([{"shard": res.name, "status": res.status, "error": res.error,
                                "message": res.message, "plan": plans[res.name], "samples": res.samples,
                                "bytes": res.bytes, "seconds": res.seconds, "finished_at": time.time()}])
            writer.flush()
            if res.status == STATUS_OK:
                results[res.name] = res
                summary.written += 1
            else:
                summary.failed.append(res)
            bar.update(1)
    sweep_temp_files(out)      # again: a killed run's workers may have still been ending at the start
    if not summary.failed:
        summary.shard_list = write_shard_list(out, name, results)
    if remote:
        _publish(options, out, summary, name)
    return summary


def _publish(options: ShardOptions, state: Path, summary: ShardSummary, name: str) -> None:
    """Upload the manifest (always) and the shard list (when every shard is there) beside the shards."""
    fs, path = storage.open_fs(str(options.out), dict(options.storage_options))
    compact(state / MANIFEST, ["shard"], SHARD_MANIFEST_SCHEMA)
    target = storage.join(path, MANIFEST)
    if fs.exists(target):
        fs.rm(target, recursive=True)
    fs.put(str(state / MANIFEST), target, recursive=True)
    if summary.shard_list is not None:
        url = storage.join(str(options.out), Path(summary.shard_list).name)
        storage.upload(summary.shard_list, url, dict(options.storage_options))
        summary.shard_list = url
