"""``avdata balance``: the pool (unbalanced) samples nearest to each seed (balanced) sample.

Steps: read both index files (ids, labels) and both embeddings directories (memory-mapped, checked
against their index and against each other); choose the seeds and the pool candidates; search
(``avdata.balance.search``); write the VIP-ANT filter files (``avdata.balance.outputs``), the
balanced training list with its weights, a per-seed manifest and a report.

Which lines take part, and what is counted:
- a line whose embedding is all zeros (its media failed in ``avdata embed``), holds NaN or
  infinity, or that cannot be read (``avdata.index.lines``: not UTF-8, not JSON, no string id,
  labels not a list) is skipped and named (``FILE:LINE: reason``);
- a seed id seen before in the seeds file (the same YouTube id twice) is searched once;
- a pool line whose id is a seed's id (a seed's own video in the pool) is left out of the pool:
  the seed is in the output anyway, and it would otherwise be its own best neighbour;
- a pool id seen before in the pool file is searched once (its first usable line).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.arrays import read_npz
from avdata.atomic import atomic_path, remove_own_files, sweep_temp_files
from avdata.balance import outputs
from avdata.balance.embeddings import (
    EMBEDDINGS_FILE,
    META_FILE,
    Embeddings,
    IndexIds,
    check_same_space,
    load_embeddings,
    read_index_ids_and_scan,
)
from avdata.balance.search import (
    PoolView,
    Searcher,
    SearchOptions,
    as_unit,
    even_block,
    make_searcher,
    preload_engine,
    recall_at,
    search_all,
    tune_nprobe,
)
from avdata.errors import MediaError, OptionError
from avdata.index.blocks import LineOffsets, file_stamp
from avdata.index.scan import IndexScan, join_scans
from avdata.manifest import STATUS_OK, write_changed
from avdata.pathcheck import DIR, FILE, Output, check_outputs
from avdata.progress import progress
from avdata.weights import DEFAULT_SCHEME, sample_weights, scheme_names, weights_path_for, write_weight_values

MANIFEST_DIR = "balance_manifest.parquet"
TUNE_SEEDS = 64                         # seeds searched exactly to tune an IVF's nprobe
BLOCKS_DIR = ".balance_blocks"          # finished seed blocks of an interrupted run (removed at the end)
BLOCK_NAME = re.compile(r"block-\d{6,}\.npz")
RUN_KEY = re.compile(r"[0-9a-f]{20}")
BALANCE_MANIFEST_SCHEMA = pa.schema([
    ("line", pa.int64()), ("id", pa.string()), ("status", pa.string()), ("error", pa.string()),
    ("neighbours", pa.int32()), ("best_score", pa.float32()),
])
STATUS_SKIPPED = "skipped"
STATUS_REPEAT = "repeat"
ERR_ZERO = "zero_embedding"
ERR_NONFINITE = "non_finite_embedding"
ERR_BAD_LINE = "bad_line"
ERR_REPEAT = "repeated_id"


@dataclass(frozen=True)
class BalanceOptions:
    """Options of ``run_balance`` (mirrors ``avdata balance``)."""

    seeds: str | os.PathLike[str]
    seed_emb: str | os.PathLike[str]
    pool: str | os.PathLike[str]
    pool_emb: str | os.PathLike[str]
    out: str | os.PathLike[str]
    k: int = 512
    search: SearchOptions = field(default_factory=SearchOptions)
    per_label_cap: int | None = None
    recall_sample: int = 256            # seeds searched exactly to measure an ANN's recall
    weights_scheme: str = DEFAULT_SCHEME
    report: bool = True
    ontology: str | os.PathLike[str] | None = None
    progress: bool | None = None


@dataclass
class BalanceCounts:
    seeds: int = 0
    seeds_searched: int = 0
    seeds_zero: int = 0
    seeds_repeated: int = 0
    pool: int = 0
    pool_candidates: int = 0
    pool_zero: int = 0
    pool_seed_videos: int = 0
    pool_repeated: int = 0
    selected: int = 0
    chosen_by_several: int = 0
    capped_out: int = 0


@dataclass
class BalanceResult:
    out: Path
    k: int
    counts: BalanceCounts
    files: dict[str, Path]
    seconds: float
    recall: float | None = None
    nlist: int | None = None
    nprobe: int | None = None
    skipped: list[str] = field(default_factory=list)     # one line per skipped item
    report_text: str = ""
    selected_lines: np.ndarray | None = None             # chosen pool lines (0-based, file order)

    def lines(self) -> list[str]:
        c = self.counts
        out = [f"balance: {c.seeds_searched:,} seeds x {c.pool_candidates:,} pool samples, top {self.k} "
               f"in {self.seconds:.1f} s",
               f"  seeds: {c.seeds:,} lines, {c.seeds_zero:,} without embedding (skipped), "
               f"{c.seeds_repeated:,} repeated ids (searched once)",
               f"  pool: {c.pool:,} lines, {c.pool_zero:,} without embedding (skipped), {c.pool_seed_videos:,} "
               f"of a seed's own video (left out), {c.pool_repeated:,} repeated ids (searched once)",
               f"  selected {c.selected:,} pool samples; {c.chosen_by_several:,} chosen by several seeds"]
        if self.recall is not None and self.nlist is not None:
            out.append(f"  ivf (nlist {self.nlist}, nprobe {self.nprobe}): recall@{self.k} against exact "
                       f"{self.recall:.4f}")
        if c.capped_out:
            out.append(f"  per-label cap left out {c.capped_out:,} selected samples")
        out += [f"  {name}: {p}" for name, p in self.files.items()]
        return out


def unusable(path: str | os.PathLike[str], what: str, idx: IndexIds, emb: Embeddings
             ) -> tuple[np.ndarray, list[str], list[str]]:
    """Lines that take no part (unreadable line, all-zero or non-finite row): a mask, one
    ``FILE:LINE: reason`` message each, and each line's error code (``""`` for a usable line)."""
    codes = [""] * idx.lines
    messages = []
    bad = idx.bad_mask()
    for i in np.nonzero(bad | emb.zero | emb.nonfinite)[0].tolist():
        if bad[i]:
            codes[i] = ERR_BAD_LINE
            messages.append(f"{idx.bad[i]}; skipped")
        elif emb.nonfinite[i]:
            codes[i] = ERR_NONFINITE
            messages.append(f"{path}:{i + 1}: {what} {idx.ids[i]}: embedding holds NaN or infinity; skipped")
        else:
            codes[i] = ERR_ZERO
            messages.append(f"{path}:{i + 1}: {what} {idx.ids[i]}: all-zero embedding (its media failed in "
                            f"embed); skipped")
    return bad | emb.zero | emb.nonfinite, messages, codes


