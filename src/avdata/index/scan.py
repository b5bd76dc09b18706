"""Read an index file once into compact arrays (labels as CSR, frames per line, bos/eos).

Two million lines take a few hundred MB at most: labels are int32 codes into ``label_ids``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avdata.errors import InputFormatError
from avdata.index.lines import field_labels, field_seconds, iter_records


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


def scan_index(path: str | os.PathLike[str]) -> IndexScan:
    """Read an index file (JSON lines, ``avdata.index.lines``' contract). A line that cannot be read
    (not UTF-8, not JSON, ``labels`` not a list of ids, ``bos``/``eos`` not numbers) is kept as a
    line without labels (weight 0) and recorded in ``bad`` as ``FILE:LINE: reason``; an unreadable
    file raises InputFormatError."""
    path = Path(path)
    codes: dict[str, int] = {}
    flat: list[int] = []
    offsets = [0]
    frames: list[int] = []
    aclips: list[int] = []
    bos: list[float] = []
    eos: list[float] = []
    bad: dict[int, str] = {}
    for lineno, rec, err in iter_records(path):
        try:
            if err is not None:
                raise err
            assert rec is not None
            labels = field_labels(rec, path, lineno)
            line = (_count(rec, "frame", path, lineno), _count(rec, "aclip", path, lineno),
                    field_seconds(rec, "bos", path, lineno), field_seconds(rec, "eos", path, lineno))
        except InputFormatError as e:
            bad[lineno - 1] = str(e)
            labels, line = [], (0, 0, float("nan"), float("nan"))
        frames.append(line[0])
        aclips.append(line[1])
        bos.append(line[2])
        eos.append(line[3])
        for lab in labels:
            code = codes.get(lab)
            if code is None:
                code = codes[lab] = len(codes)
            flat.append(code)
        offsets.append(len(flat))
    return IndexScan(
        path=path, label_ids=list(codes), offsets=np.asarray(offsets, dtype=np.int64),
        flat=np.asarray(flat, dtype=np.int32), frames=np.asarray(frames, dtype=np.int32),
        aclips=np.asarray(aclips, dtype=np.int32), bos=np.asarray(bos, dtype=np.float64),
        eos=np.asarray(eos, dtype=np.float64), bad=bad,
    )


def _count(rec: dict, key: str, path: Path, lineno: int) -> int:
    """How many names ``rec[key]`` lists (absent: 0); a value that is not a list is a bad line."""
    value = rec.get(key, [])
    if not isinstance(value, list):
        raise InputFormatError(str(path), lineno, f"'{key}' must be a list of names (got {value!r:.60})")
    return len(value)
