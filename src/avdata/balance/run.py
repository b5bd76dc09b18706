"""``avdata balance``: the pool (unbalanced) samples nearest to each seed (balanced) sample.

Steps: read both index files (ids, labels) and both embeddings directories (memory-mapped, checked
against their index and against each other); choose the seeds and the pool candidates; search
(``avdata.balance.search``); write the VIP-ANT filter files (``avdata.balance.outputs``), the
balanced training list with its weights, a per-seed manifest and a report.

Which lines take part, and what is counted:
- a line whose embedding is all zeros (its media failed in ``avdata embed``) is skipped;
- a seed id seen before in the seeds file (the same YouTube id twice) is searched once;
- a pool line whose id is a seed's id (a seed's own video in the pool) is left out of the pool:
  the seed is in the output anyway, and it would otherwise be its own best neighbour;
- a pool id seen before in the pool file is searched once (its first usable line).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from avdata.balance import outputs
from avdata.atomic import atomic_path
from avdata.balance.embeddings import Embeddings, IndexIds, check_same_space, load_embeddings, read_index_ids
from avdata.balance.search import (PoolView, SearchOptions, Searcher, as_unit, make_searcher, recall_at,
                                   search_all, tune_nprobe)
from avdata.errors import AvdataError
from avdata.index.weights import DEFAULT_SCHEME, WeightsOptions, write_weights
from avdata.manifest import STATUS_OK, ManifestWriter
from avdata.progress import progress

MANIFEST_DIR = "balance_manifest.parquet"
TUNE_SEEDS = 64                         # seeds searched exactly to tune an IVF's nprobe
BLOCKS_DIR = ".balance_blocks"          # finished seed blocks of an interrupted run (removed at the end)
BALANCE_MANIFEST_SCHEMA = pa.schema([
    ("line", pa.int64()), ("id", pa.string()), ("status", pa.string()), ("error", pa.string()),
    ("neighbours", pa.int32()), ("best_score", pa.float32()),
])
STATUS_SKIPPED = "skipped"
STATUS_REPEAT = "repeat"
ERR_ZERO = "zero_embedding"
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
        if self.recall is not None:
            out.append(f"  ivf (nlist {self.nlist}, nprobe {self.nprobe}): recall@{self.k} against exact "
                       f"{self.recall:.4f}")
        if c.capped_out:
            out.append(f"  per-label cap left out {c.capped_out:,} selected samples")
        out += [f"  {name}: {p}" for name, p in self.files.items()]
        return out


def _first_usable(ids: list[str], zero: np.ndarray, banned: set[str]) -> tuple[np.ndarray, int, int]:
    """Lines (0-based) that are non-zero, not banned and the first of their id; with the numbers of
    banned and of repeated lines among the non-zero ones."""
    seen: set[str] = set()
    keep: list[int] = []
    n_banned = n_repeat = 0
    for i, vid in enumerate(ids):
        if zero[i]:
            continue
        if vid in banned:
            n_banned += 1
        elif vid in seen:
            n_repeat += 1
        else:
            seen.add(vid)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64), n_banned, n_repeat


def run_balance(opts: BalanceOptions) -> BalanceResult:
    """Search, write every output file into ``opts.out`` and return what was done."""
    t0 = time.monotonic()
    if opts.k < 1:
        raise AvdataError(f"-k must be at least 1 (got {opts.k})")
    if opts.per_label_cap is not None and opts.per_label_cap < 1:
        raise AvdataError(f"--per-label-cap must be at least 1 (got {opts.per_label_cap})")
    out = Path(opts.out)
    seeds_idx, pool_idx = read_index_ids(opts.seeds), read_index_ids(opts.pool)
    seed_emb = load_embeddings(opts.seed_emb, opts.seeds)
    pool_emb = load_embeddings(opts.pool_emb, opts.pool)
    check_same_space(seed_emb, pool_emb)
    out.mkdir(parents=True, exist_ok=True)

    c = BalanceCounts(seeds=seeds_idx.lines, pool=pool_idx.lines)
    seed_lines, _, c.seeds_repeated = _first_usable(seeds_idx.ids, seed_emb.zero, set())
    c.seeds_searched, c.seeds_zero = len(seed_lines), int(seed_emb.zero.sum())
    pool_rows, c.pool_seed_videos, c.pool_repeated = _first_usable(pool_idx.ids, pool_emb.zero,
                                                                   set(seeds_idx.ids))
    c.pool_candidates, c.pool_zero = len(pool_rows), int(pool_emb.zero.sum())
    skipped = [f"{opts.seeds}:{i + 1}: seed {seeds_idx.ids[i]}: all-zero embedding (its media failed in "
               f"embed); skipped" for i in np.nonzero(seed_emb.zero)[0]]
    skipped += [f"{opts.pool}:{i + 1}: pool sample {pool_idx.ids[i]}: all-zero embedding; skipped"
                for i in np.nonzero(pool_emb.zero)[0]]

    pool = PoolView(pool_emb.matrix, pool_rows, pool_emb.unit, opts.search.pool_block)
    search = make_searcher(pool, opts.k, opts.search)
    queries = as_unit(seed_emb.matrix[seed_lines]) if len(seed_lines) else np.zeros((0, pool.dim), np.float32)
    tuned = np.zeros(0, np.int64)
    if opts.search.ann == "ivf" and opts.search.nprobe is None:
        tune = np.random.default_rng(opts.search.seed + 1)
        tuned = np.sort(tune.choice(len(queries), size=min(TUNE_SEEDS, len(queries)), replace=False))
        tune_nprobe(search, pool, opts.k, queries[tuned], opts.search.target_recall)
    blocks = out / BLOCKS_DIR / _run_key(opts, seed_emb, pool_emb, seed_lines, pool_rows)
    with progress(len(queries), "balance", unit="seed", enabled=opts.progress) as bar:
        D, I = _search_resumable(search, queries, opts.search.seed_block, opts.k, blocks, bar.update)
    result = BalanceResult(out, opts.k, c, {}, 0.0, skipped=skipped,
                           nlist=getattr(search, "nlist", None), nprobe=getattr(search, "nprobe", None))
    if opts.search.ann != "exact" and opts.recall_sample > 0 and len(queries):
        rng = np.random.default_rng(opts.search.seed)
        others = np.setdiff1d(np.arange(len(queries)), tuned)
        others = others if len(others) else np.arange(len(queries))
        sample = np.sort(rng.choice(others, size=min(opts.recall_sample, len(others)), replace=False))
        exact = make_searcher(pool, opts.k, SearchOptions(pool_block=opts.search.pool_block, seed=opts.search.seed))
        _, I_exact = search_all(exact, queries[sample], opts.search.seed_block)
        result.recall = recall_at(I[sample], I_exact, opts.k)

    _write_outputs(opts, result, seeds_idx, pool_idx, seed_lines, pool_rows, D, I)
    _write_manifest(out, seeds_idx, seed_emb.zero, seed_lines, D, I)
    if opts.report:
        from avdata.balance.report import BalanceReportInput, write_balance_report

        rep = write_balance_report(BalanceReportInput(
            out=out / "report", seeds=seeds_idx, pool=pool_idx, selected=result.selected_lines,
            D=D, I=I, k=opts.k, summary=result.lines()[1:4], ontology=opts.ontology))
        result.files["report"] = rep.html
        result.report_text = rep.text
    shutil.rmtree(blocks, ignore_errors=True)
    if blocks.parent.is_dir() and not any(blocks.parent.iterdir()):
        blocks.parent.rmdir()
    result.seconds = time.monotonic() - t0
    return result


def _run_key(opts: BalanceOptions, seed_emb: Embeddings, pool_emb: Embeddings, seed_lines: np.ndarray,
             pool_rows: np.ndarray) -> str:
    """What a seed block's result depends on: embeddings, their index files, k, the search, the rows."""
    h = hashlib.sha256(json.dumps({
        "fingerprint": seed_emb.fingerprint, "seeds": seed_emb.meta.get("index"), "pool": pool_emb.meta.get("index"),
        "k": opts.k, "search": opts.search.__dict__}, sort_keys=True, default=str).encode())
    h.update(seed_lines.tobytes())
    h.update(pool_rows.tobytes())
    return h.hexdigest()[:20]


