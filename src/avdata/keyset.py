"""A compact set of string keys with a small value per key: 16 bytes a key, whatever the keys' length,
for stages that stream millions of items and must remember a little about each.

Keys are hashed with a secret key: by default the interpreter's own string hash (SipHash, keyed by
a random key drawn at interpreter start) of the key and of the key with a byte appended, two 64-bit
outputs in C at ~0.5 us a key; with hash randomisation off (``PYTHONHASHSEED`` set) or an explicit
``secret``, BLAKE2b keyed by a secret drawn per ``KeySet`` (``secrets.token_bytes``), ~1 us a key.
96 bits of the two outputs and the key's ``uint8`` value are packed into one ``complex128``: the
real part holds 52 hash bits, the imaginary part 44 more hash bits then the 8 value bits (both
exact integers below 2**52). numpy sorts and searches ``complex128`` lexicographically and
natively, so the set is one array of two sorted runs (a main run, and a recent one at most a
quarter its size): ``np.searchsorted`` finds a key, an insert appends to the recent run and re-
sorts it in place (timsort merges two sorted runs in linear time; the recent run joins the main one
when it is full), and a value changes without moving its key. A 96-bit keyed hash: at 10**8 keys an
accidental collision has probability below 10**-12, and a crafted one would need the secret key,
which never leaves the process. Equal keys hash equal within one ``KeySet`` (and between sets of
one process by default); hashes are never stored or compared across processes.

Use: ``h = ks.hash(column)`` for a batch, ``pos = ks.find(h)`` (positions or -1), ``ks.get(pos)`` /
``ks.set(pos, values)`` for the values (a few status bits), ``ks.add(h, values)`` to insert keys
not yet present (``ks.insert`` when ``find`` said so already), ``ks.put(h, values)`` to insert or
overwrite. Positions are valid until the next insert. Memory: one array of ``capacity`` keys,
grown by half when full (start it at the expected count: pages not yet used cost nothing).
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NULL_TOKEN = b"\xff\x00avdata-null\x00\xff"      # what a null hashes as (not valid UTF-8: no string hashes so)
_NULL = "\x00avdata-null"
_RECENT_MIN = 1 << 16
_VALUE = 256.0                 # the value lives in the low 8 bits of the imaginary part


def _joined(cols: list[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """Several string columns as one, each part length-prefixed (a null as ``-1:``), so that
    ("ab", "c"), ("a", "bc") and (None, "c") all differ: built column-wise by Arrow."""
    parts: list[pa.Array] = []
    for c in cols:
        c = pa.chunked_array([c]).combine_chunks() if isinstance(c, pa.Array) else c.combine_chunks()
        c = c.cast(pa.string())
        length = pc.if_else(c.is_null(), pa.scalar("-1"), pc.utf8_length(c).cast(pa.string()))
        parts += [length, pa.scalar(":"), pc.fill_null(c, "")]
    return pc.binary_join_element_wise(*parts, "")


class KeySet:
    """Sorted 96-bit keyed hashes of string keys, each with a ``uint8`` value (see module doc)."""

    def __init__(self, capacity: int = 0, *, secret: bytes | None = None, hashes_like: KeySet | None = None) -> None:
        """``hashes_like``: hash keys as that set does (so one ``hash`` serves both)."""
        self._secret: bytes
        self._siphash: bool
        if hashes_like is not None:
            self._secret, self._siphash = hashes_like._secret, hashes_like._siphash
        else:
            self._secret = secret if secret is not None else secrets.token_bytes(32)
            self._siphash = secret is None and bool(sys.flags.hash_randomization)
        self._base = hashlib.blake2b(key=self._secret, digest_size=16)
        self._keys = np.empty(max(0, capacity), dtype=np.complex128)
        self._n = 0
        self._main = 0          # keys[:main] and keys[main:n] are each sorted

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes

    def values(self) -> np.ndarray:
        """Every key's value (a copy)."""
        return self.get(np.arange(self._n))

    def hash(self, *columns: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> np.ndarray:
        """The hash of each row's key (one string column, or several joined unambiguously)."""
        cols = [c if isinstance(c, (pa.Array, pa.ChunkedArray)) else pa.array(c, pa.string()) for c in columns]
        if not cols:
            raise ValueError("hash needs at least one column")
        one = cols[0] if len(cols) == 1 else _joined(cols)
        if not pa.types.is_string(one.type):
            one = one.cast(pa.string())         # numbers and the like: by their text
        values = one.to_pylist()
        raw = self._digests(values)
        out = np.empty(len(values), dtype=np.complex128)
        out.real = (raw[:, 0] >> np.uint64(12)).astype(np.float64)
        out.imag = ((raw[:, 1] >> np.uint64(20)) << np.uint64(8)).astype(np.float64)
        return out

    def _digests(self, values: list[str | None]) -> np.ndarray:
        """Two 64-bit keyed hashes per value (an ``(n, 2)`` ``uint64`` array)."""
        n = len(values)
        nulls = [i for i, v in enumerate(values) if v is None]
        if nulls:
            values = ["" if v is None else v for v in values]
        text = [str(v) for v in values] if nulls else values      # no None left
        if self._siphash:
            first = np.fromiter(map(hash, text), dtype=np.int64, count=n)
            second = np.fromiter(map(hash, [str(v) + "\x01" for v in text]), dtype=np.int64, count=n)
            raw = np.stack([first, second], axis=1).view(np.uint64)
        else:
            base = self._base
            digests = []
            for v in text:
                h = base.copy()
                h.update(str(v).encode())
                digests.append(h.digest())
            raw = np.frombuffer(b"".join(digests), dtype="<u8").reshape(-1, 2).copy()
        if nulls:       # no string hashes so: the second part differs from any string's
            if self._siphash:
                null = np.array([hash(_NULL), hash(_NULL + "\x02")], dtype=np.int64).view(np.uint64)
            else:
                h = self._base.copy()
                h.update(NULL_TOKEN)
                null = np.frombuffer(h.digest(), dtype="<u8")
            raw[nulls] = null
        return raw

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Position of each hash in the set, or -1."""
        out = np.full(len(hashes), -1, dtype=np.int64)
        if self._n == 0 or len(hashes) == 0:
            return out
        order = np.argsort(hashes.real)                  # (nearly) sorted queries: searchsorted walks forward
        q = hashes[order]
        for lo, hi in ((0, self._main), (self._main, self._n)):    # the main run, then the recent one
            if hi == lo:
                continue
            keys = self._keys[lo:hi]
            pos = np.searchsorted(keys, q)
            hit = pos < hi - lo
            at = keys[pos[hit]]
            hit[hit] = (at.real == q.real[hit]) & (np.floor(at.imag / _VALUE) * _VALUE == q.imag[hit])
            out[order[hit]] = lo + pos[hit]
        return out

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Whether each hash is in the set."""
        return self.find(hashes) >= 0

    def get(self, positions: np.ndarray) -> np.ndarray:
        """The values of the keys at ``positions`` (from ``find``)."""
        imag = self._keys[:self._n].imag[positions]
        return (imag - np.floor(imag / _VALUE) * _VALUE).astype(np.uint8)

    def set(self, positions: np.ndarray, values: np.ndarray | int) -> None:
        """Set the values of the keys at ``positions``; their order does not change."""
        imag = self._keys[:self._n].imag
        imag[positions] = np.floor(imag[positions] / _VALUE) * _VALUE + np.asarray(values, dtype=np.uint8)

    def put(self, hashes: np.ndarray, values: np.ndarray | int) -> None:
        """Insert or overwrite: each key gets its value (of repeats, the last counts), as a
        manifest's later row of a key replaces an earlier one."""
        hashes = np.asarray(hashes, dtype=np.complex128)
        vals = np.broadcast_to(np.asarray(values, dtype=np.uint8), hashes.shape)
        if len(hashes) == 0:
            return
        _, last = np.unique(hashes[::-1], return_index=True)
        last = len(hashes) - 1 - last
        pos = self.find(hashes[last])
        there = pos >= 0
        self.set(pos[there], vals[last[there]])
        self.insert(hashes[last[~there]], vals[last[~there]])

    def add(self, hashes: np.ndarray, values: np.ndarray | int = 0) -> np.ndarray:
        """Insert the hashes not yet present (with ``values``; of repeats, the first counts) and
        return a mask of the ones inserted: each distinct new key is True at its first occurrence."""
        hashes = np.asarray(hashes, dtype=np.complex128)
        vals = np.broadcast_to(np.asarray(values, dtype=np.uint8), hashes.shape)
        inserted = np.zeros(len(hashes), dtype=bool)
        if len(hashes) == 0:
            return inserted
        uniq, first = np.unique(hashes, return_index=True)
        new = self.find(uniq) < 0
        uniq, first = uniq[new], first[new]
        inserted[first] = True
        self.insert(uniq, vals[first])
        return inserted

    def insert(self, hashes: np.ndarray, values: np.ndarray | int = 0) -> None:
        """Insert hashes known to be distinct and not in the set (``find`` said -1): ``add``
        without its checks."""
        hashes = np.asarray(hashes, dtype=np.complex128)
        k, n = len(hashes), self._n
        if not k:
            return
        if n + k > len(self._keys):
            grown = np.empty(max(n + k, len(self._keys) + len(self._keys) // 2, 1024), dtype=np.complex128)
            grown[:n] = self._keys[:n]
            self._keys = grown
        self._keys[n:n + k] = hashes
        self._keys.imag[n:n + k] += np.broadcast_to(np.asarray(values, dtype=np.uint8), hashes.shape)
        self._n = n + k
        # two sorted runs merged by timsort in linear time: new keys join the recent run, which
        # joins the main run once it holds a quarter as many (each insert costs the recent run)
        if self._n - self._main > max(self._main // 4, _RECENT_MIN):
            self._keys[:self._n].sort(kind="stable")
            self._main = self._n
        else:
            self._keys[self._main:self._n].sort(kind="stable")
