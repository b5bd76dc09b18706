"""``avdata embed``: one embedding row per index line, written in atomic chunks, resumable.

Output folder:
- ``embeddings.npy``: float32 or float16 (rows, dim), row i = line i of the index (``np.load(...,
  mmap_mode="r")`` maps it); a line that could not be embedded is a zero row.
- ``meta.json``: ``embedder``, ``dim``, ``dtype``, ``fingerprint``, ``rows``, ``index``
  (``path``, ``lines``, ``sha256``), ``stats`` (the embedder's normalisation statistics and the
  run's counts), ``complete``, ``chunk_rows``.
- ``embed_manifest.parquet/``: one row per line embedded (status ``ok`` or ``failed`` + code and
  reason); the latest row per line wins.
- ``chunks/``: while running, finished chunks ``chunk-NNNNNN.npy`` of ``chunk_rows`` rows (removed
  when assembled; only those names: anything else a user put there stays). A chunk that does not
  read back whole (a truncated or zero-byte file) is embedded again.

A rerun resumes from the finished chunks (a killed run loses at most the chunks in flight) and
gives the same bytes as an uninterrupted run. A changed index or embedder fingerprint is refused.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from avdata.arrays import load_npy, npy_is
from avdata.atomic import atomic_path, remove_own_files, sweep_temp_files, write_text_atomic
from avdata.embed import DEFAULT_EMBEDDER, get_embedder, media_for_line
from avdata.embed.base import ClipEmbedError, ClipMedia, Embedder
from avdata.errors import AvdataError, InputFormatError, MediaError
from avdata.executors import ExecutorSpec, build_executor
from avdata.loaders.lazy_index import parse_line, split_lines
from avdata.manifest import STATUS_OK, ManifestWriter, latest, read_manifest
from avdata.progress import progress

EMBEDDINGS = "embeddings.npy"
META = "meta.json"
MANIFEST = "embed_manifest.parquet"
CHUNKS = "chunks"
CHUNK_NAME = re.compile(r"chunk-\d{6,}\.npy")
STATUS_FAILED = "failed"
DTYPES = ("float32", "float16")
EMBED_MANIFEST_SCHEMA = pa.schema([
    ("line", pa.int64()), ("id", pa.string()), ("status", pa.string()), ("code", pa.string()),
    ("message", pa.string()), ("finished_at", pa.float64()),
])


class EmbedMismatchError(AvdataError):
    """An output folder made from another index, embedder or dtype: rows must not be mixed."""


@dataclass(frozen=True)
class EmbedderSpec:
    """What a worker needs to build the embedder once (picklable)."""

    name: str
    weights: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    factory: str | None = None      # "module:attr" of an embedder that is not registered (avdata train's inputs)

    def build(self) -> Embedder:
        kwargs = dict(self.params)
        if self.weights:
            kwargs["weights"] = self.weights
        if self.factory is not None:
            module, _, attr = self.factory.partition(":")
            return getattr(importlib.import_module(module), attr)(**kwargs)
        return get_embedder(self.name, **kwargs)


@dataclass(frozen=True)
class EmbedOptions:
    """Options of ``run_embed`` (mirrors ``avdata embed``)."""

    index: str | os.PathLike[str]
    media: str | os.PathLike[str]
    out: str | os.PathLike[str]
    embedder: str = DEFAULT_EMBEDDER
    weights: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    factory: str | None = None         # see EmbedderSpec.factory
    dtype: str = "float32"
    executor: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    chunk_rows: int = 256
    retry_failed: bool = False
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise AvdataError(f"dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")
        if self.chunk_rows < 1:
            raise AvdataError(f"chunk_rows must be at least 1; got {self.chunk_rows}")


@dataclass
class EmbedResult:
    """What a run did; ``failures`` are (line, id, code, message) of lines left as zero rows."""

    out: Path
    rows: int
    dim: int
    embedded: int = 0
    already_done: int = 0
    failures: list[tuple[int, str, str, str]] = field(default_factory=list)

    @property
    def embeddings(self) -> Path:
        return self.out / EMBEDDINGS

    def summary_text(self) -> str:
        return (f"embed: {self.rows} rows x {self.dim} -> {self.embeddings}; embedded {self.embedded}, "
                f"already done {self.already_done}, failed {len(self.failures)}")


@dataclass(frozen=True)
class EmbedTask:
    line: int
    id: str
    media: ClipMedia | None
    error: tuple[str, str] | None
    spec: EmbedderSpec


@dataclass(frozen=True)
class ItemResult:
    line: int
    id: str
    vector: np.ndarray | None
    code: str = ""
    message: str = ""


_WORKER_EMBEDDERS: dict[EmbedderSpec, Embedder] = {}


def embed_item(task: EmbedTask) -> ItemResult:
    """Embed one line (module-level and pure: runs in any executor; the embedder is built once
    per worker process)."""
    if task.error is not None:
        return ItemResult(task.line, task.id, None, *task.error)
    embedder = _WORKER_EMBEDDERS.get(task.spec)
    if embedder is None:
        embedder = _WORKER_EMBEDDERS[task.spec] = task.spec.build()
    try:
        if task.media is None:
            raise ClipEmbedError("no_media", "no media for this line")
        vec = embedder.embed(task.media).vector
    except (ClipEmbedError, MediaError) as e:
        return ItemResult(task.line, task.id, None, e.code, e.message)
    except Exception as e:  # noqa: BLE001  one clip's failure must not stop the run
        return ItemResult(task.line, task.id, None, "embed_error", " ".join(f"{type(e).__name__}: {e}".split()))
    vec = np.asarray(vec, dtype=np.float32)
    if vec.shape != (embedder.dim,) or not np.all(np.isfinite(vec)):
        return ItemResult(task.line, task.id, None, "bad_vector",
                          f"embedder gave shape {vec.shape} (expected ({embedder.dim},)) or non-finite values")
    return ItemResult(task.line, task.id, vec)


def read_index_lines(path: str | os.PathLike[str]) -> tuple[list[bytes], str]:
    """The index file's lines (bytes, numbered as ``LazyIndex`` numbers them) and the SHA-256 of its bytes."""
    data = Path(path).read_bytes()
    return split_lines(data), hashlib.sha256(data).hexdigest()


