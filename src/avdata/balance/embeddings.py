"""Read an embeddings directory written by ``avdata embed`` and the index file it was made from.

A directory holds ``embeddings.npy`` (float32 or float16, shape ``(rows, dim)``, row i = line i of
the index file) and ``meta.json`` (``embedder``, ``dim``, ``dtype``, ``fingerprint``, ``rows``,
``index`` = ``{path, lines, sha256}``). A line whose media failed is an all-zero row.

``load_embeddings`` memory-maps the matrix (nothing is copied) and checks that it still belongs to
the index given: same line count and same SHA-256. ``check_same_space`` refuses two directories
whose embedder fingerprints differ: their vectors do not live in one space.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.arrays import load_npy
from avdata.errors import AvdataError, InputFormatError
from avdata.index.blocks import LineOffsets, LineOffsetsBuilder, arrow_block, iter_line_blocks, list_codes
from avdata.index.lines import field_labels, field_str, parse_line
from avdata.index.scan import SCAN_SCHEMA, IndexScan, ScanBuilder

EMBEDDINGS_FILE = "embeddings.npy"
META_FILE = "meta.json"
META_KEYS = ("embedder", "dim", "dtype", "fingerprint", "rows", "index")
DTYPES = ("float32", "float16")
NORM_BLOCK = 1 << 16
PARSE_THREADS = 2               # pieces each block of an index file is parsed in (Arrow's threads)


class EmbeddingsMismatchError(AvdataError):
    """Embeddings that do not belong to the index given, or two sets from different embedders."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class LabelLists(Sequence[list[str]]):
    """Each line's labels, held as codes (CSR ``offsets`` and ``flat`` into ``names``) and made into
    lists only when asked for: 2 million lines cost two arrays, not 2 million lists."""

    def __init__(self, names: list[str], offsets: np.ndarray, flat: np.ndarray) -> None:
        self.names, self.offsets, self.flat = names, offsets, flat

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, i: int) -> list[str]: ...

    @overload
    def __getitem__(self, i: slice) -> list[list[str]]: ...

    def __getitem__(self, i: int | slice) -> list[str] | list[list[str]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]
        return [self.names[c] for c in self.flat[self.offsets[i]:self.offsets[i + 1]].tolist()]

    def __iter__(self) -> Iterator[list[str]]:
        strs = [self.names[c] for c in self.flat.tolist()]
        bounds = self.offsets.tolist()
        return (strs[a:b] for a, b in zip(bounds[:-1], bounds[1:]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and list(self) == list(other)

    __hash__ = None     # type: ignore[assignment]


@dataclass(frozen=True)
class IndexIds:
    """The id of every line of an index file (0-based lines) and each line's labels; ``bad`` maps a
    line that cannot be read to its ``FILE:LINE: reason`` (its id is ``""``, it takes no part)."""

    path: Path
    ids: list[str]
    labels: Sequence[list[str]]
    bad: dict[int, str] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        return len(self.ids)

    def bad_mask(self) -> np.ndarray:
        mask = np.zeros(self.lines, dtype=bool)
        mask[list(self.bad)] = True
        return mask


IDS_SCHEMA = pa.schema([("id", pa.string()), ("labels", pa.list_(pa.string()))])


class _IdsBuilder:
    """The ids and label codes of an ``IndexIds`` as blocks of lines are added (column-wise or line by line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: list[str] = []
        self.counts: list[np.ndarray] = []       # labels per line, block by block
        self.flats: list[np.ndarray] = []        # their codes
        self.bad: dict[int, str] = {}
        self.codes: dict[str, int] = {}          # label -> code, in order of first appearance

    def add_table(self, t: pa.Table) -> bool:
        """A block read column-wise; False (nothing added) when it needs the per-line path."""
        if t.column("id").null_count or t.column("labels").null_count \
                or pc.any(pc.equal(pc.utf8_length(t.column("id")), 0)).as_py():
            return False
        offsets, flat = list_codes(t.column("labels"), self.codes)
        self.ids.extend(t.column("id").to_pylist())
        self.counts.append(np.diff(offsets))
        self.flats.append(flat)
        return True

    def add_lines(self, first: int, lines: list[bytes]) -> None:
        """A block read line by line (``avdata.index.lines``' messages for a bad line)."""
        n: list[int] = []
        f: list[int] = []
        for lineno, raw in enumerate(lines, first):
            try:
                rec = parse_line(raw, self.path, lineno)
                vid = field_str(rec, "id", self.path, lineno)
                labs = field_labels(rec, self.path, lineno)
            except InputFormatError as e:
                self.bad[lineno - 1] = str(e)
                self.ids.append("")
                n.append(0)
                continue
            self.ids.append(vid)
            n.append(len(labs))
            f.extend(self.codes.setdefault(lab, len(self.codes)) for lab in labs)
        self.counts.append(np.asarray(n, np.int64))
        self.flats.append(np.asarray(f, np.int32))

    def result(self) -> IndexIds:
        offsets = np.zeros(len(self.ids) + 1, np.int64)
        if self.counts:
            np.cumsum(np.concatenate(self.counts), out=offsets[1:])
        flat = np.concatenate(self.flats) if self.flats else np.zeros(0, np.int32)
        return IndexIds(self.path, self.ids, LabelLists(list(self.codes), offsets, flat), self.bad)


def read_index_ids(path: str | os.PathLike[str]) -> IndexIds:
    """Ids and labels of every line of a VIP-ANT index file, numbered as every reader numbers them
    (``avdata.index.lines``); a line that cannot be read (not UTF-8, not JSON, no string ``id``,
    ``labels`` not a list of ids) is recorded in ``bad`` and costs that line only. Blocks of plain
    lines are read column-wise (``avdata.index.blocks``), the others line by line."""
    b = _IdsBuilder(Path(path))
    for block in iter_line_blocks(path):
        t = arrow_block(block, IDS_SCHEMA, required=("id", "labels"))
        if t is None or not b.add_table(t):
            b.add_lines(block.first, block.lines)
    return b.result()


IDS_SCAN_SCHEMA = pa.unify_schemas([IDS_SCHEMA, SCAN_SCHEMA])


def read_index_ids_and_scan(path: str | os.PathLike[str]) -> tuple[IndexIds, IndexScan, LineOffsets]:
    """``read_index_ids``, ``scan_index`` and ``line_offsets`` of one file, each line parsed once
    (each keeps its own rules for a bad line)."""
    path = Path(path)
    ids, scan, offsets = _IdsBuilder(path), ScanBuilder(), LineOffsetsBuilder(path)
    for block in iter_line_blocks(path):
        offsets.add(block)
        t = arrow_block(block, IDS_SCAN_SCHEMA, threads=PARSE_THREADS)
        if t is None or not ids.add_table(t):
            ids.add_lines(block.first, block.lines)
        if t is None or not scan.add_table(block, t):
            scan.add_lines(path, block.first, block.lines)
    return ids.result(), scan.scan(path), offsets.result()


@dataclass(frozen=True)
class Embeddings:
    """A memory-mapped embeddings matrix with its metadata; ``zero`` marks lines whose media failed."""

    directory: Path
    meta: dict
    matrix: np.ndarray          # (rows, dim), float32 or float16, memory-mapped
    zero: np.ndarray            # bool (rows,): all-zero rows (media failed in embed)
    nonfinite: np.ndarray       # bool (rows,): rows holding NaN or infinity (never searched)
    unit: bool                  # every non-zero row has norm 1 (within 1e-3)

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def fingerprint(self) -> str:
        return str(self.meta["fingerprint"])


def _row_norms(matrix: np.ndarray) -> np.ndarray:
    out = np.empty(len(matrix), dtype=np.float32)
    for a in range(0, len(matrix), NORM_BLOCK):
        block = np.asarray(matrix[a:a + NORM_BLOCK], dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            sq = np.einsum("ij,ij->i", block, block)
        sq[~np.isfinite(sq)] = np.nan    # a NaN or infinite value, or an overflow: not usable (squares
        #                                  are >= 0, so no inf - inf can hide an infinite value)
        out[a:a + len(block)] = np.sqrt(sq)
    return out


def load_embeddings(directory: str | os.PathLike[str], index: str | os.PathLike[str], *,
                    check_hash: bool = True) -> Embeddings:
    """Open ``directory`` and check it was made from ``index`` (line count and SHA-256)."""
    d = Path(directory)
    meta_path, npy_path = d / META_FILE, d / EMBEDDINGS_FILE
    if not meta_path.is_file() or not npy_path.is_file():
        raise EmbeddingsMismatchError(f"{d}: not an embeddings directory (needs {META_FILE} and "
                                      f"{EMBEDDINGS_FILE}, as written by 'avdata embed')")
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFormatError(str(meta_path), None, f"cannot read ({e})") from e
    if not isinstance(meta, dict):
        raise InputFormatError(str(meta_path), None, f"not an avdata embed meta.json (a JSON "
                                                     f"{type(meta).__name__}, not an object)")
    if meta.get("complete") is False:
        raise EmbeddingsMismatchError(f"{d}: 'avdata embed' has not finished this directory; run it again to "
                                      f"complete it")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise InputFormatError(str(meta_path), None, f"missing key(s): {', '.join(missing)}")
    for key in ("rows", "dim"):
        if not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] < 0:
            raise InputFormatError(str(meta_path), None, f"{key!r} is not a count ({meta[key]!r})")
    if not isinstance(meta["index"], dict) or not isinstance(meta["fingerprint"], str):
        raise InputFormatError(str(meta_path), None, "'index' must be an object and 'fingerprint' a string")
    matrix = load_npy(npy_path, mmap_mode="r")
    if matrix.ndim != 2 or str(matrix.dtype) not in DTYPES:
        raise InputFormatError(str(npy_path), None,
                               f"expected a 2-d float32/float16 matrix, found {matrix.dtype} {matrix.shape}")
    if matrix.shape != (meta["rows"], meta["dim"]):
        raise InputFormatError(str(npy_path), None, f"shape {matrix.shape} but {META_FILE} says "
                                                    f"({meta['rows']}, {meta['dim']})")
    idx = Path(index)
    lines = _count_lines(idx)
    if lines != matrix.shape[0]:
        raise EmbeddingsMismatchError(f"{d}: {matrix.shape[0]} embedding rows but {idx} has {lines} lines: "
                                      f"made from another index file? (run 'avdata embed' on {idx.name})")
    want = (meta.get("index") or {}).get("sha256")
    if check_hash and want and sha256_file(idx) != want:
        raise EmbeddingsMismatchError(f"{d}: made from a different version of {idx} (SHA-256 differs from "
                                      f"{META_FILE}); embed this index again")
    norms = _row_norms(matrix)
    nonfinite = ~np.isfinite(norms)
    zero = norms == 0
    usable = ~zero & ~nonfinite
    unit = bool(np.all(np.abs(norms[usable] - 1.0) <= 1e-3))
    return Embeddings(d, meta, matrix, zero, nonfinite, unit)


def check_same_space(seeds: Embeddings, pool: Embeddings) -> None:
    """Refuse to compare embeddings from different embedders (fingerprint, dimension)."""
    if seeds.fingerprint != pool.fingerprint:
        raise EmbeddingsMismatchError(
            f"embedder fingerprints differ: seeds {seeds.directory} ({seeds.meta['embedder']}, "
            f"{seeds.fingerprint[:16]}) vs pool {pool.directory} ({pool.meta['embedder']}, "
            f"{pool.fingerprint[:16]}): embed both with the same embedder and weights")
    if seeds.dim != pool.dim:
        raise EmbeddingsMismatchError(f"dimensions differ: seeds {seeds.dim}, pool {pool.dim}")


def _count_lines(path: Path) -> int:
    """Lines as ``str.splitlines`` counts them (a last line without newline counts)."""
    try:
        n, last = 0, b"\n"
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                n += block.count(b"\n")
                last = block[-1:]
        return n + (last != b"\n")
    except OSError as e:
        raise InputFormatError(str(path), None, f"cannot read index file ({e.strerror})") from e
