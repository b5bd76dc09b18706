"""The combined training list ``src_train_segments.csv``: the unbalanced lines, then the balanced ones.

VIP-ANT publishes the line where the two parts meet ("the splitting line number is 1715367"): here
``split_line`` is the number of unbalanced lines, i.e. the 0-based line number of the first
balanced line (1-based: ``split_line + 1``). It is printed by ``avdata index`` and stored in
``src_train_segments.json`` beside the list.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from avdata.atomic import atomic_path, write_text_atomic
from avdata.index.entry import BALANCED_FILE, COMBINED_FILE, UNBALANCED_FILE


@dataclass(frozen=True)
class CombinedResult:
    """Where the combined list is and where its balanced part starts."""

    path: Path
    sidecar: Path
    unbalanced_lines: int
    balanced_lines: int

    @property
    def split_line(self) -> int:
        return self.unbalanced_lines

    def to_dict(self) -> dict:
        return {"file": self.path.name, "parts": [UNBALANCED_FILE, BALANCED_FILE],
                "split_line": self.split_line, "first_balanced_line_1based": self.split_line + 1,
                "unbalanced_lines": self.unbalanced_lines, "balanced_lines": self.balanced_lines}


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += block.count(b"\n")
    return n


def write_combined(index_dir: str | os.PathLike[str]) -> CombinedResult | None:
    """Join ``src_unbalanced_train_segments.csv`` and ``src_balanced_train_segments.csv`` (either may
    be absent) into ``src_train_segments.csv``; None when both are absent."""
    d = Path(index_dir)
    parts = [d / UNBALANCED_FILE, d / BALANCED_FILE]
    if not any(p.is_file() for p in parts):
        return None
    counts = [_count_lines(p) if p.is_file() else 0 for p in parts]
    out = d / COMBINED_FILE
    with atomic_path(out) as tmp, open(tmp, "wb") as dst:
        for p in parts:
            if p.is_file():
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
    result = CombinedResult(out, d / (out.stem + ".json"), counts[0], counts[1])
    write_text_atomic(result.sidecar, json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def read_split_line(combined_path: str | os.PathLike[str]) -> int:
    """The stored split line of a combined list (from its JSON sidecar)."""
    p = Path(combined_path)
    return int(json.loads(p.with_suffix(".json").read_text("utf-8"))["split_line"])