def _task(index: Path, lines: list[bytes], i: int, media: Path, spec: EmbedderSpec) -> EmbedTask:
    try:
        obj = parse_line(lines[i], index, i + 1)
    except InputFormatError as e:
        return EmbedTask(i, "", None, ("bad_line", e.reason), spec)    # the report names FILE:LINE
    cid = str(obj.get("id") or "")
    try:
        return EmbedTask(i, cid, media_for_line(obj, media), None, spec)
    except AvdataError as e:
        return EmbedTask(i, cid, None, ("bad_path", f"{index}:{i + 1}: {e}"), spec)


def _identity(opts: EmbedOptions, embedder: Embedder, rows: int, sha: str) -> dict[str, Any]:
    return {"embedder": embedder.name, "dim": int(embedder.dim), "dtype": opts.dtype,
            "fingerprint": embedder.fingerprint(), "rows": rows,
            "index": {"path": str(Path(opts.index).resolve()), "lines": rows, "sha256": sha}}


def _check_same(meta: dict[str, Any], ident: dict[str, Any], out: Path) -> None:
    changed = []
    if meta.get("fingerprint") != ident["fingerprint"]:
        changed.append(f"embedder fingerprint {meta.get('fingerprint')} -> {ident['fingerprint']}")
    old = meta.get("index") or {}
    if old.get("sha256") != ident["index"]["sha256"] or old.get("lines") != ident["index"]["lines"]:
        changed.append(f"index {old.get('path')} ({old.get('lines')} lines, sha256 {str(old.get('sha256'))[:12]}) -> "
                       f"{ident['index']['path']} ({ident['index']['lines']} lines, "
                       f"sha256 {ident['index']['sha256'][:12]})")
    if meta.get("dtype") != ident["dtype"]:
        changed.append(f"dtype {meta.get('dtype')} -> {ident['dtype']}")
    if changed:
        raise EmbedMismatchError(f"{out / META}: this folder holds embeddings of another run ("
                                 + "; ".join(changed) + "); use a new output folder")


