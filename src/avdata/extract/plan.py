"""Clip planning (pure): one segment and its video's duration -> the gold clip and negative clips.

The gold clip ``p0`` is the segment clamped to the video, ``[max(0, start), min(end, duration)]``.
Negative clips ``n0``, ``n1``, ... are cut beside it, as the VIP-ANT reference tool cuts them::

    0 s                                                                        duration
    |---- n2 ----|<-margin->|---- n0 ----|<-margin->[==== p0 ====]<-margin->|---- n1 ----|---|
                       each negative: at most max_length s, kept only if >= min_length s

Sides alternate, left first; a side without ``min_length`` seconds of room left is skipped and
the other side goes on; successive negatives on one side are also ``margin`` apart. At most
``max_negatives`` are cut. A negative takes the ``max_length`` seconds nearest the gold clip (or
what room there is, down to the video's edge).
"""

from __future__ import annotations

from dataclasses import dataclass

from avdata.errors import AvdataError, OptionError
from avdata.paths import safe_name

EPS = 1e-9


@dataclass(frozen=True)
class PlanOptions:
    """Negative-clip rule: ``margin`` from the gold clip (s), each at most ``max_length`` s, needing
    at least ``min_length`` s of room, at most ``max_negatives`` of them."""

    margin: float = 3.0
    max_length: float = 10.0
    min_length: float = 5.0
    max_negatives: int = 2

    def __post_init__(self) -> None:
        if self.margin < 0 or self.min_length <= 0 or self.max_length < self.min_length or self.max_negatives < 0:
            raise OptionError(
                "clip plan needs margin >= 0, 0 < min_length <= max_length and max_negatives >= 0; "
                f"got {self}")


@dataclass(frozen=True)
class ClipSpan:
    """One planned clip: ``name`` is ``p0`` (gold) or ``n0``, ``n1``, ...; times in the video's seconds."""

    name: str
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


def gold_clip(start: float, end: float, duration: float) -> ClipSpan | None:
    """The segment clamped to ``[0, duration]``, or None when nothing of it lies inside the video."""
    s, e = max(0.0, start), min(end, duration)
    if e - s <= EPS:
        return None
    return ClipSpan("p0", s, e)


def plan_clips(start: float, end: float, duration: float, options: PlanOptions = PlanOptions()) -> list[ClipSpan]:
    """The gold clip then the negatives, in the order named; ``[]`` when the segment misses the video."""
    gold = gold_clip(start, end, duration)
    if gold is None:
        return []
    clips = [gold]
    left_edge = gold.start - options.margin      # the next left negative ends here
    right_edge = gold.end + options.margin       # the next right negative starts here
    side_open = {"left": True, "right": True}
    turn = 0
    while len(clips) - 1 < options.max_negatives and any(side_open.values()):
        side = "left" if turn % 2 == 0 else "right"
        turn += 1
        if not side_open[side]:
            continue
        if side == "left":
            s, e = max(0.0, left_edge - options.max_length), left_edge
        else:
            s, e = right_edge, min(duration, right_edge + options.max_length)
        if e - s + EPS < options.min_length:
            side_open[side] = False
            continue
        clips.append(ClipSpan(f"n{len(clips) - 1}", s, e))
        if side == "left":
            left_edge = s - options.margin
        else:
            right_edge = e + options.margin
    return clips


def chunk_dir(position: int, prefix: str = "all", size: int = 35_000) -> str:
    """Chunk folder of the row at ``position`` (0-based) of the source list: ``all_0_35000``, ..."""
    if size <= 0 or position < 0:
        raise AvdataError(f"chunk size must be > 0 and position >= 0 (got {size}, {position})")
    first = (position // size) * size
    return f"{safe_name(prefix)}_{first}_{first + size}"
