"""Duplicate groups across different ids: equal content digests, then a cosine search.

Edges join two clips when their file bytes are equal (the digest) or their duplicate-embedder
vectors have cosine >= the threshold among each clip's ``k`` nearest (balance's searchers:
``exact`` blocks of BLAS products, or FAISS ``ivf`` at scale). Two lines of one id are joined only
across sides (a training file and an evaluation file): one id in a training file and the combined
training file is the same clip listed twice, not a duplicate; one id in training and evaluation is
a leak. Groups are the connected components (union-find).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from avdata.balance.search import PoolView, SearchOptions, make_searcher

DEFAULT_THRESHOLD = 0.9
DEFAULT_K = 8
EXACT_UP_TO = 200_000        # ``auto``: exact search up to this many clips, FAISS IVF above


@dataclass(frozen=True)
class DupeOptions:
    threshold: float = DEFAULT_THRESHOLD
    k: int = DEFAULT_K
    ann: str = "auto"                  # auto | exact | flat | ivf
    nprobe: int | None = 8              # ivf: lists visited (duplicates sit very close: few lists suffice)
    nlist: int | None = None            # ivf: default 2 sqrt(n) (short lists: each probe is cheap)
    block: int = 4096


def find_root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The component (smallest member) of each of ``n`` nodes joined by edges ``a[i] - b[i]``."""
    parent = np.arange(n, dtype=np.int64)
    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find_root(parent, x), find_root(parent, y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    for i in np.unique(np.concatenate([a, b])).tolist():     # a node on no edge is its own root already
        parent[i] = find_root(parent, i)
    return parent


def digest_edges(digests: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (first, other) of valid rows whose digests are equal."""
    rows = np.flatnonzero(valid)
    if not len(rows):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = np.ascontiguousarray(digests[rows].astype(np.uint64))
    key = (keys[:, 0] << np.uint64(48)) | (keys[:, 1] << np.uint64(32)) | (keys[:, 2] << np.uint64(16)) | keys[:, 3]
    order = np.argsort(key, kind="stable")
    sk = key[order]
    starts = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
    first = np.repeat(order[starts], np.diff(np.r_[starts, len(sk)]))
    keep = first != order
    return rows[first[keep]], rows[order[keep]]


def part_cosines(vectors: np.ndarray, a: np.ndarray, b: np.ndarray, split: int) -> np.ndarray:
    """The smaller of the two parts' cosines (``[:split]``, ``[split:]``) of each pair; a part that
    is zero in both clips (no audio, no frames) is left out."""
    out = np.full(len(a), np.inf)
    for part in (slice(0, split), slice(split, None)):
        x, y = vectors[a, part].astype(np.float64), vectors[b, part].astype(np.float64)
        nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
        both_empty = (nx == 0) & (ny == 0)
        cos = np.einsum("ij,ij->i", x, y) / np.maximum(nx * ny, 1e-12)
        out = np.minimum(out, np.where(both_empty, np.inf, cos))
    return np.where(np.isinf(out), 1.0, out)


def vector_edges(vectors: np.ndarray, valid: np.ndarray, opts: DupeOptions,
                 on_block: Callable[[int], None] | None = None, split: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j, cosine) of valid rows, j among i's ``k`` nearest, cosine >= the threshold (with
    ``split``: the smaller of the parts' cosines, which is at most the whole vector's)."""
    rows = np.flatnonzero(valid & (np.abs(vectors).sum(axis=1) > 0))
    empty = np.zeros(0, np.int64)
    if len(rows) < 2:
        return empty, empty, np.zeros(0, np.float32)
    ann = opts.ann if opts.ann != "auto" else ("exact" if len(rows) <= EXACT_UP_TO else "ivf")
    pool = PoolView(vectors, rows, unit=False)
    k = min(opts.k + 1, len(rows))
    nlist = opts.nlist or max(1, min(2 * round(math.sqrt(len(rows))), len(rows) // 39))
    search = make_searcher(pool, k, SearchOptions(ann=ann, nprobe=opts.nprobe, nlist=nlist))
    A, B, S = [], [], []
    for a in range(0, len(rows), opts.block):
        q = pool.gather(a, min(len(rows), a + opts.block))
        D, I = search(q)
        me = np.arange(a, a + len(q))[:, None]
        hit = (D >= opts.threshold) & (I >= 0) & (I != me)
        r, c = np.nonzero(hit)
        ra, rb, score = rows[a + r], rows[I[r, c]], D[r, c]
        if split is not None and len(ra):
            score = part_cosines(vectors, ra, rb, split)
            ok = score >= opts.threshold
            ra, rb, score = ra[ok], rb[ok], score[ok]
        A.append(ra)
        B.append(rb)
        S.append(score)
        if on_block is not None:
            on_block(len(q))
    return np.concatenate(A), np.concatenate(B), np.concatenate(S).astype(np.float32)


def allowed(a: np.ndarray, b: np.ndarray, same_id: np.ndarray, train_side: np.ndarray) -> np.ndarray:
    """Edges kept: different ids, or one id on both sides (a training and an evaluation file)."""
    return ~same_id | (train_side[a] != train_side[b])
