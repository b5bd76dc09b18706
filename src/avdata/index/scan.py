"""Read an index file once into compact arrays (labels as CSR, frames per line, bos/eos).

Two million lines take a few hundred MB at most: labels are int32 codes into ``label_ids``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avdata.errors import InputFormatError
from avdata.index.blocks import IndexBlock, absent_only, arrow_block, iter_line_blocks, list_codes
from avdata.index.lines import field_labels, field_seconds, parse_line


@dataclass
class IndexScan:
    """One index file: ``labels_of(i)`` gives line ``i``'s label codes (0-based lines)."""

    path: Path
    label_ids: list[str]            # code -> ontology id, in order of first appearance
    offsets: np.ndarray             # int64 (lines + 1): line i's labels are flat[offsets[i]:offsets[i+1]]
    flat: np.ndarray                # int32 label codes
    frames: np.ndarray              # int32 frames listed per line
    aclips: np.ndarray              # int32 audio clips listed per line
    bos: np.ndarray                 # float64 (NaN on a bad line)
    eos: np.ndarray                 # float64
    bad: dict[int, str] = field(default_factory=dict)   # 0-based line -> "FILE:LINE: reason"

    @property
    def lines(self) -> int:
        return len(self.offsets) - 1

    def labels_of(self, i: int) -> list[str]:
        return [self.label_ids[c] for c in self.flat[self.offsets[i]:self.offsets[i + 1]]]

    def line_of_label(self) -> np.ndarray:
        """For every entry of ``flat``, the line it belongs to."""
        return np.repeat(np.arange(self.lines), np.diff(self.offsets))

    def label_counts(self) -> np.ndarray:
        """How many lines carry each label code (a label repeated in a line counts each time)."""
        return np.bincount(self.flat, minlength=len(self.label_ids))


def join_scans(parts: list[tuple[IndexScan, np.ndarray | None]], path: str | os.PathLike[str]) -> IndexScan:
    """The scan of a file made of the given lines of other scanned files, in order (``(scan, lines)``,
    0-based lines in file order; None: every line), equal to ``scan_index`` of that file: labels coded
    in order of first appearance; ``bad`` renumbered (its messages still name the file read)."""
    sizes: list[np.ndarray] = []
    flats: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    aclips: list[np.ndarray] = []
    bos: list[np.ndarray] = []
    eos: list[np.ndarray] = []
    bad: dict[int, str] = {}
    codes: dict[str, int] = {}            # label -> code, in order of first appearance in the parts
    first = 0
    for scan, lines in parts:
        rows = np.arange(scan.lines) if lines is None else np.asarray(lines, dtype=np.int64)
        starts, counts = scan.offsets[rows], np.diff(scan.offsets)[rows]
        entries = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        remap = np.array([codes.setdefault(lab, len(codes)) for lab in scan.label_ids], dtype=np.int32)
        flats.append(remap[scan.flat[entries]] if len(remap) else np.zeros(0, np.int32))
        sizes.append(counts)
        for name, out in (("frames", frames), ("aclips", aclips), ("bos", bos), ("eos", eos)):
            out.append(getattr(scan, name)[rows])
        lost = np.array(sorted(scan.bad), dtype=np.int64)
        at = np.searchsorted(rows, lost)
        for line, j in zip(lost.tolist(), at.tolist()):
            if j < len(rows) and rows[j] == line:
                bad[first + j] = scan.bad[line]
        first += len(rows)
    names = list(codes)
    flat = np.concatenate(flats) if flats else np.zeros(0, np.int32)
    used, at = np.unique(flat, return_index=True)
    ordered = used[np.argsort(at)]                  # codes in order of first appearance in the joined file
    rank = np.zeros(len(names), np.int32)
    rank[ordered] = np.arange(len(ordered), dtype=np.int32)
    flat = rank[flat]
    label_ids = [names[c] for c in ordered.tolist()]
    offsets = np.zeros(first + 1, np.int64)
    if sizes:
        np.cumsum(np.concatenate(sizes), out=offsets[1:])
    cat = np.concatenate
    return IndexScan(path=Path(path), label_ids=label_ids, offsets=offsets, flat=flat.astype(np.int32),
                     frames=cat(frames).astype(np.int32) if frames else np.zeros(0, np.int32),
                     aclips=cat(aclips).astype(np.int32) if aclips else np.zeros(0, np.int32),
                     bos=cat(bos) if bos else np.zeros(0), eos=cat(eos) if eos else np.zeros(0),
                     bad=dict(sorted(bad.items())))


SCAN_SCHEMA = pa.schema([("labels", pa.list_(pa.string())), ("frame", pa.list_(pa.string())),
                         ("aclip", pa.list_(pa.string())), ("bos", pa.string()), ("eos", pa.string())])


