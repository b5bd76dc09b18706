"""Cosine top-k of every seed over a pool: one registry of searchers (``@searcher``).

- ``exact`` (default): the exact top k by the faster engine installed, as measured by
  ``benchmarks/bench_balance.py`` on this project's machines: ``flat`` when the ``faiss`` extra is
  there, else ``blas``.
- ``flat``: FAISS's brute force (``faiss.knn``, BLAS plus a fused reservoir selection) run on the
  pool's memory map in place when its rows are consecutive unit float32 rows, else on gathered
  blocks merged with ``faiss.ResultHeap``.
- ``blas``: numpy only. Scores are computed a cache-sized tile at a time (one matrix product) and the
  top k are selected without sorting everything: a per-seed threshold is taken from the scores of a
  random sample of the pool (a rank chosen so that about 2k pool items pass it), only scores at or
  above it are kept, and the kept candidates are cut to k (raising the threshold as they pile up).
  A seed with fewer than k candidates (the sample was unlucky) is searched again with no
  threshold, so the result is always the exact top k.
- ``ivf`` (``avdata.balance.ivf``): inverted lists (FAISS k-means, searched with BLAS), ``nlist``
  lists, ``nprobe`` lists visited per seed: approximate, for very large pools. By
  default ``nprobe`` is tuned (``tune_nprobe``): the smallest power of two reaching recall 0.95
  against ``exact`` on a few seeds; the run then measures recall on another sample of seeds.

Vectors are compared by cosine: blocks whose rows are not unit length are normalised on the fly.
Results: scores ``D`` (float32, best first) and pool positions ``I`` (int64; -1 pads a row when
the pool has fewer than k items).
"""

from __future__ import annotations

import contextlib
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
FLAT_BLOCK_BYTES = 1 << 28   # flat: pool bytes gathered at once when the rows are not one unit slice
FLAT_MIN_QUERIES = 256       # exact: fewer seeds at once are searched by blas (FAISS is slow there)
TILE_SCORES = 1 << 22        # scores per tile (16 MiB): a tile is compared while it is still in cache


@dataclass(frozen=True)
class SearchOptions:
    """How to search (``avdata balance --ann/--nlist/--nprobe``)."""

    ann: str = "exact"
    nlist: int | None = None            # ivf: default ~sqrt(pool), at most pool / 39
    nprobe: int | None = None           # ivf: default tuned on a sample of seeds (``tune_nprobe``)
    target_recall: float = 0.95         # ivf: what the tuned nprobe must reach on that sample
    seed_block: int = 4096              # at most this many seeds per search call (blocks of equal size)
    pool_block: int = 32768             # pool rows per matrix product
    seed: int = 0                       # threshold samples and IVF training sample
    queries: int | None = None          # ivf: how many seeds will be searched (the default nlist uses it)

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

    def unit_slice(self) -> np.ndarray | None:
        """The candidates as one slice of the matrix when they are consecutive unit float32 rows."""
        r = self.rows
        if not self.unit or not len(r) or r[-1] - r[0] != len(r) - 1 or not self.matrix.flags.c_contiguous:
            return None
        return self.matrix[r[0]:r[-1] + 1]

    def gather_positions(self, positions: np.ndarray, out: np.ndarray) -> None:
        """Candidates at ``positions`` (ascending) into ``out`` (float32 rows), as unit rows."""
        rows = self.rows[positions]
        if self.unit:
            np.take(self.matrix, rows, axis=0, out=out)
        else:
            out[:] = as_unit(self.matrix[rows])

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
# the built-in searchers are defined below, in this module, and in avdata.balance.ivf
SEARCHERS: Registry[Callable[[PoolView, int, SearchOptions], Searcher]] = Registry(
    "kNN search", "avdata.searchers", ("avdata.balance.search", "avdata.balance.ivf"))


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


