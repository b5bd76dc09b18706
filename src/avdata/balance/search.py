"""Cosine top-k of every seed over a pool: one registry of searchers (``@searcher``).

- ``exact`` (default): every score is computed (one BLAS matrix product per seed block and pool
  block) and the top k are selected without sorting everything: a per-seed threshold is taken from
  the scores of a random sample of the pool (a rank chosen so that about 2k pool items pass it),
  only scores at or above it are kept, and the kept candidates are cut to k (raising the threshold
  as they pile up). A seed with fewer than k candidates (the sample was unlucky) is searched again
  with no threshold, so the result is always the exact top k. The pool is read block by block
  from its memory map, so memory stays near the pool's own size.
- ``flat``: the same exact answer with FAISS's brute-force ``knn`` merged across pool blocks
  (``faiss.ResultHeap``). On this project's machines FAISS's own matrix product is several times
  slower than numpy's BLAS, so ``exact`` is the default; ``flat`` is the cross-check.
- ``ivf``: FAISS ``IndexIVFFlat`` (inner product), ``nlist`` (~sqrt(pool)) lists trained on a
  sample of the pool, ``nprobe`` lists visited per seed: approximate, for very large pools. By
  default ``nprobe`` is tuned (``tune_nprobe``): the smallest power of two reaching recall 0.95
  against ``exact`` on a few seeds; the run then measures recall on another sample of seeds.

Vectors are compared by cosine: blocks whose rows are not unit length are normalised on the fly.
Results: scores ``D`` (float32, best first) and pool positions ``I`` (int64; -1 pads a row when
the pool has fewer than k items).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from avdata.errors import AvdataError, MissingExtraError, OptionError
from avdata.registry import Registry

SMALL_SAMPLE = 8192          # pools up to this size get an exact threshold from all their scores
SAMPLE_RANK = 16             # sample size so that the threshold sits near rank ~2k of the pool
COMPACT_FACTOR = 4           # cut candidates to k once they exceed this many times k per seed
FALLBACK_SCORES = 1 << 22    # scores per block when re-searching unlucky seeds without threshold
THRESHOLD_SCORES = 1 << 24   # sample scores held at once while taking the thresholds (64 MiB)


@dataclass(frozen=True)
class SearchOptions:
    """How to search (``avdata balance --ann/--nlist/--nprobe``)."""

    ann: str = "exact"
    nlist: int | None = None            # ivf: default ~sqrt(pool), at most pool / 39
    nprobe: int | None = None           # ivf: default tuned on a sample of seeds (``tune_nprobe``)
    target_recall: float = 0.95         # ivf: what the tuned nprobe must reach on that sample
    seed_block: int = 2048              # seeds per matrix product
    pool_block: int = 32768             # pool rows per matrix product
    seed: int = 0                       # threshold samples and IVF training sample

    def __post_init__(self) -> None:
        checks = [(self.nlist is None or self.nlist >= 1, f"--nlist must be at least 1 (got {self.nlist})"),
                  (self.nprobe is None or self.nprobe >= 1, f"--nprobe must be at least 1 (got {self.nprobe})"),
                  (0.0 < self.target_recall <= 1.0, f"--target-recall must be in (0, 1] (got {self.target_recall})"),
                  (self.seed >= 0, f"--seed must be 0 or more (got {self.seed})"),
                  (self.seed_block >= 1 and self.pool_block >= 1, "block sizes must be at least 1")]
        for ok, message in checks:
            if not ok:
                raise OptionError(message)


class PoolView:
    """The pool's candidate rows of a (memory-mapped) matrix, read in float32 unit-length blocks."""

    def __init__(self, matrix: np.ndarray, rows: np.ndarray, unit: bool, block: int = 32768) -> None:
        self.matrix = matrix
        self.rows = np.asarray(rows, dtype=np.int64)
        self.unit = unit and matrix.dtype == np.float32
        self.block = max(1, int(block))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def gather(self, a: int, b: int | None = None) -> np.ndarray:
        """Candidates ``a:b`` as float32 unit rows (a view of the memory map when possible)."""
        rows = self.rows[a:b]
        if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
            block = self.matrix[rows[0]:rows[-1] + 1]
        else:
            block = self.matrix[rows]
        return as_unit(block, assume_unit=self.unit)

    def take(self, positions: np.ndarray) -> np.ndarray:
        return as_unit(self.matrix[self.rows[np.sort(positions)]], assume_unit=False)

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        for a in range(0, len(self.rows), self.block):
            yield a, self.gather(a, a + self.block)


def as_unit(block: np.ndarray, *, assume_unit: bool = False) -> np.ndarray:
    """``block`` as C-contiguous float32 rows of norm 1 (zero rows stay zero)."""
    if assume_unit and block.dtype == np.float32 and block.flags.c_contiguous:
        return block
    out = np.array(block, dtype=np.float32, order="C")
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    np.divide(out, norms[:, None], out=out, where=norms[:, None] > 0)
    return out


