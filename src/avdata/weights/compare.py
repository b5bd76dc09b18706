"""Compare avdata's weights of an index file with a published weights file (VIP-ANT's
``src_unbalanced_train_segments_weight.csv``): line by line, the largest absolute and relative
difference and the lines that differ beyond float rounding, so a user can tell whether the published
weights were computed on the full list or on the clips still available."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from avdata.errors import InputFormatError
from avdata.index.scan import scan_index
from avdata.weights.files import read_weights
from avdata.weights.schemes import DEFAULT_SCHEME, sample_weights

RELATIVE = 1e-6           # printed weights carry at least 7 significant digits: more is not rounding


@dataclass
class WeightsComparison:
    """Aligned lines and how they differ (``differ``: 1-based line numbers, the first ``keep``)."""

    lines: int
    max_abs: float
    max_rel: float
    n_differ: int
    differ: list[tuple[int, float, float]] = field(default_factory=list)   # (line, ours, published)

    def lines_text(self, index: str, published: str, scheme: str) -> list[str]:
        head = (f"{index} ({scheme}) vs {published}: {self.lines} lines; max abs difference {self.max_abs:.6g}, "
                f"max relative {self.max_rel:.3g}; {self.n_differ} line(s) differ beyond float rounding")
        rows = [f"  line {n}: avdata {a!r}, published {b!r}" for n, a, b in self.differ]
        more = [f"  ... {self.n_differ - len(self.differ)} more"] if self.n_differ > len(self.differ) else []
        verdict = ["  same weights: the published file was computed on this list"] if not self.n_differ else \
            ["  the published weights were computed on another list (e.g. the full set, not the clips available)"]
        return [head, *rows, *more, *verdict]


def compare_weights(index: str | os.PathLike[str], published: str | os.PathLike[str],
                    scheme: str = DEFAULT_SCHEME, keep: int = 20) -> WeightsComparison:
    """avdata's ``scheme`` weights of ``index`` against ``published`` (line-aligned)."""
    ours = sample_weights(scan_index(index), scheme)
    theirs = read_weights(published)
    if len(ours) != len(theirs):
        raise InputFormatError(str(published), None, f"{len(theirs)} lines, but {index} has {len(ours)}: the "
                                                     "files are not line-aligned")
    if not len(ours):
        return WeightsComparison(0, 0.0, 0.0, 0)
    diff = np.abs(ours - theirs)
    scale = np.maximum(np.abs(ours), np.abs(theirs))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    bad = np.flatnonzero(diff > RELATIVE * scale + 1e-12)
    return WeightsComparison(len(ours), float(diff.max()), float(rel.max()), len(bad),
                             [(int(i) + 1, float(ours[i]), float(theirs[i])) for i in bad[:keep]])
