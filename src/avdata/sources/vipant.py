"""VIP-ANT's published index files as input (``src_full_balanced_train_segments.csv``, ...).

One clip-table row per line. Besides the clip-table columns each row keeps what it takes to build
the media where the line says and to give the line back byte for byte:

==================  ==============  =========================================================
column              type            meaning
==================  ==============  =========================================================
index_dir           string          the line's ``dir`` (a chunk folder, e.g. ``all_0_35000``)
index_name          string          the line's ``id``: the ``{id}`` of its media file names
index_aclip         list<string>    ``aclip`` names (``p0.mp3``, ``n0.mp3``, ...)
index_frame         list<string>    ``frame`` names (``p0.4_01.jpg`` ... : clip, count, number)
index_aclip_128     string (null)   ``aclip_128`` name, when the line has one
index_frame_224     string (null)   ``frame_224`` name, when the line has one
index_line          binary          the line's bytes, its line end included
index_weight        binary (null)   the line of the weights file given beside it (``--weights``)
==================  ==============  =========================================================

``start``/``end`` come from ``bos``/``eos`` (``"130.000"``), labels and captions from the line;
``source`` is the id (YouTube). Splits come from the published file names
(``src_full_eval_segments.csv`` -> eval, ``src_train_segments.csv`` -> train, ``src_audiocaps_val.csv``
-> audiocaps val). A line that is not an index line, or whose ``dir`` or names would leave the media
root, is one problem (``FILE:LINE: reason``) and is left out; the rest goes on. ``write_vipant``
writes the kept lines' bytes in table order: a file ingested whole comes back byte-identical.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from avdata.atomic import atomic_path
from avdata.errors import AvdataError, UnsafePathError
from avdata.paths import check_relative
from avdata.sources.build import build_clips
from avdata.sources.ids import YoutubeIdSet, suffix_repeats
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions, register_reader, register_stream_reader, register_writer

FORMAT = "vipant"
BLOCK_LINES = 1 << 16
INDEX_COLUMNS = ("index_dir", "index_name", "index_aclip", "index_frame", "index_aclip_128", "index_frame_224",
                 "index_line", "index_weight")
CLIP_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")     # a plain file name: no folder, no leading dot
_SPLITS = {"eval_segments": ("audioset", "eval"), "balanced_train_segments": ("audioset", "balanced_train"),
           "unbalanced_train_segments": ("audioset", "unbalanced_train"), "train_segments": ("audioset", "train")}


def split_of(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(dataset, split) told by a published file name (``src_full_eval_segments.csv`` -> audioset eval)."""
    stem = Path(path).name.split(".")[0]
    stem = stem.removeprefix("src_").removeprefix("full_")
    if stem in _SPLITS:
        return _SPLITS[stem]
    if stem.startswith("audiocaps_"):
        return "audiocaps", stem.removeprefix("audiocaps_")
    return "audioset", stem


_GOOD_NAMES: set[tuple[str, ...]] = set()       # name lists already checked (the same few repeat on every line)
_GOOD_DIRS: set[str] = set()


