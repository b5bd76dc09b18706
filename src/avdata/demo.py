"""``avdata demo``: the pipeline on the bundled example, one stage call after another."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from avdata.info import InfoOptions, info
from avdata.ingest import IngestOptions, ingest, merge_clip_tables
from avdata.sources.problems import Problems
from avdata.table import read_clips, write_clips

EXAMPLE = "data/example"
LISTS = (
    ("audioset", ("balanced_train_segments.csv", "eval_segments.csv")),
    ("audiocaps", ("val.csv",)),
    ("audioscope", ("unfiltered_validate_clips.csv",)),
)


@dataclass
class DemoSummary:
    out_dir: Path
    clips: Path
    rows: int
    problems: Problems
    info: str


def example_dir() -> Path:
    """The bundled example folder (a real directory inside the installed package)."""
    return Path(str(resources.files("avdata").joinpath(EXAMPLE)))


def run_demo(out_dir: str | os.PathLike[str]) -> DemoSummary:
    """Ingest the bundled lists into ``{out_dir}/clips.parquet`` and summarize it."""
    out = Path(out_dir)
    ex = example_dir()
    problems = Problems()
    parts = []
    for fmt, names in LISTS:
        part = out / "lists" / f"{fmt}.parquet"
        ingest(IngestOptions(format=fmt, files=tuple(str(ex / n) for n in names), output=str(part)), problems)
        parts.append(part)
    clips = out / "clips.parquet"
    write_clips(merge_clip_tables(parts), clips)
    text = info(InfoOptions(path=str(clips)))
    return DemoSummary(out, clips, read_clips(clips).num_rows, problems, text)
