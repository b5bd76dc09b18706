"""Vectorised parsing of canonical AudioSet segment lines (numpy over the raw bytes of a block).

A canonical line is ``YTID, S.SSS, E.SSS, "label,label"`` (optionally ending in CR): an 11-character
id of ``[A-Za-z0-9_-]``, times with 1-6 integer digits (no leading zero) and exactly 3 decimals,
end > start, and a quoted, non-empty list of printable ASCII labels without spaces, quotes or empty
items. Such lines are parsed here with no per-line Python; every other line (headers, blank lines,
messy variants, malformed rows) is returned by index for the slow path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from avdata.sources.ids import id_codes, keys_from_codes, valid_codes

ID_LEN = 11
COMMA, SPACE, QUOTE, DOT, ZERO, CR = 44, 32, 34, 46, 48, 13
MAX_INT_DIGITS = 6
_MIN_LINE = ID_LEN + len(', 0.000, 0.001, "x"')

_ID_OK = np.zeros(256, dtype=bool)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-":
    _ID_OK[_c] = True
_WINDOW = np.arange(-(MAX_INT_DIGITS + 4), 0)      # byte offsets before the end of a time field
_WEIGHTS = np.array([10 ** (i + 3) for i in range(MAX_INT_DIGITS - 1, -1, -1)] + [0, 100, 10, 1], dtype=np.int64)


@dataclass
class FastSegments:
    """Parsed canonical lines of one block (``line_index``: 0-based index of the line in the block)."""

    line_index: np.ndarray
    ytid: pa.StringArray
    start_ms: np.ndarray
    end_ms: np.ndarray
    labels: pa.ListArray
    other_lines: np.ndarray          # indices of lines left for the slow path
    line_starts: np.ndarray | None   # byte offset of each line in the block (when computed)
    line_ends: np.ndarray | None     # byte offset of each line's LF
    keys: tuple[np.ndarray, np.ndarray] | None = None   # ``ids.youtube_keys(ytid)``, when computed


def _parse_fixed3(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``buf[a:b]`` as ``\\d{1,6}\\.\\d{3}`` (no leading zero) into milliseconds; return (ok, ms)."""
    length = b - a
    ok = (length >= 5) & (length <= MAX_INT_DIGITS + 4)
    pos = b[:, None] + _WINDOW
    np.clip(pos, 0, len(buf) - 1, out=pos)
    digits = buf[pos].astype(np.int64) - ZERO
    in_num = _WINDOW >= -length[:, None]
    digits[~in_num] = 0
    is_digit = (digits >= 0) & (digits <= 9)
    is_digit[:, -4] = digits[:, -4] == DOT - ZERO
    ok &= is_digit.all(axis=1)
    lead = buf[np.clip(a, 0, len(buf) - 1)]
    ok &= (lead != ZERO) | (length == 5)
    return ok, digits @ _WEIGHTS


def _mark_lines(positions: np.ndarray, line_ends: np.ndarray, n: int) -> np.ndarray:
    """Boolean per line: does any of ``positions`` fall in that line?"""
    hit = np.zeros(n, dtype=bool)
    if positions.size:
        hit[np.searchsorted(line_ends, positions)] = True
    return hit