def _names(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{key}' is not a list of names (got {value!r:.60})")
    names = tuple(value)
    if names not in _GOOD_NAMES:
        for v in value:
            if not CLIP_NAME.fullmatch(v):
                raise UnsafePathError(f"'{key}' name {v!r:.60} is not a plain file name")
        if len(_GOOD_NAMES) < 10_000:
            _GOOD_NAMES.add(names)
    return value


def _check_dir(d: Any) -> str:
    if not isinstance(d, str) or not d:
        raise ValueError(f"'dir' is not a folder name (got {d!r:.60})")
    if d not in _GOOD_DIRS:
        check_relative(d)                            # no absolute path, no '..'
        if len(_GOOD_DIRS) < 100_000:
            _GOOD_DIRS.add(d)
    return d


def _optional_name(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not CLIP_NAME.fullmatch(value):
        raise UnsafePathError(f"'{key}' {value!r:.60} is not a plain file name")
    return value


def _seconds(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"'{key}' is not a number (got {value!r})")
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{key}' is not a number (got {value!r:.60})") from None
    if s != s or s in (float("inf"), float("-inf")):
        raise ValueError(f"'{key}' is not finite (got {value!r:.60})")
    return s


def parse_index_line(raw: bytes) -> dict[str, Any]:
    """The columns of one line (without its line end); ValueError / UnsafePathError saying why not."""
    text = raw.rstrip(b"\r\n").decode("utf-8-sig")
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("dir", "id", "bos", "eos") if k not in obj]
    if missing:
        raise ValueError(f"not an index line: no {', '.join(repr(k) for k in missing)}")
    cid = obj["id"]
    if not isinstance(cid, str) or not CLIP_NAME.fullmatch(cid):
        raise UnsafePathError(f"'id' {cid!r:.60} is not a plain file name")
    d = _check_dir(obj["dir"])
    start, end = _seconds(obj["bos"], "bos"), _seconds(obj["eos"], "eos")
    if end <= start:
        raise ValueError(f"'eos' {obj['eos']!r} is not after 'bos' {obj['bos']!r}")
    labels = obj.get("labels") or []
    captions = obj.get("captions") or []
    for key, value in (("labels", labels), ("captions", captions)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"'{key}' is not a list of strings")
    return {"clip_id": cid, "source": cid, "start": start, "end": end, "labels": labels, "captions": captions,
            "index_dir": d, "index_name": cid, "index_aclip": _names(obj.get("aclip") or [], "aclip"),
            "index_frame": _names(obj.get("frame") or [], "frame"),
            "index_aclip_128": _optional_name(obj.get("aclip_128"), "aclip_128"),
            "index_frame_224": _optional_name(obj.get("frame_224"), "frame_224")}


def _count_lines(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def _block(rows: list[dict[str, Any]], path: str, dataset: str, split: str) -> pa.Table:
    n = len(rows)
    cols: dict[str, Any] = {k: [r[k] for r in rows] for k in ("clip_id", "source", "start", "end", "labels",
                                                              "captions", "origin_line")}
    cols.update(source_kind="youtube", dataset=dataset, split=split, origin_file=path)
    cols["index_dir"] = pa.array([r["index_dir"] for r in rows], pa.string())
    cols["index_name"] = pa.array([r["index_name"] for r in rows], pa.string())
    cols["index_aclip"] = pa.array([r["index_aclip"] for r in rows], pa.list_(pa.string()))
    cols["index_frame"] = pa.array([r["index_frame"] for r in rows], pa.list_(pa.string()))
    cols["index_aclip_128"] = pa.array([r["index_aclip_128"] for r in rows], pa.string())
    cols["index_frame_224"] = pa.array([r["index_frame_224"] for r in rows], pa.string())
    cols["index_line"] = pa.array([r["index_line"] for r in rows], pa.binary())
    cols["index_weight"] = pa.array([r.get("index_weight") for r in rows], pa.binary())
    return build_clips(n, cols)


def _chunks(path: str, size: int) -> Iterator[list[bytes]]:
    """The file's lines (line ends kept) ``size`` at a time."""
    with open(path, "rb") as fh:
        while chunk := list(itertools.islice(fh, size)):
            yield chunk


def _file_blocks(path: str, weights: str | None, options: ReadOptions, problems: Problems) -> Iterator[pa.Table]:
    dataset, split = split_of(path)
    if options.split:
        split = options.split
    weight_chunks: Iterator[list[bytes]] | None = None
    if weights:
        n_index, n_weights = _count_lines(path), _count_lines(weights)
        if n_index != n_weights:
            problems.error(weights, None, f"{n_weights} lines, but its index {path} has {n_index}; weights not kept")
        else:
            weight_chunks = _chunks(weights, BLOCK_LINES)
    first = 1
    for lines in _chunks(path, BLOCK_LINES):
        wlines = next(weight_chunks) if weight_chunks is not None else None
        block = _fast_block(lines, first, wlines, path, dataset, split)
        if block is None:               # something odd in this block: line by line, each problem named
            block = _slow_block(lines, first, wlines, path, dataset, split, problems)
        first += len(lines)
        if block.num_rows:
            yield block


def _slow_block(lines: list[bytes], first: int, wlines: list[bytes] | None, path: str, dataset: str, split: str,
                problems: Problems) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for k, raw in enumerate(lines):
        lineno = first + k
        try:
            row = parse_index_line(raw)
        except UnicodeDecodeError as e:
            problems.error(path, lineno, f"line is not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                                         f"{e.start + 1})")
            continue
        except (ValueError, RecursionError) as e:
            problems.error(path, lineno, str(e) if not isinstance(e, json.JSONDecodeError)
                           else f"not a JSON line ({e.msg} at column {e.colno})")
            continue
        except (UnsafePathError, AvdataError) as e:
            problems.error(path, lineno, f"refused: {e}")
            continue
        row["origin_line"] = lineno
        row["index_line"] = raw
        row["index_weight"] = wlines[k] if wlines is not None else None
        rows.append(row)
    return _block(rows, path, dataset, split)


_JSON_SCHEMA = pa.schema([("dir", pa.string()), ("aclip", pa.list_(pa.string())), ("frame", pa.list_(pa.string())),
                          ("aclip_128", pa.string()), ("frame_224", pa.string()), ("id", pa.string()),
                          ("bos", pa.string()), ("eos", pa.string()), ("labels", pa.list_(pa.string())),
                          ("captions", pa.list_(pa.string()))])
_NAME_RE = CLIP_NAME.pattern.join("^$")


def _fast_block(lines: list[bytes], first: int, wlines: list[bytes] | None, path: str, dataset: str,
                split: str) -> pa.Table | None:
    """The block parsed column-wise (Arrow's JSON reader, checks on columns); None when any line
    is not a plain published line, so that the per-line path can name it."""
    import pyarrow.json as pj

    data = b"".join(lines)
    if first == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        t = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
                         parse_options=pj.ParseOptions(explicit_schema=_JSON_SCHEMA,
                                                       unexpected_field_behavior="ignore"))
        if t.num_rows != len(lines):
            return None                 # blank lines: rows no longer match lines
        for key in ("dir", "id", "bos", "eos"):
            if t.column(key).null_count:
                return None
        ids, dirs = t.column("id").combine_chunks(), t.column("dir").combine_chunks()
        if not pc.all(pc.match_substring_regex(ids, _NAME_RE)).as_py():
            return None
        for d in pc.unique(dirs).to_pylist():
            if d not in _GOOD_DIRS:
                _check_dir(d)
        for key in ("aclip", "frame"):
            names = pc.list_flatten(t.column(key).combine_chunks())
            if len(names) and not pc.all(pc.match_substring_regex(names, _NAME_RE)).as_py():
                return None
        for key in ("aclip_128", "frame_224"):
            col = pc.drop_null(t.column(key).combine_chunks())
            if len(col) and not pc.all(pc.match_substring_regex(col, _NAME_RE)).as_py():
                return None
        start = pc.cast(t.column("bos"), pa.float64())
        end = pc.cast(t.column("eos"), pa.float64())
        if not pc.all(pc.is_finite(start)).as_py() or not pc.all(pc.is_finite(end)).as_py() \
                or not pc.all(pc.greater(end, start)).as_py():
            return None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnsafePathError, AvdataError, ValueError):
        return None
    n = t.num_rows
    empty = pa.array([[]] * n, pa.list_(pa.string())) if n else pa.array([], pa.list_(pa.string()))
    cols: dict[str, Any] = {
        "clip_id": ids, "source": ids, "start": start, "end": end,
        "labels": pc.fill_null(t.column("labels"), empty) if t.column("labels").null_count else t.column("labels"),
        "captions": pc.fill_null(t.column("captions"), empty) if t.column("captions").null_count
        else t.column("captions"),
        "origin_line": pa.array(range(first, first + n), pa.int64()),
        "source_kind": "youtube", "dataset": dataset, "split": split, "origin_file": path,
        "index_dir": dirs, "index_name": ids,
        "index_aclip": pc.fill_null(t.column("aclip"), empty) if t.column("aclip").null_count else t.column("aclip"),
        "index_frame": pc.fill_null(t.column("frame"), empty) if t.column("frame").null_count else t.column("frame"),
        "index_aclip_128": t.column("aclip_128"), "index_frame_224": t.column("frame_224"),
        "index_line": pa.array(lines, pa.binary()),
        "index_weight": pa.array(wlines, pa.binary()) if wlines is not None else pa.nulls(n, pa.binary()),
    }
    return build_clips(n, cols)


