"""Unique, file-name safe clip ids for a whole clip table."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_stem(text: str) -> str:
    """``text`` reduced to a file-name component: unsafe characters become ``_``; no leading dot."""
    out = _UNSAFE.sub("_", text) or "_"
    return "_" + out[1:] if out[0] == "." else out


def make_unique(table: pa.Table) -> pa.Table:
    """Give repeated ``clip_id`` values the suffix ``_{start_ms}`` (then ``_{k}`` if still taken);
    the first occurrence keeps its id. Cost is linear, with Python work only for the repeats."""
    if table.num_rows == 0:
        return table
    ids = table.column("clip_id").combine_chunks()
    if len(pc.unique(ids)) == len(ids):
        return table
    codes = pc.dictionary_encode(ids).indices.to_numpy()
    _, first = np.unique(codes, return_index=True)
    repeat = np.ones(len(ids), dtype=bool)
    repeat[first] = False
    rows = np.flatnonzero(repeat)
    base = ids.take(pa.array(rows)).to_pylist()
    starts = table.column("start").take(pa.array(rows)).to_pylist()
    taken = set(pc.filter(ids, pc.is_in(ids, value_set=pa.array(
        [f"{b}_{int(round(s * 1000))}" for b, s in zip(base, starts)]))).to_pylist())
    return _replace_ids(table, ids, rows, _suffixed(base, starts, taken))


def _suffixed(base: list[str], starts: list[float], taken: set[str]) -> list[str]:
    """``{id}_{start_ms}`` for each repeat (then ``_{k}`` while taken); adds the new ids to ``taken``."""
    new = []
    for b, s in zip(base, starts):
        cand = f"{b}_{int(round(s * 1000))}"
        k = 1
        while cand in taken:
            k += 1
            cand = f"{b}_{int(round(s * 1000))}_{k}"
        taken.add(cand)
        new.append(cand)
    return new


def _replace_ids(table: pa.Table, ids: pa.Array, rows: np.ndarray, new: list[str]) -> pa.Table:
    out = ids.to_numpy(zero_copy_only=False).astype(object)
    out[rows] = new
    col = table.schema.get_field_index("clip_id")
    return table.set_column(col, table.schema.field(col), pa.array(out, pa.string()))


ID_LEN = 11
_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"):
    _CODE[_c] = _i
_M = [np.uint64(x) for x in (0x003F003F003F003F, 0x3F003F003F003F00, 0x00000FFF00000FFF, 0x0FFF00000FFF0000,
                              0xFFFFFF)]


def youtube_keys(ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Exact (key, bucket) of each YouTube id: its 66 bits (6 per character) as a 64-bit key and
    one of 4 buckets. Raise ValueError if an id is not 11 characters of ``[A-Za-z0-9_-]``."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    n = len(ids)
    if ids.null_count:
        raise ValueError("clip ids must not be null")
    bufs = ids.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[ids.offset: ids.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    if n and (offsets[-1] - offsets[0] != ID_LEN * n or (np.diff(offsets) != ID_LEN).any()):
        raise ValueError("streamed clip ids must be 11-character YouTube ids")
    codes = id_codes(data[offsets[0]: offsets[0] + ID_LEN * n].reshape(n, ID_LEN))
    if not valid_codes(codes).all():
        raise ValueError("streamed clip ids must be 11-character YouTube ids")
    return keys_from_codes(codes)


def id_codes(id_bytes: np.ndarray) -> np.ndarray:
    """The 6-bit code of each byte of ``id_bytes`` (n, >= 11: an id per row, in its first 11
    columns), 255 for a byte outside ``[A-Za-z0-9_-]``; a C-contiguous array of the same shape."""
    return np.take(_CODE, id_bytes)


def _first_word(codes: np.ndarray) -> np.ndarray:
    """Characters 0..7 of each row of ``id_codes``, one per byte, as a little-endian uint64."""
    return np.ndarray((len(codes),), dtype="<u8", buffer=codes, strides=(codes.strides[0],))


def valid_codes(codes: np.ndarray) -> np.ndarray:
    """A bool per row of ``id_codes``: are all 11 characters YouTube id characters?"""
    high = np.uint64(0xC0C0C0C0C0C0C0C0)
    return ((_first_word(codes) & high) == 0) & (((codes[:, 8] | codes[:, 9] | codes[:, 10]) & 0xC0) == 0)


def keys_from_codes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(key, bucket) of each row of valid ``id_codes`` (see ``youtube_keys``)."""
    x = _first_word(codes)                            # characters 0..7, one per byte
    x = (x & _M[0]) | ((x & _M[1]) >> np.uint64(2))   # 12 bits per 16
    x = (x & _M[2]) | ((x & _M[3]) >> np.uint64(4))   # 24 bits per 32
    x = (x & _M[4]) | ((x >> np.uint64(32)) << np.uint64(24))   # 48 bits
    x |= codes[:, 8].astype(np.uint64) << np.uint64(48)          # characters 8..10
    x |= codes[:, 9].astype(np.uint64) << np.uint64(54)
    last = codes[:, ID_LEN - 1]
    x |= (last >> 2).astype(np.uint64) << np.uint64(60)
    return x, last & 3


