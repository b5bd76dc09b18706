"""The index stage's options and result (``build_index`` in ``avdata.index.build``), and the
``index_summary.json`` written from them."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from avdata.atomic import write_text_atomic
from avdata.index.checks import SUMMARY_FILE
from avdata.index.combined import CombinedResult
from avdata.index.validate import LABEL_EXCLUDED, LABEL_NOT_KEPT

LABEL_REASONS = frozenset({LABEL_EXCLUDED, LABEL_NOT_KEPT})


@dataclass(frozen=True)
class IndexOptions:
    """Options of ``build_index`` (mirrors ``avdata index``)."""

    clips: str | os.PathLike[str]
    manifest: str | os.PathLike[str]
    media: str | os.PathLike[str]
    out: str | os.PathLike[str]
    with_negatives: bool = False
    features: bool = False
    check_media: bool = True
    min_audio_seconds: float = 2.0
    exclude_labels: tuple[str, ...] = ()
    keep_labels: tuple[str, ...] = ()
    ontology: str | os.PathLike[str] | None = None
    executor: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    progress: bool | None = None
    batch_rows: int = 65536
    published_split_line: int = 1_715_367     # published tables: VIP-ANT's splitting line of src_train_segments.csv


@dataclass
class IndexResult:
    """What ``build_index`` wrote and counted."""

    out: Path
    split_files: dict[str, Path] = field(default_factory=dict)
    listed: Counter = field(default_factory=Counter)             # split file -> segments listed
    excluded: Counter = field(default_factory=Counter)           # reason -> segments
    excluded_by_split: dict[str, Counter] = field(default_factory=dict)
    negatives_listed: int = 0
    negatives_dropped: Counter = field(default_factory=Counter)  # reason -> negative clips
    features_made: int = 0
    feature_errors: Counter = field(default_factory=Counter)
    combined: CombinedResult | None = None
    published: list[Any] = field(default_factory=list)             # index.published.Coverage per published file

    @property
    def error_exclusions(self) -> int:
        """Segments excluded for a media or extraction problem (label filters are not errors)."""
        return sum(n for reason, n in self.excluded.items() if reason not in LABEL_REASONS)

    def summary_text(self) -> str:
        lines = [f"index written to {self.out}"]
        lines += [cov.line() for cov in self.published]
        for name in sorted(self.split_files):
            exc = sum(self.excluded_by_split.get(name, Counter()).values())
            lines.append(f"  {name}: {self.listed[name]} listed, {exc} excluded")
        for reason, n in self.excluded.most_common():
            lines.append(f"  excluded {reason}: {n}")
        if self.negatives_listed or self.negatives_dropped:
            lines.append(f"  negative clips listed: {self.negatives_listed}, dropped: "
                         f"{sum(self.negatives_dropped.values())}")
        if self.features_made or self.feature_errors:
            lines.append(f"  features made: {self.features_made}, errors: {dict(self.feature_errors)}")
        if self.combined is not None:
            lines.append(f"  {self.combined.path.name}: balanced part starts after line "
                         f"{self.combined.split_line} ({self.combined.unbalanced_lines} unbalanced + "
                         f"{self.combined.balanced_lines} balanced)")
        return "\n".join(lines)


def write_summary(opts: IndexOptions, result: IndexResult) -> None:
    summary = {
        "options": {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in asdict(opts).items()},
        "splits": {name: {"listed": result.listed[name],
                          "excluded": dict(result.excluded_by_split.get(name, Counter()))}
                   for name in sorted(result.split_files)},
        "excluded_by_reason": dict(result.excluded.most_common()),
        "negatives_listed": result.negatives_listed,
        "negatives_dropped": dict(result.negatives_dropped),
        "features_made": result.features_made,
        "feature_errors": dict(result.feature_errors),
        "combined": None if result.combined is None else result.combined.to_dict(),
        "published": [cov.to_dict() for cov in result.published],
    }
    write_text_atomic(result.out / SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n")