Searcher = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
# the built-in searchers are defined below, in this module
SEARCHERS: Registry[Callable[[PoolView, int, SearchOptions], Searcher]] = Registry(
    "kNN search", "avdata.searchers", ("avdata.balance.search",))


def searcher(name: str) -> Callable:
    """Register ``factory(pool, k, opts) -> search(queries) -> (D, I)`` under ``name``."""
    return SEARCHERS.register(name)


def searcher_names() -> list[str]:
    return SEARCHERS.names()


def make_searcher(pool: PoolView, k: int, opts: SearchOptions) -> Searcher:
    factory = SEARCHERS.get(opts.ann)
    if k < 1:
        raise AvdataError(f"k must be at least 1 (got {k})")
    return factory(pool, k, opts)


def select_topk(rr: np.ndarray, cc: np.ndarray, vv: np.ndarray, nrows: int, k: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row the ``k`` best (score desc, then position asc) of candidates ``(row, col, score)``
    given in ascending ``col`` order within each row.

    Returns ``D`` (-inf padded), ``I`` (-1 padded) and each row's candidate count."""
    key = rr.astype(np.float64) * 4.0 - vv          # row first, then score descending (scores in [-1, 1])
    order = np.argsort(key, kind="stable")          # stable: ties keep ascending positions
    rr, cc, vv = rr[order], cc[order], vv[order]
    counts = np.bincount(rr, minlength=nrows)
    take = np.minimum(counts, k)
    starts = np.cumsum(counts) - counts
    row = np.repeat(np.arange(nrows), take)
    j = np.arange(len(row)) - np.repeat(np.cumsum(take) - take, take)
    src = starts[row] + j
    D = np.full((nrows, k), -np.inf, dtype=np.float32)
    I = np.full((nrows, k), -1, dtype=np.int64)
    D[row, j] = vv[src]
    I[row, j] = cc[src]
    return D, I, counts


def _scan(q: np.ndarray, pool: PoolView, k: int, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pool scores >= ``thr`` per seed, cut to the best ``k`` (candidate counts returned too)."""
    nq = len(q)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    held = 0
    width = min(pool.block, max(1, len(pool)))
    scores = np.empty((nq, width), dtype=np.float32)
    mask = np.empty((nq, width), dtype=bool)
    for off, blk in pool.blocks():
        S, M = scores[:, :len(blk)], mask[:, :len(blk)]
        np.matmul(q, blk.T, out=S)
        np.greater_equal(S, thr[:, None], out=M)
        if len(blk) == width:
            flat = np.flatnonzero(M)                # one pass over a contiguous mask
            rr, cc = np.divmod(flat, width)
        else:
            rr, cc = np.nonzero(M)
        parts.append((rr, cc + off, S[rr, cc]))
        held += len(rr)
        if held > COMPACT_FACTOR * nq * k:
            rr_all, cc_all, vv_all = (np.concatenate(x) for x in zip(*parts))
            D, I, counts = select_topk(rr_all, cc_all, vv_all, nq, k)
            thr = np.where(counts >= k, D[:, -1], thr)
            keep = I >= 0
            parts = [(np.nonzero(keep)[0], I[keep], D[keep])]
            held = len(parts[0][0])
    if not parts:
        return select_topk(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), nq, k)
    rr_all, cc_all, vv_all = (np.concatenate(x) for x in zip(*parts))
    return select_topk(rr_all, cc_all, vv_all, nq, k)


@searcher("exact")
def _exact(pool: PoolView, k: int, opts: SearchOptions) -> Searcher:
    n = len(pool)
    kk = min(k, n)
    rng = np.random.default_rng(opts.seed)
    if n <= max(SMALL_SAMPLE, 2 * kk):
        sample_pos = np.arange(n)
        rank = kk
    else:
        m = min(n, max(SMALL_SAMPLE, math.ceil(SAMPLE_RANK * n / kk)))
        sample_pos = np.sort(rng.choice(n, size=m, replace=False))
        rank = max(1, min(m, (2 * kk * m) // n))
    sample = pool.take(sample_pos) if n else np.zeros((0, pool.dim), np.float32)

    def search(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = as_unit(q)
        if kk == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        thr = np.empty(len(q), dtype=np.float32)
        step = max(1, THRESHOLD_SCORES // max(1, len(sample_pos)))      # bounded memory at 2M pools
        for a in range(0, len(q), step):
            Ss = q[a:a + step] @ sample.T
            Ss.partition(len(sample_pos) - rank, axis=1)
            thr[a:a + step] = Ss[:, len(sample_pos) - rank]
        D, I, counts = _scan(q, pool, kk, thr)
        short = np.nonzero(counts < kk)[0]
        step = max(1, FALLBACK_SCORES // max(1, min(pool.block, n)))
        for a in range(0, len(short), step):
            rows = short[a:a + step]
            D[rows], I[rows], _ = _scan(q[rows], pool, kk, np.full(len(rows), -np.inf, np.float32))
        return _pad(D, I, k)

    return search


def _pad(D: np.ndarray, I: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if D.shape[1] == k:
        return D, I
    nq = len(D)
    return (np.hstack([D, np.full((nq, k - D.shape[1]), -np.inf, np.float32)]),
            np.hstack([I, np.full((nq, k - I.shape[1]), -1, np.int64)]))


def import_faiss():  # noqa: ANN201 - the faiss module
    """``faiss``, or MissingExtraError naming the ``faiss`` extra."""
    try:
        import faiss
    except ImportError as e:
        raise MissingExtraError("faiss-cpu", "faiss") from e
    return faiss


@searcher("flat")
def _flat(pool: PoolView, k: int, opts: SearchOptions) -> Searcher:
    faiss = import_faiss()
    kk = min(k, len(pool))

    def search(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = as_unit(q)
        heap = faiss.ResultHeap(len(q), kk, keep_max=True)
        for off, blk in pool.blocks():
            D, I = faiss.knn(q, blk, min(kk, len(blk)), metric=faiss.METRIC_INNER_PRODUCT)
            heap.add_result(D, np.where(I >= 0, I + off, -1))
        heap.finalize()
        return _pad(heap.D, heap.I, k)

    return search


IVF_TRAIN_PER_LIST = 50     # training vectors per list (FAISS wants at least 39)


def default_nlist(n: int) -> int:
    """About sqrt(n) lists (k-means training stays cheap: 50 sqrt(n) vectors), each trained with at
    least 39 pool vectors (FAISS's minimum)."""
    return max(1, min(int(round(math.sqrt(max(n, 1)))), n // 39))


def default_nprobe(nlist: int) -> int:
    return max(1, nlist // 8)


@searcher("ivf")
def _ivf(pool: PoolView, k: int, opts: SearchOptions) -> Searcher:
    faiss = import_faiss()
    n = len(pool)
    nlist = opts.nlist or default_nlist(n)
    if nlist < 1 or nlist > max(1, n):
        raise AvdataError(f"--nlist {nlist} must be between 1 and the pool size ({n})")
    rng = np.random.default_rng(opts.seed)
    train = pool.take(rng.choice(n, size=min(n, IVF_TRAIN_PER_LIST * nlist), replace=False)) if n else None
    quantizer = faiss.IndexFlatIP(pool.dim)
    index = faiss.IndexIVFFlat(quantizer, pool.dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(opts.seed)
    if train is not None:
        index.train(train)
        for _, blk in pool.blocks():
            index.add(blk)
    index.nprobe = min(nlist, opts.nprobe or default_nprobe(nlist))
    kk = min(k, n)

    def search(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if kk == 0:
            return _pad(np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64), k)
        D, I = index.search(as_unit(q), kk)
        D = np.where(I >= 0, D, -np.inf).astype(np.float32)
        return _pad(D, I, k)

    search.nlist = nlist              # type: ignore[attr-defined]
    search.nprobe = index.nprobe      # type: ignore[attr-defined]
    search.index = index              # type: ignore[attr-defined]
    return search


def tune_nprobe(search: Searcher, pool: PoolView, k: int, sample: np.ndarray, target: float = 0.95) -> float:
    """Set an IVF searcher's ``nprobe`` to the smallest power of two (or nlist) whose recall@k against
    exact on ``sample`` seeds reaches ``target``; return that recall."""
    index = search.index              # type: ignore[attr-defined]
    kk = min(k, len(pool))
    if kk == 0 or not len(sample):
        return 1.0
    _, truth = make_searcher(pool, kk, SearchOptions())(sample)
    q = as_unit(sample)
    nprobe = 1
    while True:
        index.nprobe = nprobe
        _, found = index.search(q, kk)
        recall = recall_at(found, truth, kk)
        if recall >= target or nprobe >= index.nlist:
            break
        nprobe = min(index.nlist, nprobe * 2)
    search.nprobe = nprobe            # type: ignore[attr-defined]
    return recall


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean over rows of |found[:, :k] ∩ truth[:, :k]| / (valid truth in the first k)."""
    hits = total = 0
    for f, t in zip(found[:, :k], truth[:, :k]):
        t = t[t >= 0]
        hits += len(np.intersect1d(f[f >= 0], t))
        total += len(t)
    return hits / total if total else 1.0


def search_all(search: Searcher, queries: np.ndarray, block: int,
               on_block: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``search`` over ``queries`` in blocks of ``block`` rows; ``on_block(rows_done)``."""
    Ds, Is = [], []
    for a in range(0, len(queries), max(1, block)):
        D, I = search(queries[a:a + block])
        Ds.append(D)
        Is.append(I)
        if on_block is not None:
            on_block(len(D))
    if not Ds:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.int64)
    return np.vstack(Ds), np.vstack(Is)