def _best_k(P: np.ndarray, C: np.ndarray, fill: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row the ``k`` best of the first ``fill`` slots of ``P`` (scores) / ``C`` (positions, ascending
    along each row), best first, ties by position; ``-inf`` / ``-1`` pad rows with fewer."""
    nq = len(P)
    used = int(fill.max()) if nq else 0
    P, C = P[:, :used], C[:, :used]                   # slots past every row's fill hold nothing
    mask = np.arange(used)[None, :] < fill[:, None]
    if used > k:
        kth = -np.partition(-P, k - 1, axis=1)[:, k - 1]
        mask &= P >= kth[:, None]
    counts = mask.sum(axis=1)
    D = np.full((nq, k), -np.inf, dtype=np.float32)
    I = np.full((nq, k), -1, dtype=np.int64)
    regular = np.nonzero(counts == k)[0]              # the usual case: exactly k, no tie at the k-th
    if len(regular) == nq:
        vals, pos = P[mask].reshape(nq, k), C[mask].reshape(nq, k)
    elif len(regular):
        sub = mask[regular]
        vals = P[regular][sub].reshape(-1, k)
        pos = C[regular][sub].reshape(-1, k)
    if len(regular):
        order = np.argsort(-vals, axis=1, kind="stable")
        D[regular] = np.take_along_axis(vals, order, 1)
        I[regular] = np.take_along_axis(pos, order, 1)
    other = np.nonzero(counts != k)[0]                # fewer than k, or a tie at the k-th score
    if len(other):
        rr, ss = np.nonzero(mask[other])
        D[other], I[other], _ = select_topk(rr, C[other][rr, ss], P[other][rr, ss], len(other), k)
    return D, I


class _Candidates:
    """Per seed, the pool positions scoring at or above its threshold, in ascending position order,
    cut to the best ``k`` (raising the threshold to the k-th score) whenever a row's buffer fills."""

    def __init__(self, thr: np.ndarray, k: int, tile: int) -> None:
        nq = len(thr)
        self.k, self.cap = k, max(COMPACT_FACTOR * k, k + tile)
        self.P = np.full((nq, self.cap), -np.inf, dtype=np.float32)
        self.C = np.full((nq, self.cap), -1, dtype=np.int64)
        self.fill = np.zeros(nq, dtype=np.int64)
        self.seen = np.zeros(nq, dtype=np.int64)
        self.thr = thr.astype(np.float32, copy=True)

    def add(self, rr: np.ndarray, cc: np.ndarray, vv: np.ndarray) -> None:
        """Candidates of one tile: ``rr`` ascending, ``cc`` ascending within each row."""
        counts = np.bincount(rr, minlength=len(self.fill))
        self.seen += counts
        if int((self.fill + counts).max()) > self.cap:
            self._compact()
        slot = self.fill[rr] + np.arange(len(rr)) - (np.cumsum(counts) - counts)[rr]
        self.P[rr, slot] = vv
        self.C[rr, slot] = cc
        self.fill += counts

    def _compact(self) -> None:
        D, I = _best_k(self.P, self.C, self.fill, self.k)
        order = np.argsort(np.where(I >= 0, I, np.iinfo(np.int64).max), axis=1)   # back to position order
        self.P[:, :self.k] = np.take_along_axis(D, order, 1)
        self.C[:, :self.k] = np.take_along_axis(I, order, 1)
        self.P[:, self.k:] = -np.inf
        self.fill = np.minimum(self.fill, self.k)
        full = self.fill >= self.k
        self.thr[full] = D[full, -1]

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        D, I = _best_k(self.P, self.C, self.fill, self.k)
        return D, I, self.seen


def _scan(q: np.ndarray, pool: PoolView, k: int, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pool scores >= ``thr`` per seed, cut to the best ``k`` (with each seed's candidate count).

    Scores are computed a tile at a time (seeds x ``TILE_SCORES / seeds`` pool rows), small enough that
    the comparison with the thresholds reads them from cache right after the matrix product."""
    nq = len(q)
    width = max(256, TILE_SCORES // max(1, nq))
    cand = _Candidates(thr, k, width)
    scores = np.empty(nq * width, dtype=np.float32)
    mask = np.empty(nq * width, dtype=bool)
    for off, blk in pool.blocks():
        for t in range(0, len(blk), width):
            tile = blk[t:t + width]
            n = len(tile)
            S = scores[:nq * n].reshape(nq, n)
            M = mask[:nq * n].reshape(nq, n)
            np.matmul(q, tile.T, out=S)
            np.greater_equal(S, cand.thr[:, None], out=M)
            flat = np.flatnonzero(M)
            if len(flat):
                cand.add(flat // n, flat % n + (off + t), S.ravel()[flat])
    return cand.result()


@searcher("blas")
def _blas(pool: PoolView, k: int, opts: SearchOptions) -> Searcher:
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


def preload_engine(ann: str) -> None:
    """Import what the searcher ``ann`` runs on (FAISS, when installed) ahead of ``make_searcher``:
    ``avdata balance`` calls it in a thread while it reads its inputs."""
    if ann != "blas":
        with contextlib.suppress(MissingExtraError):
            import_faiss()


@searcher("flat")
def _flat(pool: PoolView, k: int, opts: SearchOptions) -> Searcher:
    faiss = import_faiss()
    kk = min(k, len(pool))
    whole = pool.unit_slice()
    rows = max(1, FLAT_BLOCK_BYTES // (4 * max(1, pool.dim)))

    def search(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = as_unit(q)
        if kk == 0:
            return _pad(np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64), k)
        if whole is not None:                  # the memory map itself, in one pass: nothing is copied
            D, I = faiss.knn(q, whole, kk, metric=faiss.METRIC_INNER_PRODUCT)
        else:                                  # gathered (and normalised) a block at a time, merged
            heap = faiss.ResultHeap(len(q), kk, keep_max=True)
            for a in range(0, len(pool), rows):
                blk = pool.gather(a, a + rows)
                D, I = faiss.knn(q, blk, min(kk, len(blk)), metric=faiss.METRIC_INNER_PRODUCT)
                heap.add_result(D, np.where(I >= 0, I + a, -1))
            heap.finalize()
            D, I = heap.D, heap.I
        return _pad(*tie_order(D.astype(np.float32, copy=False), I), k)

    return search


@searcher("exact")
def _exact(pool: PoolView, k: int, opts: SearchOptions) -> Searcher:
    """The exact search of the faster engine installed: ``flat`` (FAISS) if the ``faiss`` extra is
    there, else ``blas`` (numpy's own BLAS), as measured by ``benchmarks/bench_balance.py``; blocks
    of fewer than ``FLAT_MIN_QUERIES`` seeds go to ``blas`` (64 seeds over 2M: 1.2 s, FAISS 12 s)."""
    try:
        import_faiss()
    except MissingExtraError:
        return _blas(pool, k, opts)
    flat = _flat(pool, k, opts)
    blas: list[Searcher] = []

    def search(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(q) >= FLAT_MIN_QUERIES:
            return flat(q)
        if not blas:                  # a few seeds (nprobe tuning, recall samples): FAISS is slow there
            blas.append(_blas(pool, k, opts))
        return blas[0](q)

    return search


def tie_order(D: np.ndarray, I: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by score descending, equal scores by ascending position (padding last). Only
    the rows not already in that order are sorted (FAISS's rows are, but for ties)."""
    if D.shape[1] < 2:
        return D, I
    key = np.where(I >= 0, I, np.iinfo(np.int64).max)
    a, b = D[:, :-1], D[:, 1:]
    wrong = np.flatnonzero(((b > a) | ((b == a) & (key[:, 1:] < key[:, :-1])) | np.isnan(b)).any(axis=1))
    if not len(wrong):
        return D, I
    order = np.lexsort((key[wrong], -D[wrong]), axis=-1)
    D, I = D.copy(), I.copy()
    D[wrong] = np.take_along_axis(D[wrong], order, 1)
    I[wrong] = np.take_along_axis(I[wrong], order, 1)
    return D, I


def tune_nprobe(search: Searcher, pool: PoolView, k: int, sample: np.ndarray, target: float = 0.95) -> float:
    """Set an IVF searcher's ``nprobe`` to the smallest power of two (or nlist) whose recall@k against
    exact on ``sample`` seeds reaches ``target``; return that recall."""
    kk = min(k, len(pool))
    if kk == 0 or not len(sample):
        return 1.0
    _, truth = make_searcher(pool, kk, SearchOptions())(sample)
    nlist = int(search.nlist)         # type: ignore[attr-defined]
    nprobe = 1
    while True:
        search.nprobe = nprobe        # type: ignore[attr-defined]
        _, found = search(sample)
        recall = recall_at(found, truth, kk)
        if recall >= target or nprobe >= nlist:
            return recall
        nprobe = min(nlist, nprobe * 2)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean over rows of |found[:, :k] ∩ truth[:, :k]| / (valid truth in the first k)."""
    hits = total = 0
    for f, t in zip(found[:, :k], truth[:, :k]):
        t = t[t >= 0]
        hits += len(np.intersect1d(f[f >= 0], t))
        total += len(t)
    return hits / total if total else 1.0


def even_block(n: int, block: int) -> int:
    """Rows per block when ``n`` rows are cut into as few blocks of at most ``block`` as possible,
    all of nearly one size (5,000 seeds at 4,096: two of 2,500, not 4,096 and a short 904: each
    block costs one pass over the pool)."""
    block = max(1, block)
    return max(1, math.ceil(n / max(1, math.ceil(n / block))))


def search_all(search: Searcher, queries: np.ndarray, block: int,
               on_block: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``search`` over ``queries`` in even blocks of at most ``block`` rows; ``on_block(rows_done)``."""
    Ds, Is = [], []
    block = even_block(len(queries), block)
    for a in range(0, len(queries), block):
        D, I = search(queries[a:a + block])
        Ds.append(D)
        Is.append(I)
        if on_block is not None:
            on_block(len(D))
    if not Ds:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.int64)
    return np.vstack(Ds), np.vstack(Is)
