"""Read an index file once into compact arrays (labels as CSR, frames per line, bos/eos).

Two million lines take a few hundred MB at most: labels are int32 codes into ``label_ids``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avdata.errors import InputFormatError


@dataclass
class IndexScan:
    """One index file: ``labels_of(i)`` gives line ``i``'s label codes (0-based lines)."""

    path: Path
    label_ids: list[str]            # code -> ontology id, in order of first appearance
    offsets: np.ndarray             # int64 (lines + 1): line i's labels are flat[offsets[i]:offsets[i+1]]
    flat: np.ndarray                # int32 label codes
    frames: np.ndarray              # int32 frames listed per line
    aclips: np.ndarray              # int32 audio clips listed per line
    bos: np.ndarray                 # float64
    eos: np.ndarray                 # float64

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
    """Read an index file (JSON lines). Raises InputFormatError naming the file and line."""
    path = Path(path)
    codes: dict[str, int] = {}
    flat: list[int] = []
    offsets = [0]
    frames: list[int] = []
    aclips: list[int] = []
    bos: list[float] = []
    eos: list[float] = []
    try:
        fh = open(path, "rb")     # bytes: a line that is not UTF-8 is reported by json.loads
    except OSError as e:
        raise InputFormatError(str(path), None, f"cannot read index file ({e.strerror})") from e
    with fh:
        for lineno, line in enumerate(fh, 1):
            try:
                rec = json.loads(line)
                labels = rec["labels"]
                if not isinstance(labels, list) or not all(isinstance(lab, str) for lab in labels):
                    raise TypeError("labels is not a list of label ids")
                frames.append(len(rec.get("frame", ())))
                aclips.append(len(rec.get("aclip", ())))
                bos.append(float(rec["bos"]))
                eos.append(float(rec["eos"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
                raise InputFormatError(str(path), lineno, f"not an index line ({type(e).__name__}: {e})") from e
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
        eos=np.asarray(eos, dtype=np.float64),
    )