def _span_mask(size: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean mask over ``size`` bytes, true inside the sorted disjoint half-open spans ``[a, b)``."""
    edges = np.empty(2 * len(a) + 2, dtype=np.int64)
    edges[0] = 0
    edges[1:-1:2] = a
    edges[2:-1:2] = b
    edges[-1] = size
    runs = np.diff(edges)
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    return np.repeat(values, runs)


def _label_content(buf: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The label spans ``[ca, cb)`` of the given lines concatenated, and each line's bounds in it."""
    content = buf[_span_mask(len(buf), ca, cb)]
    bounds = np.zeros(len(ca) + 1, dtype=np.int64)
    np.cumsum(cb - ca, out=bounds[1:])
    return content, bounds


def _bad_label_lines(content: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Indices (into the lines of ``bounds``) whose label span is not canonical: empty, a byte that
    is not printable ASCII or is a space or quote, or an empty item (leading, trailing, double comma)."""
    n = len(bounds) - 1
    bad = np.zeros(n, dtype=bool)
    if n == 0:
        return np.flatnonzero(bad)
    bad |= np.diff(bounds) <= 0
    last = max(len(content) - 1, 0)
    if len(content):
        bad |= content[np.minimum(bounds[:-1], last)] == COMMA
        bad |= content[np.clip(bounds[1:] - 1, 0, last)] == COMMA
    wrong = (content <= SPACE) | (content >= 127) | (content == QUOTE)
    if len(content) > 1:
        wrong[:-1] |= (content[:-1] == COMMA) & (content[1:] == COMMA)
    rare = np.flatnonzero(wrong)
    if rare.size:
        bad[np.searchsorted(bounds, rare, side="right") - 1] = True
    return np.flatnonzero(bad)


def parse_block(data: bytes) -> FastSegments:
    """Parse the canonical lines of a block of whole LF-terminated lines."""
    buf = np.frombuffer(data, dtype=np.uint8)
    line_ends = np.flatnonzero(buf == 10)
    n = len(line_ends)
    line_starts = np.empty(n, dtype=np.int64)
    if n:
        line_starts[0] = 0
        line_starts[1:] = line_ends[:-1] + 1
    last = max(len(buf) - 1, 0)
    ends = line_ends.astype(np.int64)
    has_cr = (ends > line_starts) & (buf[np.clip(ends - 1, 0, last)] == CR)
    ends = ends - has_cr
    ok = (ends - line_starts) >= _MIN_LINE

    # the three ", " separators of each line
    is_sep = buf[:-1] == COMMA
    is_sep &= buf[1:] == SPACE
    sep = np.flatnonzero(is_sep)
    sep_line = np.searchsorted(line_ends, sep)
    counts = np.bincount(sep_line, minlength=n)[:n]
    ok &= counts == 3
    first = np.cumsum(counts) - counts
    if not len(sep):
        sep = np.zeros(1, np.int64)
    k = len(sep) - 1
    p1 = sep[np.minimum(first, k)]
    p2 = sep[np.minimum(first + 1, k)]
    p3 = sep[np.minimum(first + 2, k)]
    ok &= p1 == line_starts + ID_LEN

    id_bytes = buf[np.clip(line_starts[:, None] + np.arange(ID_LEN), 0, last)]
    ok &= _ID_OK[id_bytes].all(axis=1)
    ok_s, start_ms = _parse_fixed3(buf, p1 + 2, p2)
    ok_e, end_ms = _parse_fixed3(buf, p2 + 2, p3)
    ok &= ok_s & ok_e & (end_ms > start_ms)

    # labels: a quoted, non-empty span of printable ASCII without spaces, quotes or empty items
    ca, cb = p3 + 3, ends - 1
    ok &= (buf[np.clip(p3 + 2, 0, last)] == QUOTE) & (buf[np.clip(cb, 0, last)] == QUOTE) & (cb > ca)
    idx = np.flatnonzero(ok)
    content, bounds = _label_content(buf, ca[idx], cb[idx])
    bad = _bad_label_lines(content, bounds)
    if bad.size:
        ok[idx[bad]] = False
        idx = np.flatnonzero(ok)
        content, bounds = _label_content(buf, ca[idx], cb[idx])

    labels = _labels_from_content(content, bounds)
    ids = id_bytes[idx]
    ytid = pa.StringArray.from_buffers(len(idx), pa.py_buffer(np.arange(0, ID_LEN * len(idx) + 1, ID_LEN,
                                                                        dtype=np.int32)), pa.py_buffer(ids))
    return FastSegments(idx, ytid, start_ms[idx], end_ms[idx], labels, np.flatnonzero(~ok),
                        line_starts, line_ends)


def _arrow_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a non-null string array as numpy views."""
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    if len(data) == 0:
        data = np.zeros(1, np.uint8)  # keeps clipped gathers valid; offsets still say "empty"
    return offsets, data


def _time_field(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Check ``\\d{1,6}\\.\\d{3},`` values (no leading zero); return (ok, milliseconds)."""
    offsets, data = _arrow_parts(arr)
    n = len(arr)
    a, b = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    length = b - a
    ok = (length >= 6) & (length <= MAX_INT_DIGITS + 5)
    used = data[offsets[0]: offsets[-1]]
    at = np.flatnonzero((used - ZERO) > 9) + offsets[0]    # bytes not digits (uint8 wraps below '0')
    dots, commas = at[0::2], at[1::2]                       # usual case: one dot and one comma, in place
    if len(at) != 2 * n or not ((dots == b - 5).all() and (commas == b - 1).all()
                                and (data[dots] == DOT).all() and (data[commas] == COMMA).all()):
        _refuse_stray_bytes(ok, used, offsets, b)
    last = max(len(data) - 1, 0)
    ok &= (data[np.clip(a, 0, last)] != ZERO) | (length == 6)
    b = np.where(ok, b, 6)                  # rows refused already: read any bytes in the buffer
    ms = data[np.minimum(b - 4, last)].astype(np.int64) * 100
    ms += data[np.minimum(b - 3, last)].astype(np.int64) * 10
    ms += data[np.minimum(b - 2, last)]
    ms -= ZERO * 111
    int_digits = np.where(ok, length - 5, 0)
    pos, scale = b - 6, 1000
    for k in range(MAX_INT_DIGITS):
        more = int_digits > k
        if not more.any():
            break
        ms += np.where(more, data[np.clip(pos, 0, last)].astype(np.int64) - ZERO, 0) * scale
        pos -= 1
        scale *= 10
    return ok, ms


def _refuse_stray_bytes(ok: np.ndarray, used: np.ndarray, offsets: np.ndarray, b: np.ndarray) -> None:
    """Clear ``ok`` of the time values (bytes ``used``, ending at ``b``) that are not digits with
    one dot 5 bytes and one comma 1 byte before their end."""
    n = len(ok)
    for byte, back in ((DOT, 5), (COMMA, 1)):
        at = np.flatnonzero(used == byte) + offsets[0]
        row = np.searchsorted(offsets, at, side="right") - 1
        ok[row[at != b[row] - back]] = False
        ok &= np.bincount(row, minlength=n) == 1
    stray = (used - ZERO) > 9
    stray &= used != DOT
    stray &= used != COMMA
    if stray.any():
        ok[np.searchsorted(offsets, np.flatnonzero(stray) + offsets[0], side="right") - 1] = False


def parse_block_csv(data: bytes, n_lines: int | None = None) -> FastSegments | None:
    """Parse a block with Arrow's CSV reader (space as delimiter, so the quoted label list is one
    field). Returns None unless every line maps to exactly one row (then the caller uses
    ``parse_block``); rows that are not canonical are left for the slow path. ``n_lines``: the
    number of LFs in ``data``, if known. Also gives the YouTube id keys (``ids.youtube_keys``)."""
    if not data.isascii():
        return None  # canonical lines are ASCII; others go the byte-level way
    if n_lines is None:
        n_lines = data.count(b"\n")
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    crlf = data.count(b'"\r\n') if b"\r" in data else 0
    if data.count(b'"\n') + crlf != n_lines:
        return None  # a line not ending in the closing quote (Arrow would drop a quote inside a field)
    invalid = 0

    def on_invalid(row: object) -> str:
        nonlocal invalid
        invalid += 1
        return "skip"

    try:
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=["a", "b", "c", "d"], block_size=len(data) + 1,
                                          use_threads=False),   # callers parse blocks in parallel
            parse_options=pcsv.ParseOptions(delimiter=" ", quote_char='"', ignore_empty_lines=False,
                                            invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(column_types={k: pa.string() for k in "abcd"},
                                                strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                check_utf8=False),   # ASCII, checked above
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if invalid or table.num_rows != n_lines:
        return None
    a, b, c, d = (table.column(k).combine_chunks() for k in "abcd")
    if a.null_count or b.null_count or c.null_count or d.null_count:
        return None
    n = n_lines

    a_off, a_data = _arrow_parts(a)
    ok = np.diff(a_off) == ID_LEN + 1
    if ok.all():   # the usual case: "YTID," fields back to back, a zero-copy (n, 12) view
        id_bytes = a_data[a_off[0]: a_off[-1]].reshape(n, ID_LEN + 1)
    else:
        last = max(len(a_data) - 1, 0)
        id_bytes = a_data[np.clip(a_off[:-1, None].astype(np.int64) + np.arange(ID_LEN + 1), 0, last)]
    codes = id_codes(id_bytes)
    ok &= valid_codes(codes) & (id_bytes[:, ID_LEN] == COMMA)
    ok_s, start_ms = _time_field(b)
    ok_e, end_ms = _time_field(c)
    ok &= ok_s & ok_e & (end_ms > start_ms)

    # labels: non-empty, printable ASCII without spaces or quotes, no empty items
    d_off, d_data = _arrow_parts(d)
    content = d_data[d_off[0]: d_off[-1]]
    ok &= np.diff(d_off) > 0
    wrong = content <= SPACE            # bytes a canonical label list cannot hold
    wrong |= content >= 127
    wrong |= content == QUOTE
    if wrong.any():
        if (content == 10).any():
            return None
        ok[np.searchsorted(d_off, np.flatnonzero(wrong) + d_off[0], side="right") - 1] = False
    labels = pc.split_pattern(d, ",")
    item_len = np.diff(np.frombuffer(labels.values.buffers()[1], dtype=np.int32)[: len(labels.values) + 1])
    if not item_len.all():
        ok[pc.list_parent_indices(labels).to_numpy()[item_len == 0]] = False
    idx = np.flatnonzero(ok)
    if len(idx) != n:
        labels = labels.take(pa.array(idx))
        id_bytes, codes = id_bytes[idx], codes[idx]
    ids = np.ascontiguousarray(id_bytes[:, :ID_LEN])
    ytid = pa.StringArray.from_buffers(len(idx), pa.py_buffer(np.arange(0, ID_LEN * len(idx) + 1, ID_LEN,
                                                                        dtype=np.int32)), pa.py_buffer(ids))
    return FastSegments(idx, ytid, start_ms[idx], end_ms[idx], labels, np.flatnonzero(~ok), None, None,
                        keys_from_codes(codes))


def _labels_from_content(content: np.ndarray, bounds: np.ndarray) -> pa.ListArray:
    """list<string> from concatenated comma-separated label lists and each list's bounds."""
    cpos = np.flatnonzero(content == COMMA)
    ends = np.concatenate([cpos, bounds[1:]])
    order = np.argsort(ends, kind="stable")          # two sorted runs: a linear merge
    merged = ends[order]
    is_comma = order < len(cpos)
    commas_before = np.cumsum(is_comma, dtype=np.int64) - is_comma
    value_offsets = np.zeros(len(merged) + 1, dtype=np.int32)
    value_offsets[1:] = merged - commas_before
    values_data = content[content != COMMA] if cpos.size else content
    values = pa.StringArray.from_buffers(len(merged), pa.py_buffer(value_offsets),
                                         pa.py_buffer(np.ascontiguousarray(values_data)))
    list_offsets = np.zeros(len(bounds), dtype=np.int32)
    list_offsets[1:] = np.flatnonzero(~is_comma) + 1
    return pa.ListArray.from_arrays(pa.array(list_offsets), values)