def _first_usable(ids: list[str], skip: np.ndarray, banned: set[str]) -> tuple[np.ndarray, int, int]:
    """Lines (0-based) that are not skipped, not banned and the first of their id; with the numbers
    of banned and of repeated lines among the usable ones (column-wise: Arrow codes, numpy)."""
    distinct = set(ids)
    if len(distinct) == len(ids) and banned.isdisjoint(distinct):      # the usual case: nothing to leave out
        return np.flatnonzero(~np.asarray(skip, dtype=bool)).astype(np.int64), 0, 0
    arr = pa.array(ids, pa.string())
    usable = ~np.asarray(skip, dtype=bool)
    is_banned = np.zeros(len(ids), dtype=bool)
    if banned:
        is_banned = pc.is_in(arr, value_set=pa.array(sorted(banned), pa.string())).to_numpy(zero_copy_only=False)
    cand = np.flatnonzero(usable & ~is_banned)
    codes = pc.dictionary_encode(arr.take(pa.array(cand))).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)        # the first line of each id
    keep = np.sort(cand[first]).astype(np.int64)
    return keep, int(np.count_nonzero(usable & is_banned)), len(cand) - len(keep)


def planned_outputs(opts: BalanceOptions) -> list[Output]:
    """Every file and folder ``run_balance`` writes into ``opts.out`` (derived names included)."""
    out = Path(opts.out)
    segments = out / outputs.segments_name(opts.k)
    files = [out / outputs.knn_name(opts.k), out / outputs.ids_name(opts.k), segments,
             segments.with_suffix(".json"), weights_path_for(segments)]
    if opts.per_label_cap is not None:
        files.append(out / outputs.cap_name(opts.per_label_cap))
    folders = [out / MANIFEST_DIR, out / BLOCKS_DIR] + ([out / "report"] if opts.report else [])
    return ([Output(out, DIR, "--out")] + [Output(f, FILE, "--out") for f in files]
            + [Output(f, DIR, "--out") for f in folders])


def input_files(opts: BalanceOptions) -> list[Path]:
    """The files ``run_balance`` reads: both index files, their weights files, both embeddings."""
    found = [Path(opts.seeds), Path(opts.pool), weights_path_for(opts.seeds), weights_path_for(opts.pool)]
    for d in (opts.seed_emb, opts.pool_emb):
        found += [Path(d) / EMBEDDINGS_FILE, Path(d) / META_FILE]
    return found


