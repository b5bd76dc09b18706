"""How evenly labels are drawn under a set of sample weights (the report's balance figures)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avdata.errors import AvdataError
from avdata.index.scan import IndexScan


@dataclass(frozen=True)
class LabelBalance:
    """Per label (``label_ids`` order): raw count and expected count under weighted sampling of as
    many draws as there are lines; ``cv_*`` = std / mean across the labels."""

    label_ids: list[str]
    counts: np.ndarray
    expected: np.ndarray

    @property
    def cv_raw(self) -> float:
        return float(self.counts.std() / self.counts.mean())

    @property
    def cv_weighted(self) -> float:
        return float(self.expected.std() / self.expected.mean())


def label_balance(scan: IndexScan, weights: np.ndarray) -> LabelBalance:
    """How often each label is drawn when lines are sampled with ``weights`` (with replacement)."""
    if len(weights) != scan.lines:
        raise AvdataError(f"{len(weights)} weights for {scan.lines} index lines in {scan.path}")
    per_label_mass = np.bincount(scan.flat, weights=weights[scan.line_of_label()], minlength=len(scan.label_ids))
    total = weights.sum()
    expected = per_label_mass / total * scan.lines if total > 0 else np.zeros_like(per_label_mass)
    return LabelBalance(scan.label_ids, scan.label_counts().astype(np.float64), expected)
