"""``avdata.keyset.KeySet``: a sorted set of keyed hashes with a value per key, checked against
Python sets and dicts over many inserts (growth, in-place merges, repeats within a batch)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from avdata import keyset
from avdata.keyset import KeySet


@pytest.mark.parametrize(("secret", "recent"), [(None, 1 << 16), (b"k" * 32, 1 << 16), (None, 8)])
def test_matches_a_python_set_over_many_batches(secret: bytes | None, recent: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``recent``: how small the recent run may stay (8: keys move to the main run often)."""
    monkeypatch.setattr(keyset, "_RECENT_MIN", recent)
    rng = np.random.default_rng(7)
    ks = KeySet(capacity=10, secret=secret)        # grows several times
    model: dict[str, int] = {}
    for batch in range(40):
        words = [f"data/videos/mp4/{int(x):05d}.mp4" for x in rng.integers(0, 3000, int(rng.integers(0, 400)))]
        vals = rng.integers(0, 256, len(words)).astype(np.uint8)
        h = ks.hash(pa.array(words, pa.string()))
        inserted = ks.add(h, vals)
        want_first = {}
        for i, w in enumerate(words):
            want_first.setdefault(w, i)
        expect = np.zeros(len(words), dtype=bool)
        for w, i in want_first.items():
            if w not in model:
                expect[i] = True
                model[w] = int(vals[i])             # the first occurrence's value counts
        assert (inserted == expect).all()
        assert len(ks) == len(model)
    probe = [f"data/videos/mp4/{i:05d}.mp4" for i in range(3500)]
    pos = ks.find(ks.hash(probe))
    assert [p >= 0 for p in pos] == [w in model for w in probe]
    got = {w: int(v) for w, p, v in zip(probe, pos, ks.get(pos)) if p >= 0}
    assert got == model


def test_values_can_be_updated_in_place() -> None:
    ks = KeySet()
    ks.add(ks.hash(["a", "b", "c"]), np.array([1, 2, 3], dtype=np.uint8))
    pos = ks.find(ks.hash(["c", "x", "a"]))
    assert pos[1] == -1
    ks.set(pos[pos >= 0], ks.get(pos[pos >= 0]) | 8)
    assert ks.get(ks.find(ks.hash(["a", "b", "c"]))).tolist() == [9, 2, 11]
    ks.set(ks.find(ks.hash(["b"])), 255)
    ks.add(ks.hash(["0", "zz"]), 7)                       # inserts keep values and order
    assert ks.get(ks.find(ks.hash(["a", "b", "c", "0", "zz"]))).tolist() == [9, 255, 11, 7, 7]
    assert sorted(ks.values().tolist()) == [7, 7, 9, 11, 255]


def test_hashes_nulls_and_several_columns() -> None:
    ks = KeySet(secret=b"s" * 32)
    again = KeySet(secret=b"s" * 32)
    h = ks.hash(pa.array(["x", None, "", "null"], pa.string()))
    assert len(set(h.tolist())) == 4                     # a null is not "" nor "null"
    assert (h == again.hash(["x", None, "", "null"])).all()        # same secret, same hashes
    assert not (h == KeySet(secret=b"t" * 32).hash(["x", None, "", "null"])).any()   # another secret
    fast = KeySet()                                      # the interpreter's keyed string hash
    assert len(set(fast.hash(["x", None, "", "null"]).tolist())) == 4
    assert (fast.hash(["x", None]) == KeySet().hash(["x", None])).all()
    two = ks.hash(pa.array(["ab", "a", None, "", "1:a", "1"]), pa.array(["c", "bc", "c", "c", "b", "a1:b"]))
    assert len(set(two.tolist())) == 6                   # ("ab","c") is not ("a","bc"), a null not ""
    assert (two == ks.hash(["ab", "a", None, "", "1:a", "1"], ["c", "bc", "c", "c", "b", "a1:b"])).all()
    assert (two.real < 2**52).all() and (two.imag % 256 == 0).all()
    assert ks.add(np.array([], dtype=np.complex128)).shape == (0,)
    assert ks.find(h).tolist() == [-1] * 4


def test_put_overwrites_and_the_last_repeat_wins() -> None:
    ks = KeySet()
    ks.put(ks.hash(["a", "b", "a"]), np.array([1, 2, 3], dtype=np.uint8))
    assert ks.get(ks.find(ks.hash(["a", "b"]))).tolist() == [3, 2] and len(ks) == 2
    ks.put(ks.hash(["b", "c", "c", "b"]), np.array([4, 5, 6, 7], dtype=np.uint8))
    assert ks.get(ks.find(ks.hash(["a", "b", "c"]))).tolist() == [3, 7, 6] and len(ks) == 3
    ks.put(ks.hash(pa.array([1, 2, 1])), np.array([5, 6, 7], dtype=np.uint8))      # numbers, by their text
    assert ks.get(ks.find(ks.hash(["1", "2"]))).tolist() == [7, 6]
