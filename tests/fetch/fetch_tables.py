"""Clip tables for fetch tests (a module of its own: every test folder has a ``conftest``, so
``from conftest import ...`` would depend on which folder's was imported first)."""

from __future__ import annotations

from pathlib import Path

from avdata.table import clips_from_records, write_clips


def clip_table(path: Path, sources: list[tuple[str, str]], start: float = 20.0, end: float = 25.0) -> Path:
    """Write a clip table with one clip per (source, kind)."""
    rows = [dict(clip_id=f"c{i}", source=s, source_kind=k, start=start, end=end, dataset="audioset",
                 split="eval", origin_file="test.csv", origin_line=i + 1) for i, (s, k) in enumerate(sources)]
    write_clips(clips_from_records(rows), path)
    return path
