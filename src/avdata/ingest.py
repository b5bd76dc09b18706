"""The ingest stage: published list files in, one clip table (Parquet) out."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from avdata.errors import InputError
from avdata.pathcheck import FILE, Output, check_outputs
from avdata.sources.ids import make_unique
from avdata.sources.ontology import Ontology
from avdata.sources.origins import concat_with_origins, get_origins, origins_metadata
from avdata.sources.problems import Problems, readable_files
from avdata.sources.registry import ReadOptions, get_reader, get_stream_reader, get_subset, keep_subset
from avdata.sources.sniff import check_kind
from avdata.table import CLIP_SCHEMA, ClipTableWriter, read_clips, write_clips


@dataclass(frozen=True)
class IngestOptions:
    """``format``: audioset, audiocaps, audioscope, mixit or vipant; ``files``: the lists to read;
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
    weights: tuple[str, ...] = ()        # vipant: the weights file of each index file, in order
    subset: str | None = None            # a named class subset of the format (e.g. kinetics-sounds)


@dataclass
class IngestResult:
    output: Path
    rows: int
    problems: Problems
    read: int | None = None              # rows read before ``subset`` kept ``rows`` of them
    note: str = ""                       # what the subset says (e.g. names that map to no class)


def _inputs(options: IngestOptions, problems: Problems) -> tuple[list[str], ReadOptions]:
    """The input files that can be read (a missing, unreadable or odd one is reported with what it
    is, and skipped) and the reader options."""
    ontology = Ontology.load(options.ontology)
    usable = readable_files(options.files, problems)
    if not usable:
        raise InputError(f"none of the input files can be read ({', '.join(map(str, options.files))}); "
                         f"nothing written")
    for path in usable:                 # a file of another kind: one line, before anything is written
        check_kind(path, options.format)
    read_opts = ReadOptions(split=options.split, segments=tuple(options.segments), ontology=ontology,
                            threads=options.threads, weights=tuple(options.weights))
    return usable, read_opts


def read_lists(options: IngestOptions, problems: Problems) -> pa.Table:
    """Read every input file (a missing or unreadable file is reported and skipped) to one table
    with unique clip ids."""
    reader = get_reader(options.format)
    usable, read_opts = _inputs(options, problems)
    return make_unique(reader(usable, read_opts, problems))


def ingest(options: IngestOptions, problems: Problems | None = None) -> IngestResult:
    """Read the lists and write the clip table atomically. Formats with a stream reader are
    written block by block (one Parquet row group each), so the table is never whole in memory;
    the file is the same table ``read_lists`` gives. The inputs are checked before the output is
    opened: when none can be read, InputError and an existing output stays as it was."""
    problems = problems if problems is not None else Problems()
    check_outputs([Output(options.output, FILE, "output")], [*options.files, *options.segments, *options.weights])
    subset = get_subset(options.subset, options.format) if options.subset else None
    keep = sorted(set(subset.labels())) if subset else None
    stream = get_stream_reader(options.format)
    if stream is None:
        table = read_lists(options, problems)
        read = table.num_rows
        if keep is not None:
            table = keep_subset(table, keep)
        write_clips(table, options.output)
        return IngestResult(Path(options.output), table.num_rows, problems, read if subset else None,
                            subset.note() if subset else "")
    usable, read_opts = _inputs(options, problems)
    origins: dict = {}
    read = 0
    blocks = stream(usable, read_opts, problems)
    if keep is not None:
        def kept(raw: Iterator[pa.Table]) -> Iterator[pa.Table]:
            nonlocal read
            for block in raw:
                read += block.num_rows
                yield keep_subset(block, keep).replace_schema_metadata(block.schema.metadata)
        blocks = kept(blocks)
    first = next(blocks, None)
    # a format's own columns (e.g. vipant's index_*) come after the clip schema's: the first block says
    schema = CLIP_SCHEMA if first is None else pa.schema(list(first.schema), metadata=CLIP_SCHEMA.metadata)
    with ClipTableWriter(options.output, schema) as out:
        for block in itertools.chain([first] if first is not None else [], blocks):
            origins.update(get_origins(block))
            out.write(block)
        if origins:
            out.update_metadata(origins_metadata(origins))
    return IngestResult(Path(options.output), out.rows, problems, read if subset else None,
                        subset.note() if subset else "")


def merge_clip_tables(paths: Sequence[str | os.PathLike[str]]) -> pa.Table:
    """One clip table from several clip-table files (ids made unique across them; per-stage
    columns that only some have are null elsewhere; origin notes kept)."""
    return make_unique(concat_with_origins([read_clips(p) for p in paths]))