def check_options(opts: BalanceOptions) -> None:
    """Option values and outputs, checked before anything is read or written."""
    if opts.k < 1:
        raise OptionError(f"-k must be at least 1 (got {opts.k})")
    if opts.per_label_cap is not None and opts.per_label_cap < 1:
        raise OptionError(f"--per-label-cap must be at least 1 (got {opts.per_label_cap})")
    if opts.recall_sample < 0:
        raise OptionError(f"--recall-sample must be 0 or more (got {opts.recall_sample})")
    if opts.weights_scheme not in scheme_names():
        raise OptionError(f"unknown weights scheme {opts.weights_scheme!r}; known: {', '.join(scheme_names())}")
    check_outputs(planned_outputs(opts), input_files(opts))


def run_balance(opts: BalanceOptions) -> BalanceResult:
    """Search, write every output file into ``opts.out`` and return what was done. Nothing is
    written (and no existing output changes) unless the options, inputs and outputs all check out."""
    t0 = time.monotonic()
    check_options(opts)
    out = Path(opts.out)
    with ThreadPoolExecutor(3) as readers:     # index files read, FAISS imported, while the matrices are checked
        reads = [readers.submit(read_index_ids_and_scan, p) for p in (opts.seeds, opts.pool)]   # scans: weights
        readers.submit(preload_engine, opts.search.ann)
        seed_emb = load_embeddings(opts.seed_emb, opts.seeds)
        pool_emb = load_embeddings(opts.pool_emb, opts.pool)
        (seeds_idx, seeds_scan, _), (pool_idx, pool_scan, pool_offsets) = (f.result() for f in reads)
    check_same_space(seed_emb, pool_emb)
    out.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(out)

    c = BalanceCounts(seeds=seeds_idx.lines, pool=pool_idx.lines)
    seed_skip, skipped, seed_codes = unusable(opts.seeds, "seed", seeds_idx, seed_emb)
    pool_skip, pool_skipped, _ = unusable(opts.pool, "pool sample", pool_idx, pool_emb)
    skipped += pool_skipped
    seed_lines, _, c.seeds_repeated = _first_usable(seeds_idx.ids, seed_skip, set())
    c.seeds_searched, c.seeds_zero = len(seed_lines), int(seed_skip.sum())
    pool_rows, c.pool_seed_videos, c.pool_repeated = _first_usable(pool_idx.ids, pool_skip,
                                                                   set(seeds_idx.ids) - {""})
    c.pool_candidates, c.pool_zero = len(pool_rows), int(pool_skip.sum())

    pool = PoolView(pool_emb.matrix, pool_rows, pool_emb.unit, opts.search.pool_block)
    queries = as_unit(seed_emb.matrix[seed_lines]) if len(seed_lines) else np.zeros((0, pool.dim), np.float32)
    search = make_searcher(pool, opts.k, dataclasses.replace(opts.search, queries=opts.search.queries or len(queries)))
    tuned = np.zeros(0, np.int64)
    if opts.search.ann == "ivf" and opts.search.nprobe is None:
        tune = np.random.default_rng(opts.search.seed + 1)
        tuned = np.sort(tune.choice(len(queries), size=min(TUNE_SEEDS, len(queries)), replace=False))
        tune_nprobe(search, pool, opts.k, queries[tuned], opts.search.target_recall)
    blocks = out / BLOCKS_DIR / _run_key(opts, seed_emb, pool_emb, seed_lines, pool_rows)
    result = BalanceResult(out, opts.k, c, {}, 0.0, skipped=skipped,
                           nlist=getattr(search, "nlist", None), nprobe=getattr(search, "nprobe", None))
    result.files["knn"] = out / outputs.knn_name(opts.k)
    pool_ids, seed_ids = _take(pool_idx.ids, pool_rows), _take(seeds_idx.ids, seed_lines)
    with ThreadPoolExecutor(2, thread_name_prefix="balance-outputs") as threads, \
            outputs.KnnStream(result.files["knn"], seed_ids, pool_ids) as knn:
        chosen = np.zeros(len(pool_rows), np.int64)      # how often each pool row was chosen
        tallies: list[Future] = []                        # block by block, in the threads
        lock = threading.Lock()

        def tally(I: np.ndarray) -> None:
            counts = _tally(I, len(pool_rows))
            with lock:
                chosen[:] += counts

        with progress(len(queries), "balance", unit="seed", enabled=opts.progress) as bar:
            def done(first: int, D: np.ndarray, I: np.ndarray) -> None:
                knn.add(first, D, I)
                tallies.append(threads.submit(tally, I))
                bar.update(len(D))

            D, I = _search_resumable(search, queries, opts.search.seed_block, opts.k, blocks, done)
        if opts.search.ann == "ivf" and opts.recall_sample > 0 and len(queries):
            rng = np.random.default_rng(opts.search.seed)
            others = np.setdiff1d(np.arange(len(queries)), tuned)
            others = others if len(others) else np.arange(len(queries))
            sample = np.sort(rng.choice(others, size=min(opts.recall_sample, len(others)), replace=False))
            exact = make_searcher(pool, opts.k, SearchOptions(pool_block=opts.search.pool_block, seed=opts.search.seed))
            _, I_exact = search_all(exact, queries[sample], opts.search.seed_block)
            result.recall = recall_at(I[sample], I_exact, opts.k)

        # the other outputs are written while the kNN writer formats its last block: the manifest
        # and the segments file (mostly Arrow and file writes, which release the GIL) in the threads
        manifest = threads.submit(_write_manifest, out, seeds_idx, seed_codes, seed_lines, D, I)
        for f in tallies:
            f.result()
        _write_outputs(opts, result, seeds_idx, pool_idx, pool_ids, pool_rows, D, I, chosen,
                       (seeds_scan, pool_scan), pool_offsets, threads)
        manifest.result()
    if opts.report:
        from avdata.balance.report import BalanceReportInput, write_balance_report

        rep = write_balance_report(BalanceReportInput(
            out=out / "report", seeds=seeds_idx, pool=pool_idx, selected=result.selected_lines,
            D=D, I=I, k=opts.k, summary=result.lines()[1:4], ontology=opts.ontology))
        result.files["report"] = rep.html
        result.report_text = rep.text
    _remove_blocks(blocks)
    sweep_temp_files(out)       # temporaries of a killed earlier run whose process was still ending
    result.seconds = time.monotonic() - t0
    return result