def _pairs(paths: Sequence[str], options: ReadOptions, problems: Problems) -> list[tuple[str, str | None]]:
    weights = list(options.weights)
    if len(weights) > len(paths):
        raise AvdataError(f"{len(weights)} --weights files for {len(paths)} index file(s): give one per index "
                          "file, in the same order")
    return [(p, weights[k] if k < len(weights) else None) for k, p in enumerate(paths)]


@register_stream_reader(FORMAT)
def stream_vipant(paths: Sequence[str], options: ReadOptions, problems: Problems) -> Iterator[pa.Table]:
    """Registry entry: the rows of every file, block by block, clip ids made unique as ``make_unique``
    does (the media keep the line's own id: ``index_name``)."""
    seen = YoutubeIdSet()
    taken: set[str] = set()
    for path, weights in _pairs(paths, options, problems):
        for block in _file_blocks(path, weights, options, problems):
            repeats = seen.add(block.column("clip_id").combine_chunks())
            yield suffix_repeats(block, repeats, taken)


@register_reader(FORMAT)
def read_vipant(paths: Sequence[str], options: ReadOptions, problems: Problems) -> pa.Table:
    """Registry entry: the whole table (see ``stream_vipant``)."""
    blocks = list(stream_vipant(paths, options, problems))
    if not blocks:
        return build_clips(0, {k: pa.array([], t) for k, t in _EMPTY.items()})
    return pa.concat_tables(blocks)


