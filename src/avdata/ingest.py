"""The ingest stage: published list files in, one clip table (Parquet) out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from avdata.sources.ids import make_unique
from avdata.sources.ontology import Ontology
from avdata.sources.origins import concat_with_origins
from avdata.sources.problems import Problems
from avdata.sources.registry import ReadOptions, get_reader
from avdata.table import read_clips, write_clips


@dataclass(frozen=True)
class IngestOptions:
    """``format``: audioset, audiocaps, audioscope or mixit; ``files``: the lists to read;
    ``output``: the clip table to write; ``split`` overrides file-name splits; ``segments``: AudioSet
    segment files whose labels are joined (AudioCaps); ``ontology``: an ontology.json to check label
    ids against (default: the bundled copy)."""

    format: str
    files: tuple[str, ...]
    output: str
    split: str | None = None
    segments: tuple[str, ...] = ()
    ontology: str | None = None
    threads: int = 2


@dataclass
class IngestResult:
    output: Path
    rows: int
    problems: Problems


def read_lists(options: IngestOptions, problems: Problems) -> pa.Table:
    """Read every input file (a missing or unreadable file is reported and skipped) to one table
    with unique clip ids."""
    reader = get_reader(options.format)
    ontology = Ontology.load(options.ontology)
    usable = []
    for f in options.files:
        if not os.path.isfile(f):
            problems.error(f, None, "no such file")
        else:
            usable.append(f)
    read_opts = ReadOptions(split=options.split, segments=tuple(options.segments), ontology=ontology,
                            threads=options.threads)
    table = reader(usable, read_opts, problems)
    return make_unique(table)


def ingest(options: IngestOptions, problems: Problems | None = None) -> IngestResult:
    """Read the lists and write the clip table atomically."""
    problems = problems if problems is not None else Problems()
    table = read_lists(options, problems)
    write_clips(table, options.output)
    return IngestResult(Path(options.output), table.num_rows, problems)



def merge_clip_tables(paths: list[str | os.PathLike[str]]) -> pa.Table:
    """One clip table from several clip-table files (ids made unique across them; per-stage
    columns that only some have are null elsewhere; origin notes kept)."""
    return make_unique(concat_with_origins([read_clips(p) for p in paths]))