def _take(values: list[str], rows: np.ndarray) -> list[str]:
    """``values[rows]`` (``rows`` sorted and distinct: all of them are ``values`` itself)."""
    return values if len(rows) == len(values) else [values[r] for r in rows.tolist()]


def _remove_blocks(blocks: Path) -> None:
    """Remove the finished seed blocks of this run and of earlier runs with other inputs (only
    ``{run key}/block-NNNNNN.npz`` and temporaries), then the folders if nothing else is in them."""
    root = blocks.parent
    if not root.is_dir() or root.is_symlink():
        return
    for folder in root.iterdir():
        if RUN_KEY.fullmatch(folder.name):
            remove_own_files(folder, BLOCK_NAME)
    with contextlib.suppress(OSError):
        root.rmdir()


def _run_key(opts: BalanceOptions, seed_emb: Embeddings, pool_emb: Embeddings, seed_lines: np.ndarray,
             pool_rows: np.ndarray) -> str:
    """What a seed block's result depends on: the bytes of both embeddings matrices (their file
    stamps) and of both index files, the embedder, k, the search and the rows."""
    stamps = [file_stamp(p) for p in (seed_emb.directory / EMBEDDINGS_FILE, pool_emb.directory / EMBEDDINGS_FILE,
                                      opts.seeds, opts.pool)]
    h = hashlib.sha256(json.dumps({
        "fingerprint": seed_emb.fingerprint, "seeds": seed_emb.meta.get("index"), "pool": pool_emb.meta.get("index"),
        "stamps": stamps, "k": opts.k, "search": opts.search.__dict__}, sort_keys=True, default=str).encode())
    h.update(seed_lines.tobytes())
    h.update(pool_rows.tobytes())
    return h.hexdigest()[:20]


def _search_resumable(search: Searcher, queries: np.ndarray, block: int, k: int, blocks: Path,
                      on_block: Callable[[int, np.ndarray, np.ndarray], None]) -> tuple[np.ndarray, np.ndarray]:
    """``search`` seed block by seed block; each finished block is kept in ``blocks`` (atomic .npz)
    so that a rerun after a kill searches only the blocks not finished; ``on_block(first, D, I)``."""
    block = even_block(len(queries), block)
    Ds, Is = [], []
    for b, a in enumerate(range(0, len(queries), block)):
        q = queries[a:a + block]
        f = blocks / f"block-{b:06d}.npz"
        D = I = None
        if f.is_file():
            try:
                z = read_npz(f, str(f))
                D, I = z["D"], z["I"]
                if D.shape != (len(q), k) or I.shape != (len(q), k):
                    D = I = None
            except (MediaError, KeyError):     # a damaged block is searched again
                D = I = None
        if D is None or I is None:
            D, I = search(q)
            blocks.mkdir(parents=True, exist_ok=True)
            with atomic_path(f) as tmp:
                np.savez(tmp, D=D, I=I)
        Ds.append(D)
        Is.append(I)
        on_block(a, D, I)
    if not Ds:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.vstack(Ds), np.vstack(Is)