def _search_resumable(search: Searcher, queries: np.ndarray, block: int, k: int, blocks: Path,
                      on_block: Callable[[int], None]) -> tuple[np.ndarray, np.ndarray]:
    """``search`` seed block by seed block; each finished block is kept in ``blocks`` (atomic .npz)
    so that a rerun after a kill searches only the blocks not finished."""
    block = max(1, block)
    Ds, Is = [], []
    for b, a in enumerate(range(0, len(queries), block)):
        q = queries[a:a + block]
        f = blocks / f"block-{b:06d}.npz"
        D = I = None
        if f.is_file():
            try:
                with np.load(f) as z:
                    D, I = z["D"], z["I"]
                if D.shape != (len(q), k) or I.shape != (len(q), k):
                    D = I = None
            except (OSError, ValueError, KeyError):
                D = I = None
        if D is None or I is None:
            D, I = search(q)
            blocks.mkdir(parents=True, exist_ok=True)
            with atomic_path(f) as tmp:
                np.savez(tmp, D=D, I=I)
        Ds.append(D)
        Is.append(I)
        on_block(len(q))
    if not Ds:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.vstack(Ds), np.vstack(Is)


def _write_outputs(opts: BalanceOptions, result: BalanceResult, seeds_idx: IndexIds, pool_idx: IndexIds,
                   seed_lines: np.ndarray, pool_rows: np.ndarray, D: np.ndarray, I: np.ndarray) -> None:
    out, k, c = result.out, opts.k, result.counts
    pool_ids = [pool_idx.ids[r] for r in pool_rows.tolist()]
    seed_ids = [seeds_idx.ids[r] for r in seed_lines.tolist()]
    files = result.files
    files["knn"] = out / outputs.knn_name(k)
    outputs.write_knn_jsonl(files["knn"], seed_ids, pool_ids, D, I)

    valid = I >= 0
    chosen = np.bincount(I[valid], minlength=len(pool_rows))
    best = np.full(len(pool_rows), -np.inf, dtype=np.float32)
    np.maximum.at(best, I[valid], D[valid])
    picked = np.nonzero(chosen)[0]
    c.selected, c.chosen_by_several = len(picked), int(np.count_nonzero(chosen > 1))
    all_seed_ids = list(dict.fromkeys(seeds_idx.ids))
    files["ids"] = out / outputs.ids_name(k)
    outputs.write_ids_csv(files["ids"], all_seed_ids + [pool_ids[p] for p in picked.tolist()])
    if opts.per_label_cap is not None:
        order = picked[np.lexsort((picked, -best[picked]))]
        lines = pool_rows[order]
        mapping, c.capped_out = outputs.cap_per_label(
            seeds_idx.ids, seeds_idx.labels, [pool_idx.ids[i] for i in lines.tolist()],
            [pool_idx.labels[i] for i in lines.tolist()], opts.per_label_cap)
        files["per_label"] = out / outputs.cap_name(opts.per_label_cap)
        outputs.write_json(files["per_label"], mapping)
    selected_lines = np.sort(pool_rows[picked])
    result.selected_lines = selected_lines
    files["segments"] = out / outputs.segments_name(k)
    outputs.write_segments(files["segments"], opts.pool, selected_lines, opts.seeds)
    files["weights"] = write_weights(WeightsOptions(files["segments"], opts.weights_scheme)).path


def _write_manifest(out: Path, seeds_idx: IndexIds, zero: np.ndarray, seed_lines: np.ndarray,
                    D: np.ndarray, I: np.ndarray) -> None:
    """One row per seeds line: ok (with neighbour count and best score), skipped, or repeat."""
    searched = {int(line): j for j, line in enumerate(seed_lines.tolist())}
    rows = []
    for i, vid in enumerate(seeds_idx.ids):
        j = searched.get(i)
        if j is not None:
            n = int(np.count_nonzero(I[j] >= 0))
            rows.append({"line": i + 1, "id": vid, "status": STATUS_OK, "error": "", "neighbours": n,
                         "best_score": float(D[j, 0]) if n else None})
        elif zero[i]:
            rows.append({"line": i + 1, "id": vid, "status": STATUS_SKIPPED, "error": ERR_ZERO,
                         "neighbours": 0, "best_score": None})
        else:
            rows.append({"line": i + 1, "id": vid, "status": STATUS_REPEAT, "error": ERR_REPEAT,
                         "neighbours": 0, "best_score": None})
    with ManifestWriter(out / MANIFEST_DIR, BALANCE_MANIFEST_SCHEMA) as writer:
        writer.write_many(rows)
        writer.flush()
