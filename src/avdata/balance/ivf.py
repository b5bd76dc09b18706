"""``ivf``: approximate cosine top-k through inverted lists, searched with BLAS.

The pool is cut into ``nlist`` lists by k-means (FAISS's ``Kmeans``, spherical, trained on a sample
of ``IVF_TRAIN_PER_LIST`` vectors per list); every pool vector goes to its nearest centre's list and
is copied into one matrix, list after list (the pool read in order, each row scattered to its
list's slot). A seed visits the ``nprobe`` lists whose
centres are nearest to it; each list is scored against all the seeds of a block that visit it in
one matrix product, each seed keeps its best k of that list, and the best k over its lists are its
answer. A candidate costs one multiply-add per dimension and no heap operation, which is what makes
this faster than FAISS's ``IndexIVFFlat`` at k = 512 (there each candidate goes through a heap).
Ties at the k-th score may keep any of the tied vectors (the search is approximate anyway).
"""

from __future__ import annotations

import math

import numpy as np

from avdata.arrays import prefaulted_empty
from avdata.balance.search import PoolView, SearchOptions, _pad, as_unit, import_faiss, searcher, tie_order
from avdata.errors import AvdataError

CANDIDATE_SLOTS = 1 << 24     # seeds x nprobe x k candidate slots held at once (a seed block is cut to fit)
IVF_TRAIN_PER_LIST = 50       # training vectors per list (FAISS wants at least 39)
PROBES_PLANNED = 8            # the nprobe the default nlist is planned for (tuning picks the real one)


def default_nlist(n: int, queries: int | None = None) -> int:
    """The lists for a pool of ``n``: about sqrt(n), or fewer when the number of ``queries`` is known
    and small beside the pool. Building costs n x nlist (every vector to its nearest centre) and
    searching queries x n x nprobe / nlist; they balance at nlist = sqrt(queries x nprobe) (about 420
    for VIP-ANT's 22,160 seeds, where sqrt(2M) = 1,414 would spend most of the time building).
    Each list is trained with at least 39 pool vectors (FAISS's minimum)."""
    lists = math.sqrt(max(n, 1))
    if queries:
        lists = min(lists, math.sqrt(queries * PROBES_PLANNED))
    return max(1, min(int(round(lists)), n // 39))


def default_nprobe(nlist: int) -> int:
    return max(1, nlist // 8)


class IvfSearcher:
    """``search(q) -> (D, I)`` over inverted lists; ``nprobe`` may be changed between calls."""

    def __init__(self, pool: PoolView, k: int, opts: SearchOptions) -> None:
        n = len(pool)
        self.nlist = opts.nlist or default_nlist(n, opts.queries)
        if self.nlist < 1 or self.nlist > max(1, n):
            raise AvdataError(f"--nlist {self.nlist} must be between 1 and the pool size ({n})")
        self.nprobe = min(self.nlist, opts.nprobe or default_nprobe(self.nlist))
        self.k, self.kk = k, min(k, n)
        self.centres = np.zeros((self.nlist, pool.dim), np.float32)
        self.bounds = np.zeros(self.nlist + 1, np.int64)
        self.order = np.zeros(0, np.int64)                  # list-major slot -> pool position
        self.vectors = np.zeros((0, pool.dim), np.float32)  # the pool, list by list
        if n:
            self._build(pool, opts)

    def _build(self, pool: PoolView, opts: SearchOptions) -> None:
        faiss = import_faiss()
        n = len(pool)
        rng = np.random.default_rng(opts.seed)
        train = pool.take(rng.choice(n, size=min(n, IVF_TRAIN_PER_LIST * self.nlist), replace=False))
        km = faiss.Kmeans(pool.dim, self.nlist, niter=20, seed=int(opts.seed), spherical=True, verbose=False,
                          min_points_per_centroid=1)
        km.train(train)
        self.centres = as_unit(km.centroids)
        assign = np.empty(n, np.int64)
        for off, blk in pool.blocks():
            assign[off:off + len(blk)] = np.argmax(blk @ self.centres.T, axis=1)
        self.order = np.argsort(assign, kind="stable")     # ascending positions within each list
        self.bounds = np.concatenate([[0], np.cumsum(np.bincount(assign, minlength=self.nlist))])
        slot = np.empty(n, np.int64)                       # pool position -> its row in self.vectors
        slot[self.order] = np.arange(n)
        self.vectors = prefaulted_empty((n, pool.dim), np.float32)
        for off, blk in pool.blocks():     # the pool read in order, rows scattered (5x faster than gathering)
            self.vectors[slot[off:off + len(blk)]] = blk

    def __call__(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.kk == 0:
            return _pad(np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64), self.k)
        q = as_unit(q)
        nprobe = max(1, min(self.nlist, int(self.nprobe)))
        step = max(1, CANDIDATE_SLOTS // (nprobe * self.kk))
        parts = [self._search(q[a:a + step], nprobe) for a in range(0, len(q), step)]
        D = np.vstack([p[0] for p in parts]) if parts else np.zeros((0, self.kk), np.float32)
        I = np.vstack([p[1] for p in parts]) if parts else np.zeros((0, self.kk), np.int64)
        return _pad(D, I, self.k)

    def _search(self, q: np.ndarray, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        nq, kk = len(q), self.kk
        near = q @ self.centres.T
        probe = np.argpartition(-near, nprobe - 1, axis=1)[:, :nprobe] if nprobe < self.nlist else \
            np.broadcast_to(np.arange(self.nlist), (nq, self.nlist))
        P = np.full((nq, nprobe * kk), -np.inf, np.float32)
        C = np.full((nq, nprobe * kk), -1, np.int64)
        seeds = np.repeat(np.arange(nq), nprobe)
        rank = np.tile(np.arange(nprobe), nq)              # which of its probes: its slots in P
        lists = probe.ravel()
        by_list = np.argsort(lists, kind="stable")
        seeds, rank, lists = seeds[by_list], rank[by_list], lists[by_list]
        cuts = np.flatnonzero(np.diff(lists)) + 1
        for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(lists)]])):
            lo, hi = self.bounds[lists[a]], self.bounds[lists[a] + 1]
            if hi == lo:
                continue
            who = seeds[a:b]
            S = q[who] @ self.vectors[lo:hi].T
            if hi - lo > kk:
                idx = np.argpartition(-S, kk - 1, axis=1)[:, :kk]
                S = np.take_along_axis(S, idx, 1)
            else:
                idx = np.broadcast_to(np.arange(hi - lo), S.shape)
            cols = rank[a:b, None] * kk + np.arange(S.shape[1])
            P[who[:, None], cols] = S
            C[who[:, None], cols] = self.order[lo + idx]
        if P.shape[1] > kk:
            idx = np.argpartition(-P, kk - 1, axis=1)[:, :kk]
            P, C = np.take_along_axis(P, idx, 1), np.take_along_axis(C, idx, 1)
        D, I = tie_order(P, C)
        return D, np.where(np.isfinite(D), I, -1)


@searcher("ivf")
def _ivf(pool: PoolView, k: int, opts: SearchOptions) -> IvfSearcher:
    return IvfSearcher(pool, k, opts)