_EMPTY = {"index_dir": pa.string(), "index_name": pa.string(), "index_aclip": pa.list_(pa.string()),
          "index_frame": pa.list_(pa.string()), "index_aclip_128": pa.string(), "index_frame_224": pa.string(),
          "index_line": pa.binary(), "index_weight": pa.binary()}


def has_published_lines(table: pa.Table | pa.Schema) -> bool:
    """Does the table carry published index lines (read by this module)?"""
    names = table.names if isinstance(table, pa.Schema) else table.column_names
    return "index_line" in names


def write_vipant_from_file(table_path: str | os.PathLike[str], path: str | os.PathLike[str], *,
                           split: str | None = None, origin_file: str | None = None) -> int:
    """``write_vipant`` straight from a clip-table file, a batch at a time (memory: one batch), the
    rows selected as ``avdata export`` selects them; 0 (nothing written) when no row is selected or
    the file holds no published lines (then export says why)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(os.path.abspath(table_path))
    except (OSError, pa.ArrowInvalid):
        return 0
    if "index_line" not in pf.schema_arrow.names:
        return 0
    n = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for batch in pf.iter_batches(batch_size=BLOCK_LINES, columns=["index_line", "split", "origin_file"]):
            t = pa.Table.from_batches([batch])
            if split is not None:
                t = t.filter(pc.equal(t.column("split").cast(pa.string()), split))
            if origin_file is not None:
                t = t.filter(pc.equal(t.column("origin_file").cast(pa.string()), origin_file))
            lines = [x for x in t.column("index_line").to_pylist() if x is not None]
            fh.write(b"".join(lines))
            n += len(lines)
        if not n:
            raise _NothingSelected
    return n


class _NothingSelected(Exception):
    """No row selected: the atomic write is abandoned (nothing replaces an existing output)."""


def _from_file(table_path: str | os.PathLike[str], path: str | os.PathLike[str], **select: str | None) -> int:
    try:
        return write_vipant_from_file(table_path, path, **select)
    except _NothingSelected:
        return 0


@register_writer(FORMAT)
def write_vipant(table: pa.Table, path: str | os.PathLike[str]) -> int:
    """The rows' published lines, byte for byte, in table order (atomic). Returns lines written."""
    if not has_published_lines(table):
        raise AvdataError("cannot write VIP-ANT lines: this clip table was not read from VIP-ANT index files "
                          "(`avdata index` writes index files from any clip table)")
    n = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for batch in table.select(["index_line"]).to_batches(BLOCK_LINES):
            lines = [x for x in batch.column(0).to_pylist() if x is not None]
            fh.write(b"".join(lines))
            n += len(lines)
    return n


write_vipant.from_file = _from_file  # type: ignore[attr-defined]  # export streams the file
