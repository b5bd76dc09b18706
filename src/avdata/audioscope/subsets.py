"""Exports of a clip table's AudioScope subsets under the published file names.

``{filtering}_{split}_clips.csv`` holds every clip of a split and
``{filtering}_{split}_{annotation}_clips.csv`` each human-label subset (e.g.
``unfiltered_test_offscreen_unanimous_clips.csv``). With ``filtering="filtered"`` only clips whose
``filtered`` column is true (kept by the coincidence filter, ``avdata score --min-score``) are
written; ``unfiltered`` writes all. Each file is written by the ``audioscope`` list writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from avdata.audioscope.pairs import FILTERINGS, _default_filtering
from avdata.errors import AvdataError
from avdata.paths import safe_join, safe_name
from avdata.sources.registry import get_writer
from avdata.table import read_clips


@dataclass(frozen=True)
class SubsetExportOptions:
    """Write the subsets of ``table`` into the folder ``out``; ``filtering`` as in ``MomOptions``."""

    table: str
    out: str
    filtering: str | None = None


def subset_tables(table: pa.Table, filtering: str) -> dict[str, pa.Table]:
    """Published file name -> its rows (single clips only; MoM pair rows are left out)."""
    if filtering not in FILTERINGS:
        raise AvdataError(f"filtering must be one of {', '.join(FILTERINGS)} (got {filtering!r})")
    table = table.filter(pc.is_null(table.column("pair_source")))
    if filtering == "filtered":
        table = table.filter(pc.fill_null(table.column("filtered"), False))
    out: dict[str, pa.Table] = {}
    for split in sorted(table.column("split").unique().to_pylist()):
        part = table.filter(pc.equal(table.column("split"), split))
        out[f"{filtering}_{safe_name(split)}_clips.csv"] = part
        for ann in sorted(a for a in part.column("annotation").unique().to_pylist() if a):
            rows = part.filter(pc.equal(part.column("annotation"), ann))
            out[f"{filtering}_{split}_{safe_name(ann)}_clips.csv"] = rows
    return out


def export_subsets(options: SubsetExportOptions) -> dict[Path, int]:
    """Write every subset list; return path -> rows written."""
    table = read_clips(options.table)
    filtering = options.filtering or _default_filtering(table)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    writer = get_writer("audioscope")
    return {safe_join(out, name): writer(rows, safe_join(out, name))
            for name, rows in subset_tables(table, filtering).items()}
