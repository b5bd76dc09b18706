"""Which part of a source video to download: the gold segment plus room for the negative clips.

Extraction's rule: gold clip ``p0 = [start, end]``; up to 2 negative clips beside it, 3 s from the
gold clip, each at most 10 s. So a segment needs ``[max(0, start - 13), end + 13]`` (``before`` and
``after`` are options); overlapping or touching sections of one video are merged.
"""

from __future__ import annotations

from collections.abc import Iterable

NEGATIVE_MARGIN = 3.0
NEGATIVE_MAX = 10.0
DEFAULT_BEFORE = NEGATIVE_MARGIN + NEGATIVE_MAX
DEFAULT_AFTER = NEGATIVE_MARGIN + NEGATIVE_MAX

Span = tuple[float, float]


def section_for(start: float, end: float, before: float = DEFAULT_BEFORE, after: float = DEFAULT_AFTER) -> Span:
    """The span to download for one segment."""
    return (max(0.0, float(start) - before), float(end) + after)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted spans with overlapping or touching ones merged."""
    merged: list[list[float]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def plan_sections(segments: Iterable[Span], before: float = DEFAULT_BEFORE,
                  after: float = DEFAULT_AFTER) -> list[Span]:
    """Merged sections to download for a video's segments."""
    return merge_spans(section_for(s, e, before, after) for s, e in segments)


def hull(sections: Iterable[Span]) -> Span:
    """One span covering all ``sections`` (one local file per source: a video's disjoint sections
    are fetched as the span from the first start to the last end)."""
    sections = list(sections)
    return (min(s for s, _ in sections), max(e for _, e in sections))