def _chunk_path(out: Path, k: int) -> Path:
    return out / CHUNKS / f"chunk-{k:06d}.npy"


def _write_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def _failed_lines(out: Path) -> set[int]:
    rows = latest(read_manifest(out / MANIFEST, EMBED_MANIFEST_SCHEMA), ["line"]).to_pylist()
    return {int(r["line"]) for r in rows if r["status"] != STATUS_OK}


def run_embed(opts: EmbedOptions) -> EmbedResult:
    """Embed every line of ``opts.index`` (see the module docstring)."""
    index, out, media = Path(opts.index), Path(opts.out), Path(opts.media)
    lines, sha = read_index_lines(index)
    spec = EmbedderSpec(opts.embedder, tuple(str(w) for w in opts.weights), tuple(opts.params), opts.factory)
    embedder = spec.build()
    _WORKER_EMBEDDERS[spec] = embedder      # inline runs and forked workers reuse it (weights loaded once)
    ident = _identity(opts, embedder, len(lines), sha)
    out.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(out)
    chunk_rows = opts.chunk_rows
    meta_path = out / META
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_bytes())
        except ValueError as e:     # not JSON, or not UTF-8
            raise EmbedMismatchError(f"{meta_path}: not an avdata embed meta.json ({e}); use a new output folder") \
                from e
        if not isinstance(meta, dict):
            raise EmbedMismatchError(f"{meta_path}: not an avdata embed meta.json; use a new output folder")
        _check_same(meta, ident, out)
        chunk_rows = int(meta.get("chunk_rows") or chunk_rows)
    else:
        meta = {}
    rows, dim = len(lines), int(embedder.dim)
    complete = bool(meta.get("complete")) and _matrix_ok(out / EMBEDDINGS, rows, dim, opts.dtype)
    result = EmbedResult(out, rows, dim)
    n_chunks = (rows + chunk_rows - 1) // chunk_rows
    describe = getattr(embedder, "describe", None)
    stats: dict[str, Any] = {"normalisation": describe() if callable(describe) else None}
    if not meta:
        write_text_atomic(meta_path, json.dumps({**ident, "stats": stats, "complete": False,
                                                 "chunk_rows": chunk_rows}, indent=1) + "\n")

    retry = _failed_lines(out) if opts.retry_failed else set()
    if complete:
        todo = sorted(retry)
        done_chunks: set[int] = set(range(n_chunks))
    else:
        done_chunks = {k for k in range(n_chunks) if _chunk_ok(out, k, chunk_rows, rows, dim)}
        todo = [i for i in range(rows) if i // chunk_rows not in done_chunks or i in retry]
    result.already_done = rows - len(todo)

    with ManifestWriter(out / MANIFEST, EMBED_MANIFEST_SCHEMA) as writer:
        vectors = _embed_lines(opts, index, lines, media, spec, todo, writer, result, out, chunk_rows,
                               done_chunks, complete)
    if complete:
        _patch_embeddings(out, vectors, opts.dtype)
    else:
        _assemble(out, rows, dim, n_chunks, opts.dtype)
    _write_final_meta(out, ident, stats, chunk_rows)
    remove_chunks(out)     # only once meta.json says complete
    result.failures.sort()
    return result


def _embed_lines(opts: EmbedOptions, index: Path, lines: list[bytes], media: Path, spec: EmbedderSpec,
                 todo: list[int], writer: ManifestWriter, result: EmbedResult, out: Path, chunk_rows: int,
                 done_chunks: set[int], complete: bool) -> dict[int, np.ndarray]:
    """Run the items; write each chunk as soon as all its lines are back. Returns, for a complete
    output (retry of failed lines), the new rows by line."""
    rows, dim = len(lines), result.dim
    waiting: dict[int, int] = {}
    for i in todo:
        waiting[i // chunk_rows] = waiting.get(i // chunk_rows, 0) + 1
    buffers: dict[int, np.ndarray] = {}
    patched: dict[int, np.ndarray] = {}

    def tasks() -> Iterator[EmbedTask]:
        for i in todo:
            yield _task(index, lines, i, media, spec)

    executor = build_executor(ExecutorSpec(opts.executor, opts.workers, opts.ray_address))
    bar = progress(len(todo), "embed", "clip", enabled=opts.progress)
    try:
        for res in executor.map_unordered(embed_item, tasks()):
            k = res.line // chunk_rows
            vec = res.vector if res.vector is not None else np.zeros(dim, dtype=np.float32)
            if complete:
                patched[res.line] = vec
            else:
                buf = buffers.get(k)
                if buf is None:
                    buf = buffers[k] = _chunk_start(out, k, chunk_rows, rows, dim, k in done_chunks)
                buf[res.line - k * chunk_rows] = vec
                waiting[k] -= 1
            ok = res.vector is not None
            if ok:
                result.embedded += 1
            else:
                result.failures.append((res.line, res.id, res.code, res.message))
            writer.write({"line": res.line, "id": res.id, "status": STATUS_OK if ok else STATUS_FAILED,
                          "code": "" if ok else res.code, "message": res.message, "finished_at": time.time()})
            if not complete and waiting[k] == 0:
                writer.flush()         # the chunk's rows are durable before the chunk (a rerun trusts both)
                _write_npy(_chunk_path(out, k), buffers.pop(k))
            bar.update(1)
    finally:
        bar.close()
    return patched


def _matrix_ok(path: Path, rows: int, dim: int, dtype: str) -> bool:
    """Does the finished ``embeddings.npy`` read back whole? (A truncated one is made again.)"""
    return npy_is(path, (rows, dim), dtype)


def _chunk_ok(out: Path, k: int, chunk_rows: int, rows: int, dim: int) -> bool:
    """Is chunk ``k`` on disk, whole and of the right shape? (A truncated one is embedded again.)"""
    return npy_is(_chunk_path(out, k), (min(chunk_rows, rows - k * chunk_rows), dim), "float32")


def remove_chunks(out: Path) -> None:
    """Remove the chunk files this stage wrote (``chunk-NNNNNN.npy`` and avdata temporaries), then
    the ``chunks`` folder if nothing else is in it: a user's own files there are never touched."""
    remove_own_files(out / CHUNKS, CHUNK_NAME)


def _chunk_start(out: Path, k: int, chunk_rows: int, rows: int, dim: int, exists: bool) -> np.ndarray:
    if exists:
        return np.array(load_npy(_chunk_path(out, k)), dtype=np.float32)
    return np.zeros((min(chunk_rows, rows - k * chunk_rows), dim), dtype=np.float32)


def _assemble(out: Path, rows: int, dim: int, n_chunks: int, dtype: str) -> None:
    """Copy the chunks into one memory-mappable ``embeddings.npy`` atomically."""
    final = out / EMBEDDINGS
    with atomic_path(final) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=(rows, dim))
        pos = 0
        for k in range(n_chunks):
            chunk = load_npy(_chunk_path(out, k), mmap_mode="r")
            arr[pos:pos + len(chunk)] = chunk.astype(dtype, copy=False)
            pos += len(chunk)
        arr.flush()
        del arr


def _patch_embeddings(out: Path, vectors: dict[int, np.ndarray], dtype: str) -> None:
    """Replace some rows of a finished ``embeddings.npy`` (a copy, then an atomic rename)."""
    if not vectors:
        return
    final = out / EMBEDDINGS
    with atomic_path(final) as tmp:
        shutil.copyfile(final, tmp)
        arr = np.load(tmp, mmap_mode="r+", allow_pickle=False)
        for line, vec in vectors.items():
            arr[line] = vec.astype(dtype, copy=False)
        arr.flush()
        del arr


def _write_final_meta(out: Path, ident: dict[str, Any], stats: dict[str, Any], chunk_rows: int) -> None:
    table = latest(read_manifest(out / MANIFEST, EMBED_MANIFEST_SCHEMA), ["line"])
    failed = sum(1 for s in table.column("status").to_pylist() if s != STATUS_OK) if table.num_rows else 0
    stats = {**stats, "rows_ok": ident["rows"] - failed, "rows_failed": failed}
    write_text_atomic(out / META, json.dumps({**ident, "stats": stats, "complete": True,
                                              "chunk_rows": chunk_rows}, indent=1) + "\n")
