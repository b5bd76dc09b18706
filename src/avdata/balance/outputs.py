"""The kNN filter files in the formats VIP-ANT's ``cvap/data/audioset_hub.py: build_filter_set`` reads.

``build_filter_set(data_root, "NAME,TOPK")`` turns a file into a set of ids:
- NAME ending in ``csv``: one id per line  -> ``knn_top{k}_ids.csv`` (seeds and their neighbours);
- NAME ending in ``k``: JSON ``{label: [ids]}`` -> ``knn_{N/1000}k`` (``--per-label-cap N``);
- otherwise JSON lines ``{"SEED_ID": [["ID", score], ...]}`` cut to TOPK, the seed kept
  -> ``knn_top{k}.jsonl`` (best first, so one file serves every TOPK <= k).
Plus ``src_knn_top{k}_segments.csv``: a ready index file, the selected pool (unbalanced) lines then
every balanced line, copied byte for byte, and a JSON sidecar giving the line where they meet (as
``src_train_segments.csv`` does).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.atomic import atomic_path, write_text_atomic
from avdata.index.blocks import LineOffsets, file_stamp, iter_line_blocks, runs

WRITE_ROWS = 1024
PLAIN_ID = r"^[A-Za-z0-9_.\-]*$"   # ids that json.dumps writes as they are, between quotes


def knn_name(k: int) -> str:
    return f"knn_top{k}.jsonl"


def ids_name(k: int) -> str:
    return f"knn_top{k}_ids.csv"


def segments_name(k: int) -> str:
    return f"src_knn_top{k}_segments.csv"


def cap_name(cap: int) -> str:
    """``knn_{cap//1000}k`` (``knn_2k`` for 2000); a cap that is not a multiple of 1000 keeps its
    fraction (``knn_0.5k``) so that different caps never share a name and the name still ends in k."""
    return f"knn_{cap // 1000}k" if cap % 1000 == 0 else f"knn_{cap / 1000:g}k"


def write_knn_jsonl(path: str | os.PathLike[str], seed_ids: Sequence[str], pool_ids: Sequence[str],
                    D: np.ndarray, I: np.ndarray) -> None:
    """One line per seed: ``{"SEED_ID": [["ID", score], ...]}``, best first (json.dumps spacing,
    scores as ``%.6f``); see ``KnnStream``."""
    with KnnStream(path, seed_ids, pool_ids, threaded=False) as stream:
        stream.add(0, D, I)


class KnnStream:
    """``knn_top{k}.jsonl`` written block by block as the search produces results: a background
    thread formats a block (column-wise, Arrow string kernels) while the next one is searched; the
    file appears (atomically) only when the ``with`` block ends without an error."""

    def __init__(self, path: str | os.PathLike[str], seed_ids: Sequence[str], pool_ids: Sequence[str],
                 threaded: bool = True) -> None:
        self.path, self.seed_ids, self.pool_ids = path, seed_ids, pool_ids
        self.threaded = threaded
        self._stack = contextlib.ExitStack()
        self._pending: list[Future] = []

    def __enter__(self) -> KnnStream:
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._fh = self._stack.enter_context(open(tmp, "wb"))
        if self.threaded:       # the pool's quoted ids are made in the writer thread, before any block
            self._pool = self._stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="knn-writer"))
            self._pending.append(self._pool.submit(self._quote_pool))
        else:
            self._quote_pool()
        return self

    def _quote_pool(self) -> None:
        self._pool_q = json_strings(self.pool_ids)
        self._fixed = FixedLines(fixed_width(self._pool_q))

    def add(self, first: int, D: np.ndarray, I: np.ndarray) -> None:
        """The results of seeds ``first .. first + len(D)``, in order after those added before."""
        if self.threaded:
            self._pending.append(self._pool.submit(self._write, first, D, I))
        else:
            self._write(first, D, I)

    def _write(self, first: int, D: np.ndarray, I: np.ndarray) -> None:
        for a in range(0, len(D), WRITE_ROWS):
            b = min(len(D), a + WRITE_ROWS)
            seeds = json_strings(self.seed_ids[first + a:first + b])
            fast = self._fixed.format(fixed_width(seeds), D[a:b], I[a:b])
            self._fh.write(fast if fast is not None else knn_lines(seeds, self._pool_q, D[a:b], I[a:b]))

    def __exit__(self, *exc: object) -> None:
        try:
            for f in self._pending:
                if exc[0] is None:
                    f.result()
                else:
                    f.cancel()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.__exit__(*exc)      # type: ignore[arg-type]


def knn_lines(seed_q: pa.Array, pool_q: pa.Array, D: np.ndarray, I: np.ndarray) -> memoryview:
    """The kNN lines of a block of seeds as UTF-8 bytes (``seed_q``/``pool_q``: ids already
    JSON-quoted; ``I`` -1 pads): the data buffer of the Arrow string array, no Python strings."""
    valid = I >= 0
    offsets = np.zeros(len(I) + 1, dtype=np.int32)
    np.cumsum(valid.sum(axis=1), out=offsets[1:])
    pairs = pc.binary_join_element_wise("[", pool_q.take(pa.array(I[valid])), ", ", fixed6(D[valid]), "]", "")
    body = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), pairs), ", ")
    lines = pc.binary_join_element_wise("{", seed_q, ": [", body, "]}\n", "")
    if not len(lines):
        return memoryview(b"")
    ends = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    return memoryview(lines.buffers()[2])[int(ends[0]):int(ends[-1])]


def fixed_width(quoted: pa.Array) -> np.ndarray | None:
    """Strings that all have one byte length as a ``(n, length)`` uint8 matrix, else None."""
    if not len(quoted):
        return None
    ends = np.frombuffer(quoted.buffers()[1], np.int32, len(quoted) + 1, quoted.offset * 4)
    widths = np.diff(ends)
    if widths.min() != widths.max():
        return None
    data = np.frombuffer(quoted.buffers()[2], np.uint8, int(ends[-1] - ends[0]), int(ends[0]))
    return data.reshape(len(quoted), int(widths[0]))


class FixedLines:
    """``knn_lines`` when every line has one width (VIP-ANT's ids are 11-character YouTube ids):
    quoted ids of one length each (``fixed_width``), every row full (no padding) and every score in
    [0, 10) and not -0.0. Each line is then a row of one uint8 matrix, reused from block to block:
    its constant bytes are written once, when it is allocated; a block fills in the seed id, the
    neighbour ids (one gather of fixed-size records) and the scores (two table lookups)."""

    def __init__(self, pool_q: np.ndarray | None) -> None:
        self.pool_q = pool_q
        self._rows: np.ndarray | None = None
        self._shape: tuple[int, int, int] = (0, 0, 0)
        if pool_q is not None:
            self._pool_records = np.ascontiguousarray(pool_q).view(f"V{pool_q.shape[1]}").ravel()

    def format(self, seed_q: np.ndarray | None, D: np.ndarray, I: np.ndarray) -> memoryview | None:
        """The lines of a block as bytes (the rows of the matrix: valid until the next call), or
        None when the block is not of that kind (``knn_lines`` writes it)."""
        if seed_q is None or self.pool_q is None or not I.size or (I < 0).any():
            return None
        x = np.asarray(D, dtype=np.float32).astype(np.float64)
        if np.signbit(x).any():
            return None
        u = np.rint(x * 1e6)
        if not u.max() < 1e7:
            return None
        rows, pairs = self._buffer(len(I), I.shape[1], seed_q.shape[1])
        rows[:, 1:1 + seed_q.shape[1]] = seed_q
        pairs["id"] = np.take(self._pool_records, I)
        pairs["head"], pairs["tail"] = _score_parts(u)         # D.DDD, DDD
        return rows.reshape(-1).data

    def _buffer(self, n: int, k: int, ls: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` rows of the reused matrix and its pairs as records (id, head, tail)."""
        assert self.pool_q is not None
        lp = self.pool_q.shape[1]
        pw, s0 = lp + 14, ls + 4                     # '[' ID ', ' D.DDD DDD ']' ', ';  '{' ID ': ['
        if self._rows is None or self._shape != (k, ls, lp) or len(self._rows) < n:
            rows = np.empty((max(n, WRITE_ROWS), s0 + k * pw + 1), np.uint8)
            rows[:, s0:s0 + k * pw].reshape(len(rows), k, pw)[:] = np.frombuffer(
                b"[" + b" " * lp + b", 0.000000], ", np.uint8)
            rows[:, 0] = ord("{")
            rows[:, 1 + ls:s0] = np.frombuffer(b": [", np.uint8)
            rows[:, s0 + k * pw - 2:] = np.frombuffer(b"]}\n", np.uint8)     # over the last ', '
            self._rows, self._shape = rows, (k, ls, lp)
        record = np.dtype({"names": ["id", "head", "tail"], "formats": [f"V{lp}", "V5", "V3"],
                           "offsets": [1, 3 + lp, 8 + lp], "itemsize": pw})
        rows = self._rows[:n]
        return rows, rows[:, s0:s0 + k * pw].view(record)


HEADS = np.frombuffer("".join(f"{v // 1000}.{v % 1000:03d}" for v in range(10000)).encode(), "V5")
TAILS = np.frombuffer("".join(f"{v:03d}" for v in range(1000)).encode(), "V3")


def json_strings(values: Sequence[str]) -> pa.Array:
    """Each string as ``json.dumps`` writes it (quoted; escapes only where needed)."""
    arr = pa.array(list(values), pa.string())
    plain = pc.match_substring_regex(arr, PLAIN_ID)
    if pc.all(plain).as_py() is not False:
        return pc.binary_join_element_wise('"', arr, '"', "")
    return pa.array([json.dumps(v) for v in values], pa.string())




def fixed6(x: np.ndarray) -> pa.Array:
    """``f"{v:.6f}"`` of every float32 value, as Arrow strings, byte for byte (a float32 times 1e6 is
    exact in float64, and ``rint`` rounds half to even as Python's formatting does)."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    u = np.rint(np.abs(x) * 1e6)
    neg = np.signbit(x)
    if len(x) and not u.max() < 1e7:         # 10 or more (never a cosine) or not finite: Python
        return pa.array([f"{v:.6f}" for v in x.tolist()], pa.string())
    n = len(x)
    chars = np.empty((n, 9), dtype=np.uint8)
    chars[:, 0] = ord("-")
    _put_fixed6(chars[:, 1:], u)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(8 + neg, out=offsets[1:])
    if neg.any():
        keep = np.ones((n, 9), dtype=bool)
        keep[:, 0] = neg
        data = chars[keep]
    else:
        data = chars[:, 1:].copy()
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _score_parts(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``D.DDD`` and ``DDD`` (records of 5 and 3 bytes) of ``u / 1e6`` (``u``: whole numbers below 1e7)."""
    whole = u.astype(np.int32)
    thousands = whole // 1000
    return np.take(HEADS, thousands), np.take(TAILS, whole - thousands * 1000)


def _put_fixed6(out: np.ndarray, u: np.ndarray) -> None:
    """``D.DDDDDD`` of ``u / 1e6`` into ``out[..., :8]`` (``u``: whole numbers below 1e7)."""
    head, tail = _score_parts(u)
    out[..., 0:5] = head.view(np.uint8).reshape(*head.shape, 5)
    out[..., 5:8] = tail.view(np.uint8).reshape(*tail.shape, 3)


def write_ids_csv(path: str | os.PathLike[str], ids: Sequence[str]) -> None:
    """One id per line (no header), as ``build_filter_set`` reads a NAME ending in ``csv``."""
    write_text_atomic(path, "\n".join(ids) + "\n" if len(ids) else "")


def cap_per_label(seed_ids: Sequence[str], seed_labels: Sequence[Sequence[str]],
                  cand_ids: Sequence[str], cand_labels: Sequence[Sequence[str]], cap: int
                  ) -> tuple[dict[str, list[str]], int]:
    """``{label: [ids]}`` with at most ``cap`` ids per label (seeds excepted: all kept).

    Seeds come first; then candidates in the order given (best score first), each accepted only if
    none of its labels is full yet, so that no label passes the cap through co-occurrence. A sample
    is listed under every one of its labels. Returns the mapping and how many candidates were left
    out (labels full, or no labels at all)."""
    per_label: dict[str, list[str]] = {}
    for sid, labels in zip(seed_ids, seed_labels):
        for lab in dict.fromkeys(labels):
            per_label.setdefault(lab, []).append(sid)
    left_out = 0
    for cid, labels in zip(cand_ids, cand_labels):
        labs = list(dict.fromkeys(labels))
        if not labs or any(len(per_label.get(lab, ())) >= cap for lab in labs):
            left_out += 1
            continue
        for lab in labs:
            per_label.setdefault(lab, []).append(cid)
    return per_label, left_out


def write_json(path: str | os.PathLike[str], obj: object) -> None:
    write_text_atomic(path, json.dumps(obj) + "\n")


MAX_RUNS_PER_LINE = 1 / 16      # more runs than this per chosen line: copied from blocks read instead


def write_segments(path: str | os.PathLike[str], pool_index: str | os.PathLike[str],
                   pool_lines: np.ndarray, seeds_index: str | os.PathLike[str],
                   pool_offsets: LineOffsets | None = None) -> dict:
    """Copy the chosen pool lines (0-based, in file order) then every seeds line into ``path``, byte
    for byte (a last line without LF gets one); write the sidecar ``{stem}.json`` and return it.
    ``pool_offsets`` (``line_offsets`` of the pool file, still matching its stamp): each run of
    chosen lines is copied by the kernel (``os.copy_file_range``), not read."""
    path = Path(path)
    wanted = np.zeros(0, dtype=bool)
    if len(pool_lines):
        wanted = np.zeros(int(pool_lines.max()) + 1, dtype=bool)
        wanted[pool_lines] = True
    balanced = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as dst:
        runs = _runs(wanted, pool_offsets, pool_index)
        if runs is not None:
            _copy_runs(pool_index, dst, runs)
        else:
            for block in iter_line_blocks(pool_index):
                if block.first > len(wanted):
                    break
                dst.writelines(block.pieces(wanted[block.first - 1:]))
        for block in iter_line_blocks(seeds_index):
            dst.writelines(block.pieces())
            balanced += block.count
    side = {"file": path.name, "parts": [Path(pool_index).name, Path(seeds_index).name],
            "split_line": int(len(pool_lines)), "first_balanced_line_1based": int(len(pool_lines)) + 1,
            "unbalanced_lines": int(len(pool_lines)), "balanced_lines": balanced}
    write_text_atomic(path.with_suffix(".json"), json.dumps(side, indent=2) + "\n")
    return side


def _runs(wanted: np.ndarray, offsets: LineOffsets | None, pool_index: str | os.PathLike[str]
          ) -> list[tuple[int, int, bool]] | None:
    """The byte ranges of the runs of wanted lines, ``(start, length, add LF)``; None when the
    offsets are missing, stale (the file changed), short, or the runs too many to copy one by one."""
    if offsets is None or len(wanted) > offsets.lines or file_stamp(pool_index) != offsets.stamp:
        return None
    first, end = runs(wanted)                                                   # runs of lines [first, end)
    if len(first) > max(1, MAX_RUNS_PER_LINE * np.count_nonzero(wanted)):
        return None
    starts = offsets.starts
    last_open = not offsets.final_lf and len(wanted) == offsets.lines        # the last line, without LF
    return [(int(starts[a]), int(starts[b] - starts[a]), last_open and b == offsets.lines)
            for a, b in zip(first.tolist(), end.tolist())]


def _copy_runs(src_path: str | os.PathLike[str], dst: BinaryIO, runs: list[tuple[int, int, bool]]) -> None:
    """Copy each ``(start, length, add LF)`` byte range of ``src_path`` to the end of ``dst``."""
    dst.flush()
    with open(src_path, "rb") as src:
        fd_in, fd_out = src.fileno(), dst.fileno()
        for start, length, add_lf in runs:
            while length:
                try:
                    n = os.copy_file_range(fd_in, fd_out, length, start)
                except (AttributeError, OSError):      # no such call here, or not between these files
                    n = os.write(fd_out, os.pread(fd_in, min(length, 1 << 24), start))
                if n <= 0:
                    raise OSError(f"{src_path}: ended while copying its lines (changed during the run?)")
                start, length = start + n, length - n
            if add_lf:
                os.write(fd_out, b"\n")