class SortedRuns:
    """A set of uint64 keys held as a few sorted runs, each at least twice as long as the next
    (a log-structured merge): adding ``k`` keys costs about ``k log n`` however many are held
    already, where one growing sorted array would be copied whole on every add."""

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """A bool per key: is it in the set?"""
        found = np.zeros(len(keys), dtype=bool)
        for run in self.runs:
            pos = np.searchsorted(run, keys)
            np.minimum(pos, len(run) - 1, out=pos)
            found |= run[pos] == keys
        return found

    def add_new(self, keys: np.ndarray) -> None:
        """Add sorted distinct ``keys``, none of which is in the set yet."""
        if not len(keys):
            return
        while self.runs and len(self.runs[-1]) <= 2 * len(keys):
            keys = np.sort(np.concatenate((self.runs.pop(), keys)), kind="stable")  # two runs: linear
        self.runs.append(keys)


class YoutubeIdSet:
    """An exact set of YouTube ids held as sorted 64-bit keys (no per-id Python objects)."""

    def __init__(self) -> None:
        self._buckets = [SortedRuns() for _ in range(4)]

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets)

    def add(self, ids: pa.Array, keys: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Add ``ids``; return a bool per id: was it in the set already (or earlier in ``ids``)?
        ``keys``: ``youtube_keys(ids)`` if already computed (e.g. on a worker thread)."""
        hashed, bucket = keys if keys is not None else youtube_keys(ids)
        seen = np.zeros(len(hashed), dtype=np.bool_)
        for b, held in enumerate(self._buckets):
            rows = np.flatnonzero(bucket == b)
            if not len(rows):
                continue
            mine = hashed[rows]
            new = np.sort(mine)
            present = held.find(new)
            twice = new[1:] == new[:-1]
            if present.any() or twice.any():  # repeats: find which rows (rare)
                fresh = ~present
                fresh[1:] &= ~twice
                seen[rows] = _repeats(mine, held)
                new = new[fresh]
            held.add_new(new)
        return seen

    def contains(self, ids: pa.Array) -> np.ndarray:
        """A bool per id: is it in the set?"""
        keys, bucket = youtube_keys(ids)
        found = np.zeros(len(keys), dtype=bool)
        for b, held in enumerate(self._buckets):
            rows = np.flatnonzero(bucket == b)
            if len(rows):
                found[rows] = held.find(keys[rows])
        return found

    def update(self, other: YoutubeIdSet) -> None:
        """Add every id of ``other``."""
        for held, more in zip(self._buckets, other._buckets):
            for run in more.runs:
                held.add_new(run[~held.find(run)])


def _repeats(keys: np.ndarray, held: SortedRuns) -> np.ndarray:
    """Per key: is it in ``held`` or earlier in ``keys``?"""
    _, first = np.unique(keys, return_index=True)
    repeat = np.ones(len(keys), dtype=bool)
    repeat[first] = False
    return repeat | held.find(keys)


def suffix_repeats(table: pa.Table, repeats: np.ndarray, taken: set[str]) -> pa.Table:
    """``table`` with the ids of the ``repeats`` rows suffixed as ``make_unique`` does, for one block
    of a table read in order: ``repeats`` marks rows whose id occurred in an earlier row (this block
    or an earlier one); ``taken`` holds the suffixed ids given so far and is updated. Exact when the
    ids cannot look like suffixed ids (YouTube ids: 11 characters, never ``_{digits}`` longer)."""
    rows = np.flatnonzero(repeats)
    if not len(rows):
        return table
    ids = table.column("clip_id").combine_chunks()
    base = ids.take(pa.array(rows)).to_pylist()
    starts = table.column("start").take(pa.array(rows)).to_pylist()
    return _replace_ids(table, ids, rows, _suffixed(base, starts, taken))
