"""The searchers against a numpy brute force on random data; IVF recall on clustered data."""

from __future__ import annotations

import numpy as np
import pytest

from avdata.balance import search as S
from avdata.balance.search import PoolView, SearchOptions, make_searcher, recall_at, search_all
from emb_dirs import clustered, unit_rows


def brute_force(q: np.ndarray, p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 cosine scores, top k by a full stable sort."""
    q64 = q.astype(np.float64) / np.linalg.norm(q.astype(np.float64), axis=1, keepdims=True)
    p64 = p.astype(np.float64) / np.linalg.norm(p.astype(np.float64), axis=1, keepdims=True)
    s = q64 @ p64.T
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k + 1]
    return np.take_along_axis(s, idx, 1), idx


def assert_same(D: np.ndarray, I: np.ndarray, D0: np.ndarray, I0: np.ndarray, k: int) -> None:
    """Scores within 1e-5; the same ids wherever the true scores are not within 1e-6 of a neighbour's
    (float32 rounding may swap near-ties), and those are nearly all of them."""
    assert D.shape == I.shape == (len(D0), k)
    np.testing.assert_allclose(D, D0[:, :k], atol=1e-5)
    gaps = np.abs(np.diff(D0, axis=1))
    clear = np.ones((len(D0), k), dtype=bool)
    clear[:, 1:] &= gaps[:, :k - 1] > 1e-6
    clear &= gaps[:, :k] > 1e-6
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(I[clear], I0[:, :k][clear])


@pytest.mark.slow
@pytest.mark.parametrize("ann", ["exact", "flat", "blas"])
def test_exact_search_equals_numpy_brute_force(ann: str) -> None:
    rng = np.random.default_rng(7)
    pool = rng.standard_normal((20000, 32)).astype(np.float32) * 3.0     # not unit: cosine anyway
    q = unit_rows(rng, 160, 32)
    D0, I0 = brute_force(q, pool, 100)
    view = PoolView(pool, np.arange(len(pool)), unit=False, block=3000)   # blocks that do not divide it
    D, I = search_all(make_searcher(view, 100, SearchOptions(ann=ann)), q, 128)
    assert_same(D, I, D0, I0, 100)


@pytest.mark.parametrize("ann", ["blas", "flat"])
def test_exact_search_float16_pool_and_a_subset_of_rows(monkeypatch: pytest.MonkeyPatch, ann: str) -> None:
    monkeypatch.setattr(S, "FLAT_BLOCK_BYTES", 24 * 4 * 2500)      # flat: gathered in blocks of 2500 rows
    monkeypatch.setattr(S, "THRESHOLD_SCORES", 8192 * 10)          # thresholds taken 10 seeds at a time
    rng = np.random.default_rng(8)
    pool = unit_rows(rng, 12000, 24).astype(np.float16)
    rows = np.sort(rng.choice(len(pool), 9000, replace=False))        # the candidates: not contiguous
    q = unit_rows(rng, 64, 24)
    D0, I0 = brute_force(q, pool[rows].astype(np.float32), 50)
    D, I = search_all(make_searcher(PoolView(pool, rows, unit=True, block=2500), 50, SearchOptions(ann=ann)), q, 40)
    assert_same(D, I, D0, I0, 50)


def test_unlucky_threshold_falls_back_to_the_exact_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    pool, q = unit_rows(rng, 30000, 16), unit_rows(rng, 50, 16)
    monkeypatch.setattr(S, "SMALL_SAMPLE", 64)       # a tiny sample: the threshold rank is 0..1
    monkeypatch.setattr(S, "SAMPLE_RANK", 1)
    D0, I0 = brute_force(q, pool, 200)
    D, I = search_all(make_searcher(PoolView(pool, np.arange(len(pool)), True, 4096), 200, SearchOptions(ann="blas")), q, 50)
    assert_same(D, I, D0, I0, 200)


@pytest.mark.parametrize("ann", ["blas", "flat"])
def test_ties_are_cut_to_k_by_position_and_a_small_pool_is_padded(ann: str) -> None:
    pool = np.tile(np.eye(1, 8, dtype=np.float32), (5000, 1))        # every score the same
    view = PoolView(pool, np.arange(5000), True, block=700)
    D, I = make_searcher(view, 64, SearchOptions(ann=ann))(np.eye(1, 8, dtype=np.float32))
    np.testing.assert_array_equal(I[0], np.arange(64))
    np.testing.assert_allclose(D, 1.0)
    small = PoolView(pool[:5], np.arange(5), True)
    D, I = make_searcher(small, 8, SearchOptions(ann=ann))(np.eye(1, 8, dtype=np.float32))
    assert I[0].tolist() == [0, 1, 2, 3, 4, -1, -1, -1] and np.isneginf(D[0, 5:]).all()


@pytest.mark.slow
def test_ivf_recall_at_100_at_the_default_nprobe() -> None:
    """The default nprobe is tuned on 64 seeds; recall is then measured on 200 other seeds."""
    rng = np.random.default_rng(10)
    pool, _ = clustered(rng, 40000, 64, centres=200)
    q, _ = clustered(np.random.default_rng(11), 264, 64, centres=200)
    tune_q, q = q[:64], q[64:]
    view = PoolView(pool, np.arange(len(pool)), True)
    _, I_exact = search_all(make_searcher(view, 100, SearchOptions()), q, 100)
    ivf = make_searcher(view, 100, SearchOptions(ann="ivf"))
    tuned = S.tune_nprobe(ivf, view, 100, tune_q)
    _, I_ivf = search_all(ivf, q, 100)
    recall = recall_at(I_ivf, I_exact, 100)
    print(f"IVF recall@100 {recall:.4f} on held-out seeds (nlist {ivf.nlist}, tuned nprobe {ivf.nprobe}, "
          f"recall {tuned:.4f} on the tuning seeds)")
    assert tuned >= 0.95 and ivf.nprobe < ivf.nlist                  # approximate, not a full scan
    assert recall >= 0.95
    assert recall_at(I_ivf, I_exact[::-1], 100) < 0.5                # the measure can fail


def test_exact_is_flat_for_big_blocks_blas_for_small_ones_and_blas_without_faiss(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(12)
    pool, q = unit_rows(rng, 6000, 16), unit_rows(rng, 40, 16)
    view = PoolView(pool, np.arange(len(pool)), True)
    D0, I0 = brute_force(q, pool, 30)
    used: list[str] = []
    for name in ("flat", "blas"):
        real = S.SEARCHERS.get(name)

        def spy(p, k, o, real=real, name=name):  # noqa: ANN001, ANN202
            inner = real(p, k, o)
            return lambda x: (used.append(name), inner(x))[1]
        monkeypatch.setattr(S, f"_{name}", spy)
    monkeypatch.setattr(S, "FLAT_MIN_QUERIES", 32)
    assert_same(*make_searcher(view, 30, SearchOptions())(q), D0, I0, 30)              # 40 seeds: flat
    assert_same(*make_searcher(view, 30, SearchOptions())(q[:8]), D0[:8], I0[:8], 30)  # 8 seeds: blas
    assert used == ["flat", "blas"]

    def no_faiss() -> None:
        raise S.MissingExtraError("faiss-cpu", "faiss")
    monkeypatch.setattr(S, "import_faiss", no_faiss)
    used.clear()
    assert_same(*make_searcher(view, 30, SearchOptions())(q), D0, I0, 30)              # no faiss: blas
    assert used == ["blas"]


def test_tie_order_sorts_only_what_is_out_of_order_and_equals_a_full_sort() -> None:
    rng = np.random.default_rng(5)
    D = np.round(rng.random((200, 16)), 1).astype(np.float32)            # many equal scores
    I = rng.permutation(200 * 16).reshape(200, 16).astype(np.int64)
    D[:50] = -np.sort(-D[:50], axis=1)                                    # sorted by score, ties in any order
    D[50:60, 12:], I[50:60, 12:] = -np.inf, -1                            # padding
    order = np.lexsort((I[60:70], -D[60:70]), axis=-1)                    # already in tie order: kept as is
    D[60:70], I[60:70] = np.take_along_axis(D[60:70], order, 1), np.take_along_axis(I[60:70], order, 1)
    got_D, got_I = S.tie_order(D, I)
    key = np.where(I >= 0, I, np.iinfo(np.int64).max)
    want = np.lexsort((key, -D), axis=-1)
    assert np.array_equal(got_D, np.take_along_axis(D, want, 1))
    assert np.array_equal(got_I, np.take_along_axis(I, want, 1))
    assert not np.array_equal(got_I[:50], I[:50])                         # the ties were reordered
    assert np.array_equal(got_I[60:70], I[60:70])