class ScanBuilder:
    """The arrays of an ``IndexScan`` as blocks of lines are added (column-wise or line by line)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.flat: list[np.ndarray] = []
        self.sizes: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []
        self.aclips: list[np.ndarray] = []
        self.bos: list[np.ndarray] = []
        self.eos: list[np.ndarray] = []
        self.bad: dict[int, str] = {}

    def add_table(self, block: IndexBlock, t: pa.Table) -> bool:
        """A block read column-wise; False (nothing added) when it needs the per-line path."""
        if any(t.column(name).null_count for name in ("labels", "bos", "eos")):
            return False
        try:
            bos = pc.cast(t.column("bos"), pa.float64()).to_numpy()
            eos = pc.cast(t.column("eos"), pa.float64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        frame, aclip = t.column("frame"), t.column("aclip")
        if not (np.isfinite(bos).all() and np.isfinite(eos).all()
                and absent_only(block, frame, "frame") and absent_only(block, aclip, "aclip")):
            return False
        offsets, flat = list_codes(t.column("labels"), self.codes)
        self.flat.append(flat)
        self.sizes.append(np.diff(offsets))
        self.frames.append(pc.fill_null(pc.list_value_length(frame), 0).to_numpy().astype(np.int32))
        self.aclips.append(pc.fill_null(pc.list_value_length(aclip), 0).to_numpy().astype(np.int32))
        self.bos.append(bos)
        self.eos.append(eos)
        return True

    def add_lines(self, path: Path, first: int, lines: list[bytes]) -> None:
        """A block read line by line (``avdata.index.lines``' messages for a bad line)."""
        flat: list[int] = []
        sizes, frames, aclips, bos, eos = [], [], [], [], []
        for lineno, raw in enumerate(lines, first):
            try:
                rec = parse_line(raw, path, lineno)
                labels = field_labels(rec, path, lineno)
                line = (_count(rec, "frame", path, lineno), _count(rec, "aclip", path, lineno),
                        field_seconds(rec, "bos", path, lineno), field_seconds(rec, "eos", path, lineno))
            except InputFormatError as e:
                self.bad[lineno - 1] = str(e)
                labels, line = [], (0, 0, float("nan"), float("nan"))
            frames.append(line[0])
            aclips.append(line[1])
            bos.append(line[2])
            eos.append(line[3])
            sizes.append(len(labels))
            flat.extend(self.codes.setdefault(lab, len(self.codes)) for lab in labels)
        self.flat.append(np.asarray(flat, dtype=np.int32))
        self.sizes.append(np.asarray(sizes, dtype=np.int64))
        self.frames.append(np.asarray(frames, dtype=np.int32))
        self.aclips.append(np.asarray(aclips, dtype=np.int32))
        self.bos.append(np.asarray(bos, dtype=np.float64))
        self.eos.append(np.asarray(eos, dtype=np.float64))

    def scan(self, path: Path) -> IndexScan:
        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

        sizes = cat(self.sizes, np.int64)
        return IndexScan(path=path, label_ids=list(self.codes), offsets=np.concatenate([[0], np.cumsum(sizes)]),
                         flat=cat(self.flat, np.int32), frames=cat(self.frames, np.int32),
                         aclips=cat(self.aclips, np.int32), bos=cat(self.bos, np.float64),
                         eos=cat(self.eos, np.float64), bad=self.bad)


def scan_index(path: str | os.PathLike[str]) -> IndexScan:
    """Read an index file (JSON lines, ``avdata.index.lines``' contract). A line that cannot be read
    (not UTF-8, not JSON, ``labels`` not a list of ids, ``bos``/``eos`` not numbers) is kept as a
    line without labels (weight 0) and recorded in ``bad`` as ``FILE:LINE: reason``; an unreadable
    file raises InputFormatError. Blocks of plain lines are read column-wise (``avdata.index.blocks``)."""
    path = Path(path)
    b = ScanBuilder()
    for block in iter_line_blocks(path):
        t = arrow_block(block, SCAN_SCHEMA, required=("labels", "bos", "eos"))
        if t is None or not b.add_table(block, t):
            b.add_lines(path, block.first, block.lines)
    return b.scan(path)


def _count(rec: dict, key: str, path: Path, lineno: int) -> int:
    """How many names ``rec[key]`` lists (absent: 0); a value that is not a list is a bad line."""
    value = rec.get(key, [])
    if not isinstance(value, list):
        raise InputFormatError(str(path), lineno, f"'{key}' must be a list of names (got {value!r:.60})")
    return len(value)
