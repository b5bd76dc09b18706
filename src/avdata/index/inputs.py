"""The index stage's inputs: the clip table read a batch at a time, with the extraction manifest
and the previous checks aligned to it (``avdata.index.align``), and the label filters."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from avdata.errors import SchemaError
from avdata.extract.schema import EXTRACT_MANIFEST_SCHEMA
from avdata.index.align import Aligner, TableKeys, spill_folder
from avdata.index.checks import CHECKS_SCHEMA
from avdata.index.validate import GOLD_CLIP, LABEL_EXCLUDED, LABEL_NOT_KEPT, UNKNOWN_EXTRACT_STATUS, ClipFiles
from avdata.sources.ontology import Ontology
from avdata.table import iter_clips

if TYPE_CHECKING:
    from avdata.index.options import IndexOptions


def label_sets(opts: IndexOptions) -> tuple[frozenset[str], frozenset[str]]:
    if not opts.exclude_labels and not opts.keep_labels:
        return frozenset(), frozenset()
    ontology = Ontology.load(opts.ontology)
    unknown = ontology.unknown([*opts.exclude_labels, *opts.keep_labels])
    if unknown:
        raise SchemaError(f"label filter names unknown ontology id(s): {', '.join(sorted(unknown))}")
    return (frozenset(ontology.descendants(opts.exclude_labels)) if opts.exclude_labels else frozenset(),
            frozenset(ontology.descendants(opts.keep_labels)) if opts.keep_labels else frozenset())


def label_verdict(labels: list[str], exclude: frozenset[str], keep: frozenset[str]) -> str | None:
    if exclude and any(lab in exclude for lab in labels):
        return LABEL_EXCLUDED
    if keep and not any(lab in keep for lab in labels):
        return LABEL_NOT_KEPT
    return None


def negative_kinds(kinds: set[str]) -> list[str]:
    """The negative clip kinds of a manifest in listing order (n0, n1, ..., n10)."""
    negatives = {k for k in kinds if k and k != GOLD_CLIP}
    return sorted(negatives, key=lambda k: (k[:1], int(k[1:]) if k[1:].isdigit() else 0, k))


def clip_files(row: dict | None) -> ClipFiles | None:
    if row is None or row.get("clip_id") is None:
        return None
    return ClipFiles(
        clip=row["clip"], status=row["status"] or UNKNOWN_EXTRACT_STATUS, audio_file=row["audio_file"],
        frame_files=tuple(row["frame_files"] or ()), audio_samples=row["audio_samples"],
        sample_rate=row["sample_rate"], channels=row["channels"],
    )


MANIFEST_COLUMNS = ["clip_id", "clip", "dir", "audio_file", "frame_files", "audio_samples",
                     "sample_rate", "channels", "status"]


@dataclass(frozen=True)
class RowInfo:
    split_file: str
    id: str
    bos: str
    eos: str
    labels: list[str]
    captions: list[str] | None
    events: list[list] | None = None




@dataclass
class Inputs:
    """The extraction manifest and the previous checks, spilled to be read back aligned with the
    clip table a batch at a time (``avdata.index.align``); the clip table itself is read batch by
    batch."""

    clips: str | os.PathLike[str]
    kinds: list[str]
    manifest: Aligner
    previous: Aligner | None
    exclude: frozenset[str]
    keep: frozenset[str]
    media_root: str


@dataclass
class Batch:
    offset: int
    rows: pa.Table                 # clip-table rows
    manifest: list[pa.Table]       # per clip kind, aligned with rows (null rows: none)
    previous: list[pa.Table]       # per clip kind, aligned with rows (empty list: none read)


CLIP_COLUMNS = ["clip_id", "start", "end", "labels", "captions", "dataset", "split"]
OPTIONAL_COLUMNS = ["events"]      # read when the clip table has them (AudioSet-Strong's timed events)
MANIFEST_SCHEMA = pa.schema([EXTRACT_MANIFEST_SCHEMA.field(c) for c in MANIFEST_COLUMNS])


@contextlib.contextmanager
def open_inputs(opts: IndexOptions, out: Path, previous: list[Path] | None) -> Iterator[Inputs]:
    """The run's inputs; ``previous``: check folders to reuse (oldest first), None to read none.
    The spill files live in ``out`` while the run lasts."""
    exclude, keep = label_sets(opts)
    folder = spill_folder(out)
    try:
        keys = TableKeys(opts.clips, read_clips_rows(opts.clips))
        manifest = Aligner(keys, folder / "manifest", MANIFEST_SCHEMA, opts.batch_rows)
        manifest.add(opts.manifest)
        manifest.finish()
        kinds = [GOLD_CLIP] + (negative_kinds(manifest.kinds) if opts.with_negatives else [])
        checks = None
        if previous is not None:
            checks = Aligner(keys, folder / "previous", CHECKS_SCHEMA, opts.batch_rows)
            for d in previous:
                checks.add(d)
            checks.finish()
        del keys
        yield Inputs(opts.clips, kinds, manifest, checks, exclude, keep, str(Path(opts.media).resolve()))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def batches(inputs: Inputs, batch_rows: int) -> Iterator[Batch]:
    offset = 0
    columns = CLIP_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in pq.read_schema(inputs.clips).names]
    for rows in iter_clips(inputs.clips, columns, batch_rows):
        n = rows.num_rows
        ids = rows.column("clip_id").combine_chunks()
        yield Batch(offset, rows, inputs.manifest.batch(offset, ids, inputs.kinds),
                     inputs.previous.batch(offset, ids, inputs.kinds) if inputs.previous else [])
        offset += n


def read_clips_rows(path: str | os.PathLike[str]) -> int:
    """Rows of a clip table, from the Parquet footer."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(os.path.abspath(path)).metadata.num_rows
    except (OSError, pa.ArrowInvalid) as e:
        raise SchemaError(f"{path}: not a readable Parquet clip table ({e})") from e
