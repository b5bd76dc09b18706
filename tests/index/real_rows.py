"""AudioSet rows for the index tests, read with the real reader (``avdata.sources.audioset``)."""

from __future__ import annotations

from pathlib import Path

from avdata.sources.audioset import read_segments


def audioset_rows(path: Path, limit: int | None = None) -> list[tuple[str, str, str, list[str]]]:
    """(YTID, start, end, labels) per row, times as the file writes them (``"30.000"``)."""
    table = read_segments(path)
    cols = [table.column(c).to_pylist() for c in ("source", "start", "end", "labels")]
    rows = [(s, f"{a:.3f}", f"{b:.3f}", labels) for s, a, b, labels in zip(*cols)]
    return rows[:limit] if limit is not None else rows