def _tally(I: np.ndarray, pool: int) -> np.ndarray:
    """How many times each of ``pool`` rows is among a block's neighbours (-1 pads ignored)."""
    padded = I.size and I.min() < 0
    return np.bincount(I[I >= 0] if padded else I.reshape(-1), minlength=pool)


def _write_outputs(opts: BalanceOptions, result: BalanceResult, seeds_idx: IndexIds, pool_idx: IndexIds,
                   pool_ids: list[str], pool_rows: np.ndarray, D: np.ndarray, I: np.ndarray, chosen: np.ndarray,
                   scans: tuple[IndexScan, IndexScan], pool_offsets: LineOffsets,
                   threads: ThreadPoolExecutor) -> None:
    """Every output but the kNN lines (written as the search goes: ``outputs.KnnStream``) and the
    manifest, from ``chosen`` (``_tally`` of every block). The segments file is written in one of
    ``threads`` while the ids file, the per-label mapping and the weights are made; the weights'
    scan is joined from ``scans`` (seeds, pool: ``scan_index`` of both inputs), as ``scan_index``
    of the segments file would give it, and their file is written once the segments file is."""
    out, k, c = result.out, opts.k, result.counts
    files = result.files

    picked = np.nonzero(chosen)[0]
    c.selected, c.chosen_by_several = len(picked), int(np.count_nonzero(chosen > 1))
    selected_lines = np.sort(pool_rows[picked])
    result.selected_lines = selected_lines
    files["segments"] = out / outputs.segments_name(k)
    files["weights"] = weights_path_for(files["segments"])
    segments = threads.submit(outputs.write_segments, files["segments"], opts.pool, selected_lines, opts.seeds,
                              pool_offsets)

    all_seed_ids = list(dict.fromkeys(seeds_idx.ids))
    files["ids"] = out / outputs.ids_name(k)
    outputs.write_ids_csv(files["ids"], all_seed_ids + [pool_ids[p] for p in picked.tolist()])
    if opts.per_label_cap is not None:
        best = np.full(len(pool_rows), -np.inf, dtype=np.float32)
        valid = I >= 0
        np.maximum.at(best, I[valid], D[valid])
        order = picked[np.lexsort((picked, -best[picked]))]
        lines = pool_rows[order]
        mapping, c.capped_out = outputs.cap_per_label(
            seeds_idx.ids, seeds_idx.labels, [pool_idx.ids[i] for i in lines.tolist()],
            [pool_idx.labels[i] for i in lines.tolist()], opts.per_label_cap)
        files["per_label"] = out / outputs.cap_name(opts.per_label_cap)
        outputs.write_json(files["per_label"], mapping)
    weights = sample_weights(join_scans([(scans[1], selected_lines), (scans[0], None)], files["segments"]),
                             opts.weights_scheme)
    segments.result()                   # weights only beside a segments file that was written
    write_weight_values(files["weights"], weights)


def _write_manifest(out: Path, seeds_idx: IndexIds, codes: list[str], seed_lines: np.ndarray,
                    D: np.ndarray, I: np.ndarray) -> None:
    """One row per seeds line: ok (with neighbour count and best score), skipped (with its code),
    or repeat. Only rows that differ from the manifest's latest are appended (a rerun adds none)."""
    searched = {int(line): j for j, line in enumerate(seed_lines.tolist())}
    found = np.count_nonzero(I >= 0, axis=1).tolist()
    best = D[:, 0].tolist() if D.shape[1] else [0.0] * len(D)
    rows = []
    for i, vid in enumerate(seeds_idx.ids):
        j = searched.get(i)
        if j is not None:
            n = found[j]
            rows.append({"line": i + 1, "id": vid, "status": STATUS_OK, "error": "", "neighbours": n,
                         "best_score": best[j] if n else None})
        elif codes[i]:
            rows.append({"line": i + 1, "id": vid, "status": STATUS_SKIPPED, "error": codes[i],
                         "neighbours": 0, "best_score": None})
        else:
            rows.append({"line": i + 1, "id": vid, "status": STATUS_REPEAT, "error": ERR_REPEAT,
                         "neighbours": 0, "best_score": None})
    write_changed(out / MANIFEST_DIR, BALANCE_MANIFEST_SCHEMA, ["line"], rows)
